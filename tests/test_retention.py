"""Retention dates: `until:` parsed, and computed in one place (`retention.kept_until`) for the plan,
the erase report and the access package."""

from __future__ import annotations

import re
from datetime import date, datetime
from pathlib import Path

import pytest

from dsarctl.inventory.model import EraseRule
from dsarctl.retention import kept_until, kept_until_range, parse_until

ERASED_ON = date(2026, 12, 7)


def _retain(until: str | None) -> EraseRule:
    return EraseRule(action="retain", reason="tax law", until=parse_until(until) if until else None)


@pytest.mark.parametrize("until, data, expected", [
    ("created_at + 6 years", {"created_at": "2020-02-29"}, date(2026, 2, 28)),
    ("end_of_year(created_at) + 8 years", {"created_at": datetime(2021, 3, 4, 5, 6)}, date(2029, 12, 31)),
    ("order.date + 18 months + 2 weeks", {"order": {"date": "2024-01-31"}}, date(2025, 8, 14)),
    ("30 days", {}, date(2027, 1, 6)),  # from the day of the erasure
    ("created_at + 1 year", {"created_at": None}, None),
    ("created_at + 1 year", {"created_at": "not a date"}, None),
    ("created_at + 1 year", {"created_at": True}, None),
])
def test_a_record_is_kept_until_its_computed_date(until, data, expected):
    assert kept_until(_retain(until), data, ERASED_ON) == expected


@pytest.mark.parametrize("rule", [
    None,
    EraseRule(action="delete"),
    EraseRule(action="anonymize", fields={"email": "null"}),
    EraseRule(action="retain", reason="tax law"),  # retained, with no date
])
def test_no_date_where_the_rule_keeps_nothing_until_a_date(rule):
    assert kept_until(rule, {"created_at": "2020-01-01"}, ERASED_ON) is None
    assert kept_until_range(rule, [{"created_at": "2020-01-01"}], ERASED_ON) is None


def test_the_range_of_several_records_skips_those_without_a_date():
    rule = _retain("created_at + 6 years")
    rows = [{"created_at": "2022-05-01"}, {"created_at": ""}, {"created_at": "2019-01-15"}, {}]
    assert kept_until_range(rule, rows, ERASED_ON) == (date(2025, 1, 15), date(2028, 5, 1))
    assert kept_until_range(rule, [{}], ERASED_ON) is None
    assert kept_until_range(rule, [], ERASED_ON) is None


def test_no_other_module_computes_a_retention_date():
    """The plan, the erase report and the access package ask `retention`; none computes `until:` itself."""
    root = Path(__file__).resolve().parent.parent / "dsarctl"
    computing = [str(path.relative_to(root)) for path in root.rglob("*.py")
                 if path.name != "retention.py" and re.search(r"\.until\.compute\(", path.read_text())]
    assert computing == []

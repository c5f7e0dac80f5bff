"""Retention periods: the `until:` expressions of `erase: {action: retain}`.

Grammar (case-insensitive, spaces free):
    until   := anchor [ "+" period ]... | period
    anchor  := FIELD | "end_of_year(" FIELD ")"
    period  := INT unit          unit: day(s) | week(s) | month(s) | year(s)
A period alone counts from the day of the erasure. `end_of_year(created_at) + 8 years` is the German
rule for invoices: the period runs from 31 December of the record's year.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Iterable

_TERM_RE = re.compile(r"^\s*(\d+)\s*(day|days|week|weeks|month|months|year|years)\s*$", re.I)
_EOY_RE = re.compile(r"^\s*end_of_year\s*\(\s*([^()]+?)\s*\)\s*$", re.I)
_FIELD_RE = re.compile(r"^\s*([A-Za-z_][\w.\- ]*?)\s*$")


@dataclass(frozen=True)
class Until:
    """A parsed `until:` expression."""

    text: str
    field: str | None  # None: counted from the erasure
    end_of_year: bool
    years: int = 0
    months: int = 0
    days: int = 0

    def compute(self, record: dict[str, Any] | None, erased_on: date) -> date | None:
        """The date until which the record is kept, or None when its anchor field is empty or not a date."""
        from dateutil.relativedelta import relativedelta

        if self.field is None:
            start = erased_on
        else:
            start = as_date(_lookup(record or {}, self.field))
            if start is None:
                return None
        if self.end_of_year:
            start = date(start.year, 12, 31)
        return start + relativedelta(years=self.years, months=self.months, days=self.days)


def kept_until(rule, data: dict[str, Any] | None, erased_on: date) -> date | None:
    """The date until which a record holding `data` is kept under its collection's erase `rule`: the
    rule's `until:` computed for it; None when the rule retains nothing with a date, or the record's
    anchor field is empty or not a date. The one place a retention date is computed."""
    if rule is None or rule.action != "retain" or rule.until is None:
        return None
    return rule.until.compute(data, erased_on)


def kept_until_range(rule, records_data: Iterable[dict[str, Any] | None], erased_on: date) -> tuple[date, date] | None:
    """The earliest and the latest `kept_until` of several records (their data), or None when none has one."""
    dates = [d for d in (kept_until(rule, data, erased_on) for data in records_data) if d is not None]
    return (min(dates), max(dates)) if dates else None


def parse_until(text: str) -> Until:
    """Parse an `until:` expression; ValueError says what is wrong."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("expected an expression like 'created_at + 6 years' or 'end_of_year(created_at) + 8 years'")
    parts = [p for p in re.split(r"\+", text)]
    field: str | None = None
    eoy = False
    totals = {"years": 0, "months": 0, "days": 0}
    for i, part in enumerate(parts):
        term = _TERM_RE.match(part)
        if term:
            n, unit = int(term.group(1)), term.group(2).lower().rstrip("s")
            if unit == "week":
                totals["days"] += 7 * n
            else:
                totals[unit + "s"] += n
            continue
        if i != 0:
            raise ValueError(f"'{part.strip()}' is not a period (write e.g. '6 years', '18 months', '30 days')")
        eoy_match = _EOY_RE.match(part)
        if eoy_match:
            field, eoy = eoy_match.group(1), True
            continue
        field_match = _FIELD_RE.match(part)
        if not field_match:
            raise ValueError(f"'{part.strip()}' is neither a field name nor a period")
        field = field_match.group(1)
    if field is None and not any(totals.values()):
        raise ValueError("no period given")
    return Until(text.strip(), field, eoy, **totals)


def _lookup(record: dict[str, Any], path: str) -> Any:
    if path in record:
        return record[path]
    value: Any = record
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def as_date(value: Any) -> date | None:
    """A date from a date, datetime, ISO string or Unix timestamp; None when it is not one."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, (int, float)):
        try:
            return datetime.utcfromtimestamp(value).date()
        except (OverflowError, OSError, ValueError):
            return None
    text = str(value).strip()
    if not text:
        return None
    from dateutil import parser

    try:
        return parser.isoparse(text).date()
    except (ValueError, OverflowError):
        return None

"""Worked examples for every US state regime (docs/deadlines.md, "US states"): receipt -> due date, the
extension, the weekend/holiday roll where the state has one, the appeal deadline, the date each law
applies from, and the CCPA's `since` bound. Expected dates are counted by hand from the statutes' periods
(calendar days from receipt), not taken from the code."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from dsarctl.deadlines import REGIME_IDS, Timeline, check_request, compute_deadline

TODAY = date(2030, 1, 1)


def deadline(regime: str, received: str, *, request_type: str = "access", extended: bool = False):
    """Noon UTC on `received`: the same local date in every US zone."""
    at = datetime.fromisoformat(received).replace(hour=12, tzinfo=timezone.utc)
    t = Timeline(regime, at, "America/Chicago", None, request_type=request_type, extended=extended)
    return compute_deadline(t, today=TODAY)


def text(d) -> str:
    return "\n".join(d.steps)


# 2026-10-12 (Monday) + 45 days = 2026-11-26, Thanksgiving; + 90 = 2027-01-10, a Sunday; + 60 = 2026-12-11.
PLAIN_60 = ["us-va", "us-ct", "us-mt", "us-de", "us-ne", "us-nh", "us-tn", "us-md", "us-in", "us-ri", "us-tx",
            "us-ky"]


@pytest.mark.parametrize("regime", PLAIN_60)
def test_45_days_plus_45_no_roll_appeal_in_60(regime):
    d = deadline(regime, "2026-10-12")
    assert (d.due_date, d.extension_notice_due, d.confirm_receipt_due) == (date(2026, 11, 26), date(2026, 11, 26),
                                                                           None)
    extended = deadline(regime, "2026-10-12", extended=True)
    assert extended.due_date == date(2027, 1, 10)  # a Sunday: stays
    assert "No roll" in text(extended)
    appeal = deadline(regime, "2026-10-12", request_type="appeal")
    assert appeal.due_date == date(2026, 12, 11)
    assert not appeal.extension_allowed  # none of these lets the controller extend the appeal's answer
    assert "Appeal of a refused request" in text(appeal)


def test_every_us_state_in_the_reference_has_a_regime():
    states = ["va", "co", "ct", "ut", "tx", "or", "mt", "de", "ia", "ne", "nh", "nj", "tn", "mn", "md", "in",
              "ky", "ri", "ok", "al"]
    assert {f"us-{s}" for s in states} | {"us-ca"} == {r for r in REGIME_IDS if r.startswith("us-")}


def test_texas_and_kentucky_say_why_they_keep_a_weekend_date():
    # 2026-07-22 + 45 = 2026-09-05, a Saturday
    tx = deadline("us-tx", "2026-07-22")
    assert tx.due_date == date(2026, 9, 5)
    assert "Tex. Gov't Code §311.014(b)" in text(tx) and "keeps the earlier date" in text(tx)
    ky = deadline("us-ky", "2026-07-22")
    assert ky.due_date == date(2026, 9, 5)
    assert "KRS 446.030(1)(a)" in text(ky)


def test_iowa_90_days_plus_45():
    d = deadline("us-ia", "2026-10-12")
    assert (d.due_date, d.extension_notice_due) == (date(2027, 1, 10), date(2027, 1, 10))  # Sunday, no roll
    assert deadline("us-ia", "2026-10-12", extended=True).due_date == date(2027, 2, 24)
    assert deadline("us-ia", "2026-10-12", request_type="appeal").due_date == date(2026, 12, 11)
    assert "Iowa Code §715D.3(2)" in text(d)


def test_oregon_and_new_jersey_answer_appeals_in_45_days():
    for regime in ("us-or", "us-nj"):
        assert deadline(regime, "2026-10-12").due_date == date(2026, 11, 26)
        appeal = deadline(regime, "2026-10-12", request_type="appeal", extended=True)
        assert appeal.due_date == date(2026, 11, 26)  # no extension of the appeal's answer
        assert "allows none" in text(appeal)


def test_colorado_appeal_45_days_extendable_by_60_rolling_on_the_colorado_calendar():
    appeal = deadline("us-co", "2026-10-12", request_type="appeal")
    assert appeal.due_date == date(2026, 11, 27)  # 11-26 is Thanksgiving
    assert appeal.extension_notice_due == date(2026, 11, 26)
    assert "C.R.S. §6-1-1306(3)" in text(appeal)
    # 45 + 60 = 105 days from receipt: 2027-01-25, a Monday
    assert deadline("us-co", "2026-10-12", request_type="appeal", extended=True).due_date == date(2027, 1, 25)


def test_minnesota_rolls_over_the_weekend_and_labor_day():
    # 2026-07-22 + 45 = Saturday 2026-09-05; Sunday; Monday 09-07 is Labor Day (Minn. Stat. §645.15)
    d = deadline("us-mn", "2026-07-22")
    assert (d.nominal_due, d.due_date) == (date(2026, 9, 5), date(2026, 9, 8))
    assert "Labor Day" in text(d)
    appeal = deadline("us-mn", "2026-07-22", request_type="appeal")
    assert appeal.due_date == date(2026, 9, 8)
    assert deadline("us-mn", "2026-07-22", request_type="appeal", extended=True).due_date == date(2026, 11, 4)


def test_alabama_rolls_off_a_sunday_but_not_a_saturday():
    # Ala. Code §1-1-4: a last day on a Sunday or legal holiday is excluded, a Saturday is not
    sat = deadline("us-al", "2027-05-19")  # + 45 = 2027-07-03, a Saturday
    assert sat.due_date == date(2027, 7, 3)
    assert "Ala. Code §1-1-4 moves only a Sunday or a legal holiday" in text(sat)
    sun = deadline("us-al", "2027-05-06")  # + 45 = 2027-06-20, a Sunday
    assert (sun.nominal_due, sun.due_date) == (date(2027, 6, 20), date(2027, 6, 21))


def test_oklahoma_45_plus_45():
    d = deadline("us-ok", "2027-01-01")
    assert d.due_date == date(2027, 2, 15)
    assert deadline("us-ok", "2027-01-01", extended=True).due_date == date(2027, 4, 1)


@pytest.mark.parametrize("regime, why", [
    ("us-ut", "gives no right to appeal"),
    ("us-ca", "the CCPA gives no right to appeal"),
    ("us-ok", "no appeal period is recorded"),
    ("us-al", "no appeal period is recorded"),
    ("eu-gdpr", "complains to the supervisory authority"),
])
def test_regimes_without_an_appeal_refuse_one(regime, why):
    with pytest.raises(ValueError, match=f"{regime} takes no appeal: .*{why}"):
        check_request(regime, "appeal", date(2027, 6, 1))
    with pytest.raises(ValueError, match="takes no appeal"):
        deadline(regime, "2027-06-01", request_type="appeal")


def test_utah_45_days_no_appeal():
    assert deadline("us-ut", "2026-10-12").due_date == date(2026, 11, 26)


EFFECTIVE = {
    "us-ca": date(2020, 1, 1), "us-va": date(2023, 1, 1), "us-co": date(2023, 7, 1), "us-ct": date(2023, 7, 1),
    "us-ut": date(2023, 12, 31), "us-tx": date(2024, 7, 1), "us-or": date(2024, 7, 1), "us-mt": date(2024, 10, 1),
    "us-de": date(2025, 1, 1), "us-ia": date(2025, 1, 1), "us-ne": date(2025, 1, 1), "us-nh": date(2025, 1, 1),
    "us-nj": date(2025, 1, 15), "us-tn": date(2025, 7, 1), "us-mn": date(2025, 7, 31), "us-md": date(2025, 10, 1),
    "us-in": date(2026, 1, 1), "us-ky": date(2026, 1, 1), "us-ri": date(2026, 1, 1), "us-ok": date(2027, 1, 1),
    "us-al": date(2027, 5, 1),
}


@pytest.mark.parametrize("regime", sorted(EFFECTIVE))
def test_a_request_received_before_the_law_applies_is_refused(regime):
    first = EFFECTIVE[regime]
    check_request(regime, "access", first)
    with pytest.raises(ValueError, match=f"^{regime} applies to requests received from {first.isoformat()} "):
        check_request(regime, "access", date.fromordinal(first.toordinal() - 1))


def test_ccpa_since_from_2022_and_not_after_receipt():
    check_request("us-ca", "access", date(2026, 2, 1), since=date(2022, 1, 1))
    with pytest.raises(ValueError, match=r"on or after 2022-01-01 \(Cal. Civ. Code §1798.130\(a\)\(2\)\(B\)\)"):
        check_request("us-ca", "access", date(2026, 2, 1), since=date(2021, 12, 31))
    with pytest.raises(ValueError, match="is after the request was received"):
        check_request("us-ca", "access", date(2026, 2, 1), since=date(2026, 2, 2))
    with pytest.raises(ValueError, match="--since is for us-ca access requests only"):
        check_request("us-ca", "erasure", date(2026, 2, 1), since=date(2023, 1, 1))
    with pytest.raises(ValueError, match="under us-va"):
        check_request("us-va", "access", date(2026, 2, 1), since=date(2023, 1, 1))


def test_appeal_steps_say_when_the_period_is_not_read_in_the_statute():
    assert "statute's text was not read" in text(deadline("us-va", "2026-10-12", request_type="appeal"))
    assert "not read" not in text(deadline("us-ct", "2026-10-12", request_type="appeal"))


@pytest.mark.parametrize("regime, section", [
    # 6 Del. C. §12D-104(d): "Not later than 60 days after receipt of an appeal"
    ("us-de", "6 Del. C. §12D-104(d)"),
    # Ind. Code §24-15-3-1(d): "Not later than sixty (60) days after receipt of an appeal"
    ("us-in", "Ind. Code §24-15-3-1(d)"),
    # Md. Com. Law §14-4605(F)(3) as enacted: "NOT LATER THAN 60 DAYS AFTER RECEIVING AN APPEAL"
    ("us-md", "§14-4605(f)(3)"),
])
def test_appeal_periods_read_in_the_statute_are_not_called_secondary(regime, section):
    appeal = text(deadline(regime, "2026-10-12", request_type="appeal"))
    assert "not read" not in appeal
    assert f"({section}" in appeal or f"{section})" in appeal
    assert deadline(regime, "2026-10-12", request_type="appeal").due_date == date(2026, 12, 11)


def test_colorado_appeal_period_is_read_its_extension_is_not():
    # C.R.S. §6-1-1306(3): "Within forty-five days after receipt of an appeal"; the 60-day extension was
    # read only in summaries, so --explain says so of the extension (which every Colorado appeal may take)
    plain = text(deadline("us-co", "2026-10-12", request_type="appeal"))
    assert "period from secondary sources" not in plain
    assert "the extension's length from secondary sources" in plain

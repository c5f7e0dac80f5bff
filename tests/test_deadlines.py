from datetime import date, datetime, timedelta, timezone

import pytest
from dateutil.relativedelta import relativedelta
from hypothesis import given, settings
from hypothesis import strategies as st

from dsarctl.deadlines import (
    REGIME_IDS,
    CustomRegime,
    Pause,
    Timeline,
    compute_deadline,
    days_overdue,
    holiday_calendar,
    local_date,
    parse_period,
)

ZONES = {
    "eu-gdpr": "Europe/Berlin",
    "uk-gdpr": "Europe/London",
    "us-ca": "America/Los_Angeles",
    "us-va": "America/New_York",
    "us-co": "America/Denver",
    "us-ct": "America/New_York",
    "br-lgpd": "America/Sao_Paulo",
    "ca-pipeda": "America/Toronto",
    "ca-qc": "America/Toronto",
    "ch-fadp": "Europe/Zurich",
    "custom": "Europe/Paris",
}
TODAY = date(2030, 1, 1)


def at(day: str, hour: int = 12) -> datetime:
    """Noon (by default) UTC on `day`: the same local date in every zone used here."""
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=timezone.utc)


def deadline(regime: str, received: str, calendar: str | None = None, *, today: date = TODAY, **kw):
    t = Timeline(regime, at(received), ZONES[regime], calendar, **kw)
    return compute_deadline(t, today=today)


def text(d) -> str:
    return "\n".join(d.steps)


# --- the worked examples of reference/deadlines.md --------------------------------------------------------


def test_uk_gdpr_month_ending_on_saturday_rolls_to_monday():
    d = deadline("uk-gdpr", "2026-01-31", "GB-ENG")
    assert d.anchor_date == date(2026, 1, 31)
    assert d.nominal_due == date(2026, 2, 28)
    assert d.due_date == date(2026, 3, 2)
    assert "Saturday" in text(d)


def test_uk_gdpr_extension_counts_from_anchor_not_from_rolled_date():
    d = deadline("uk-gdpr", "2026-01-31", "GB-ENG", extended=True)
    assert d.due_date == date(2026, 4, 30)
    assert d.extension_allowed
    assert d.extension_notice_due == date(2026, 2, 28)


def test_uk_gdpr_clarification_pause_counts_both_ends():
    pause = Pause(at("2026-03-05", 9), at("2026-03-16", 17))
    d = deadline("uk-gdpr", "2026-03-02", "GB-ENG", pauses=(pause,))
    assert d.nominal_due == date(2026, 4, 2)
    assert d.paused_days == 12
    assert d.due_date == date(2026, 4, 14)
    assert "12 days" in text(d)


def test_eu_gdpr_germany_saturday_rolls():
    d = deadline("eu-gdpr", "2026-01-30", "DE")
    assert d.nominal_due == date(2026, 2, 28)
    assert d.due_date == date(2026, 3, 2)


def test_us_ca_does_not_roll_and_extends_by_45_days():
    d = deadline("us-ca", "2026-11-12")
    assert d.due_date == date(2026, 12, 27)  # a Sunday: no roll
    assert "No roll" in text(d)
    assert deadline("us-ca", "2026-11-12", extended=True).due_date == date(2027, 2, 10)


def test_us_va():
    d = deadline("us-va", "2026-10-12")
    assert d.due_date == date(2026, 11, 26)
    assert d.confirm_receipt_due is None


def test_us_co_rolls_over_thanksgiving():
    d = deadline("us-co", "2026-10-12")
    assert d.nominal_due == date(2026, 11, 26)
    assert d.due_date == date(2026, 11, 27)
    assert "Thanksgiving" in text(d)


# --- every regime --------------------------------------------------------------------------------------


def test_regime_ids_are_the_contract():
    """DESIGN.md's list is the minimum; every US state law in force or signed follows us-ca."""
    assert REGIME_IDS == (
        "eu-gdpr", "uk-gdpr", "us-ca", "us-va", "us-co", "us-ct", "us-ut", "us-tx", "us-or", "us-mt", "us-de",
        "us-ia", "us-ne", "us-nh", "us-nj", "us-tn", "us-mn", "us-md", "us-in", "us-ky", "us-ri", "us-ok",
        "us-al", "br-lgpd", "ca-pipeda", "ca-qc", "ch-fadp", "custom")


def test_us_ct_45_days_no_roll():
    d = deadline("us-ct", "2026-11-12")
    assert d.due_date == date(2026, 12, 27)
    assert d.extension_notice_due == date(2026, 12, 27)


def test_us_co_extension_counts_from_anchor_then_rolls_off_sunday():
    d = deadline("us-co", "2026-10-12", extended=True)
    assert d.nominal_due == date(2027, 1, 10)
    assert d.due_date == date(2027, 1, 11)
    assert d.extension_notice_due == date(2026, 11, 26)


def test_br_lgpd_15_days_rolls_over_tiradentes_and_has_no_extension():
    d = deadline("br-lgpd", "2026-04-06", extended=True)
    assert d.nominal_due == date(2026, 4, 21)
    assert d.due_date == date(2026, 4, 22)
    assert "Tiradentes" in text(d)
    assert not d.extension_allowed
    assert d.extension_notice_due is None
    assert "allows none" in text(d)


def test_ca_qc_30_days_no_roll_even_on_canada_day():
    d = deadline("ca-qc", "2026-06-01", extended=True)
    assert d.due_date == date(2026, 7, 1)
    assert not d.extension_allowed
    assert d.extension_notice_due is None


def test_ch_fadp_rolls_over_ascension():
    d = deadline("ch-fadp", "2026-04-14")
    assert d.nominal_due == date(2026, 5, 14)
    assert d.due_date == date(2026, 5, 15)
    assert "Ascension" in text(d)


def test_ch_fadp_canton_calendar_overrides_federal():
    assert deadline("ch-fadp", "2026-04-25").due_date == date(2026, 5, 25)
    d = deadline("ch-fadp", "2026-04-25", "CH-ZH")
    assert d.due_date == date(2026, 5, 26)
    assert "Pentecost Monday" in text(d)


def test_ch_fadp_extension_has_no_fixed_length():
    d = deadline("ch-fadp", "2026-06-01", extended=True)
    assert d.extension_allowed
    assert d.extension_notice_due == date(2026, 7, 1)
    assert d.due_date == date(2026, 7, 1)
    assert "no fixed length" in text(d)


# --- ca-pipeda: Sunday is a holiday, Saturday is not -------------------------------------------------------


def test_ca_pipeda_canada_day():
    d = deadline("ca-pipeda", "2026-06-01")
    assert d.due_date == date(2026, 7, 2)
    assert "Canada Day" in text(d)


def test_ca_pipeda_saturday_stays():
    d = deadline("ca-pipeda", "2026-01-29")
    assert d.due_date == date(2026, 2, 28)
    assert "Saturday is not a holiday" in text(d)


def test_ca_pipeda_sunday_rolls():
    d = deadline("ca-pipeda", "2026-01-30")
    assert d.nominal_due == date(2026, 3, 1)
    assert d.due_date == date(2026, 3, 2)
    assert "Sunday" in text(d)


def test_ca_pipeda_good_friday_rolls_to_saturday():
    assert deadline("ca-pipeda", "2026-03-04").due_date == date(2026, 4, 4)


def test_ca_pipeda_interpretation_act_holidays_beyond_public_ones():
    assert deadline("ca-pipeda", "2026-03-07").due_date == date(2026, 4, 7)  # Easter Monday
    assert deadline("ca-pipeda", "2026-04-18").due_date == date(2026, 5, 19)  # Victoria Day
    assert deadline("ca-pipeda", "2026-06-01", extended=True).due_date == date(2026, 7, 31)


# --- month ends and leap years --------------------------------------------------------------------------


def test_march_31_plus_one_month_is_april_30():
    assert deadline("uk-gdpr", "2026-03-31").due_date == date(2026, 4, 30)


def test_leap_year_january_31():
    assert deadline("uk-gdpr", "2028-01-31").due_date == date(2028, 2, 29)
    d = deadline("uk-gdpr", "2027-01-31")
    assert d.nominal_due == date(2027, 2, 28)  # a Sunday
    assert d.due_date == date(2027, 3, 1)


def test_leap_day_receipt_extended():
    d = deadline("eu-gdpr", "2028-02-29", "FR", extended=True)
    assert d.nominal_due == date(2028, 5, 29)
    assert d.extension_notice_due == date(2028, 3, 29)


# --- holidays on Fridays and Mondays -------------------------------------------------------------------


def test_good_friday_rolls_over_the_whole_easter_weekend_in_england():
    d = deadline("uk-gdpr", "2026-03-03", "GB-ENG")
    assert d.due_date == date(2026, 4, 7)
    assert "Good Friday" in text(d) and "Easter Monday" in text(d)


def test_easter_monday_is_not_a_holiday_in_scotland():
    assert deadline("uk-gdpr", "2026-03-06").due_date == date(2026, 4, 7)
    assert deadline("uk-gdpr", "2026-03-06", "GB-SCT").due_date == date(2026, 4, 6)


def test_uk_subdivision_calendars_override_england():
    assert deadline("uk-gdpr", "2025-12-02", "GB-ENG").due_date == date(2026, 1, 2)
    assert deadline("uk-gdpr", "2025-12-02", "GB-SCT").due_date == date(2026, 1, 5)
    assert deadline("uk-gdpr", "2026-02-17", "GB-NIR").due_date == date(2026, 3, 18)
    # A calendar of another country does not replace the UK one.
    assert deadline("uk-gdpr", "2026-03-06", "DE").due_date == date(2026, 4, 7)


def test_state_laws_keep_their_state_calendar():
    assert deadline("us-co", "2026-10-12", "US-NY").due_date == date(2026, 11, 27)


def test_eu_gdpr_christmas_then_weekend_in_germany():
    assert deadline("eu-gdpr", "2026-11-25", "DE").due_date == date(2026, 12, 28)


def test_eu_gdpr_without_calendar_rolls_only_over_weekends():
    d = deadline("eu-gdpr", "2026-11-25")
    assert d.due_date == date(2026, 12, 25)
    assert "no holiday calendar" in text(d).lower()
    d = deadline("eu-gdpr", "2026-01-30")
    assert d.due_date == date(2026, 3, 2)
    assert "no holiday calendar" in text(d).lower()


# --- time zones -----------------------------------------------------------------------------------------


def test_late_evening_in_california_is_next_day_in_berlin():
    received = datetime.fromisoformat("2026-03-31T23:30:00-07:00")
    assert local_date(received, "Europe/Berlin") == date(2026, 4, 1)
    d = compute_deadline(Timeline("eu-gdpr", received, "Europe/Berlin", "DE"), today=TODAY)
    assert d.anchor_date == date(2026, 4, 1)
    assert d.nominal_due == date(2026, 5, 1)  # Labour Day, Friday
    assert d.due_date == date(2026, 5, 4)
    assert "2026-04-01" in d.steps[0] and "Europe/Berlin" in d.steps[0]


def test_just_after_midnight_in_berlin_is_previous_day_in_california():
    received = datetime.fromisoformat("2026-04-01T00:30:00+02:00")
    d = compute_deadline(Timeline("us-ca", received, "America/Los_Angeles"), today=TODAY)
    assert d.anchor_date == date(2026, 3, 31)
    assert d.due_date == date(2026, 5, 15)


def test_local_date_across_dst_change_in_london():
    before_dst = datetime(2026, 3, 28, 23, 30, tzinfo=timezone.utc)
    assert local_date(before_dst, "Europe/London") == date(2026, 3, 28)
    assert local_date(datetime(2026, 6, 30, 23, 30, tzinfo=timezone.utc), "Europe/London") == date(2026, 7, 1)


def test_local_date_rejects_naive_and_unknown_zone():
    with pytest.raises(ValueError, match="no time zone"):
        local_date(datetime(2026, 1, 1), "Europe/London")
    with pytest.raises(ValueError, match="unknown time zone"):
        local_date(at("2026-01-01"), "Mars/Olympus")


# --- pauses ----------------------------------------------------------------------------------------------


def test_ongoing_pause_counts_up_to_today():
    pause = Pause(at("2026-03-05"), None)
    d = deadline("uk-gdpr", "2026-03-02", pauses=(pause,), today=date(2026, 3, 10))
    assert d.paused_days == 6
    assert d.due_date == date(2026, 4, 8)
    assert "ongoing" in text(d)


def test_pause_started_after_today_counts_nothing_yet():
    d = deadline("uk-gdpr", "2026-03-02", pauses=(Pause(at("2026-03-20"), None),), today=date(2026, 3, 10))
    assert d.paused_days == 0
    assert d.due_date == date(2026, 4, 2)


def test_overlapping_pauses_are_counted_once():
    pauses = (Pause(at("2026-03-05"), at("2026-03-10")), Pause(at("2026-03-10"), at("2026-03-16")))
    d = deadline("uk-gdpr", "2026-03-02", pauses=pauses)
    assert d.paused_days == 12
    assert d.due_date == date(2026, 4, 14)


def test_pause_then_roll_over_saturday():
    d = deadline("uk-gdpr", "2026-03-02", pauses=(Pause(at("2026-03-05"), at("2026-03-13")),))
    assert d.paused_days == 9
    assert d.nominal_due + timedelta(days=9) == date(2026, 4, 11)  # a Saturday
    assert d.due_date == date(2026, 4, 13)


def test_extension_and_pause_together():
    pause = Pause(at("2026-03-05"), at("2026-03-16"))
    d = deadline("uk-gdpr", "2026-03-02", extended=True, pauses=(pause,))
    assert d.nominal_due == date(2026, 6, 2)
    assert d.due_date == date(2026, 6, 15)  # 06-14 is a Sunday
    assert d.extension_notice_due == date(2026, 4, 14)


def test_eu_gdpr_pause_is_inclusive_too():
    d = deadline("eu-gdpr", "2026-03-02", "DE", pauses=(Pause(at("2026-03-05"), at("2026-03-05")),))
    assert d.paused_days == 1
    assert d.due_date == date(2026, 4, 7)  # 04-03 Good Friday and 04-06 Easter Monday are German holidays
    assert "Good Friday" in text(d)


def test_pause_ending_before_it_starts_is_an_error():
    with pytest.raises(ValueError, match="before it starts"):
        deadline("uk-gdpr", "2026-03-02", pauses=(Pause(at("2026-03-10"), at("2026-03-05")),))


def test_regimes_without_pauses_ignore_them_and_say_so():
    d = deadline("us-va", "2026-10-12", pauses=(Pause(at("2026-10-15"), at("2026-10-20")),))
    assert d.paused_days == 0
    assert d.due_date == date(2026, 11, 26)
    assert "does not stop the clock" in text(d)


def test_pause_before_uk_clock_restart_is_not_counted():
    d = deadline("uk-gdpr", "2026-01-10", verified_at=at("2026-01-20"),
                 pauses=(Pause(at("2026-01-12"), at("2026-01-15"), "identity"),))
    assert d.paused_days == 0
    assert d.due_date == date(2026, 2, 20)


# --- uk-gdpr clock restart ------------------------------------------------------------------------------


def test_uk_gdpr_clock_restarts_when_id_arrives():
    d = deadline("uk-gdpr", "2026-01-10", verified_at=at("2026-01-20"), identity_asked_at=at("2026-01-12"))
    assert d.anchor_date == date(2026, 1, 20)
    assert d.due_date == date(2026, 2, 20)
    assert "restarts" in text(d)
    assert d.restart_refused is None


def test_uk_gdpr_clock_does_not_restart_on_identity_information_nobody_asked_for():
    d = deadline("uk-gdpr", "2026-10-01", verified_at=at("2026-12-07"), today=date(2026, 12, 7))
    assert (d.anchor_date, d.due_date) == (date(2026, 10, 1), date(2026, 11, 2))
    assert d.restart_refused.startswith("the clock does not restart: identity information was not asked for")
    assert "Identity verified on 2026-12-07: the clock does not restart" in text(d)
    # nor on a pause for another ground, nor when asked only after the verification
    d = deadline("uk-gdpr", "2026-10-01", verified_at=at("2026-10-12"),
                 pauses=(Pause(at("2026-10-05"), at("2026-10-08"), "clarification"),),
                 identity_asked_at=at("2026-10-13"))
    assert d.anchor_date == date(2026, 10, 1) and d.restart_refused


def test_uk_gdpr_identity_asked_for_once_the_request_was_due_does_not_restart_it():
    # due 2026-11-02 (11-01 is a Sunday): asked on the due date still restarts, the day after does not
    on_time = deadline("uk-gdpr", "2026-10-01", verified_at=at("2026-11-10"), identity_asked_at=at("2026-11-02"))
    assert (on_time.anchor_date, on_time.restart_refused) == (date(2026, 11, 10), None)
    late = deadline("uk-gdpr", "2026-10-01", verified_at=at("2026-11-10"), identity_asked_at=at("2026-11-03"))
    assert late.anchor_date == date(2026, 10, 1)
    assert late.restart_refused == ("the clock does not restart: identity information was asked for on "
                                    "2026-11-03, after the request was due on 2026-11-02 (a time limit that has "
                                    "run out cannot wait; UK GDPR Art. 12A)")
    # the days of the pause that asked do not make the request due later for this test
    paused = deadline("uk-gdpr", "2026-10-01", verified_at=at("2026-12-07"), today=date(2026, 12, 7),
                      pauses=(Pause(at("2026-11-20"), at("2026-12-07"), "identity"),))
    assert paused.anchor_date == date(2026, 10, 1) and "asked for on 2026-11-20" in paused.restart_refused


def test_uk_gdpr_latest_of_id_and_fee_wins():
    d = deadline("uk-gdpr", "2026-01-10", verified_at=at("2026-01-20"), fee_paid_at=at("2026-01-25"),
                 identity_asked_at=at("2026-01-12"))
    assert d.anchor_date == date(2026, 1, 25)
    assert d.due_date == date(2026, 2, 25)


def test_uk_gdpr_verification_before_receipt_does_not_move_clock():
    d = deadline("uk-gdpr", "2026-01-10", verified_at=at("2026-01-05"))
    assert d.anchor_date == date(2026, 1, 10)


def test_uk_gdpr_extension_after_restart_counts_from_restart():
    d = deadline("uk-gdpr", "2026-01-10", verified_at=at("2026-01-31"), extended=True,
                 identity_asked_at=at("2026-01-12"))
    assert d.due_date == date(2026, 4, 30)
    assert d.extension_notice_due == date(2026, 2, 28)


def test_verification_does_not_restart_other_regimes():
    d = deadline("eu-gdpr", "2026-01-10", "DE", verified_at=at("2026-01-20"))
    assert d.anchor_date == date(2026, 1, 10)
    assert "does not move the clock" in text(d)
    assert deadline("us-ca", "2026-11-12", verified_at=at("2026-11-20")).due_date == date(2026, 12, 27)


# --- California ------------------------------------------------------------------------------------------


def test_us_ca_confirm_receipt_in_10_business_days():
    # 11-26 Thanksgiving and 11-27 Day after Thanksgiving are California holidays.
    d = deadline("us-ca", "2026-11-12")
    assert d.confirm_receipt_due == date(2026, 11, 30)
    assert "Confirm receipt by 2026-11-30" in text(d)


def test_us_ca_objection_is_opt_out_in_15_business_days():
    d = deadline("us-ca", "2026-11-12", request_type="objection")
    assert d.due_date == date(2026, 12, 7)
    assert not d.extension_allowed
    assert d.extension_notice_due is None
    assert d.confirm_receipt_due == date(2026, 11, 30)
    assert "opt out" in text(d)


def test_us_ca_erasure_is_45_days():
    assert deadline("us-ca", "2026-11-12", request_type="erasure").due_date == date(2026, 12, 27)


# --- custom regimes --------------------------------------------------------------------------------------


def custom(received: str, calendar: str | None = None, **kw):
    extra = {k: kw.pop(k) for k in ("extended", "pauses", "today") if k in kw}
    return deadline("custom", received, calendar, custom=CustomRegime(**kw), **extra)


def test_custom_days_roll_over_french_holiday():
    d = custom("2026-04-14", "FR", period="30 days")
    assert d.nominal_due == date(2026, 5, 14)
    assert d.due_date == date(2026, 5, 15)
    assert "Ascension" in text(d)


def test_custom_month_without_roll():
    d = custom("2026-01-31", period="1 month", roll=False)
    assert d.due_date == date(2026, 2, 28)
    assert not d.extension_allowed and d.extension_notice_due is None


def test_custom_month_rolls_over_weekend_without_calendar():
    d = custom("2026-01-31", period="1 month")
    assert d.due_date == date(2026, 3, 2)


def test_custom_business_days_skip_easter():
    d = custom("2026-03-27", "GB-ENG", period="10 business days")
    assert d.due_date == date(2026, 4, 14)
    assert "business days skip" in text(d).lower()


def test_custom_extension_same_unit_counts_from_anchor():
    d = custom("2026-01-31", "GB-ENG", period="1 month", extension="2 months", extended=True)
    assert d.due_date == date(2026, 4, 30)
    assert d.extension_notice_due == date(2026, 2, 28)


def test_custom_extension_other_unit_adds_to_unrolled_first_date():
    d = custom("2026-01-02", "DE", period="30 days", extension="2 weeks", extended=True)
    assert d.nominal_due == date(2026, 2, 15)
    assert d.due_date == date(2026, 2, 16)


def test_custom_pause_flag():
    pause = (Pause(at("2026-03-05"), at("2026-03-16")),)
    assert custom("2026-03-02", period="30 days", pauses=pause).paused_days == 0
    d = custom("2026-03-02", period="30 days", pause=True, pauses=pause)
    assert d.paused_days == 12
    assert d.due_date == date(2026, 4, 13)


def test_custom_requires_a_regime():
    with pytest.raises(ValueError, match="custom"):
        deadline("custom", "2026-01-01")


# --- helpers and errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text_, expected",
    [
        ("30 days", (30, "days")),
        ("1 day", (1, "days")),
        ("1 month", (1, "months")),
        ("2 Months", (2, "months")),
        ("45 days", (45, "days")),
        ("10 business days", (10, "business days")),
        ("1 business day", (1, "business days")),
        ("3 weeks", (3, "weeks")),
        ("6 years", (6, "years")),
        (" 15  days ", (15, "days")),
    ],
)
def test_parse_period(text_, expected):
    assert parse_period(text_) == expected


@pytest.mark.parametrize(
    "bad", ["", "days", "thirty days", "30", "30 fortnights", "-3 days", "1.5 months", "0 days", None]
)
def test_parse_period_rejects(bad):
    with pytest.raises(ValueError, match="bad period"):
        parse_period(bad)


def test_holiday_calendar():
    assert date(2026, 4, 6) in holiday_calendar("GB-ENG")
    assert date(2026, 4, 6) not in holiday_calendar("GB-SCT")
    assert date(2026, 10, 3) in holiday_calendar("de")
    with pytest.raises(ValueError, match=r"^unknown holiday calendar 'XX' \("):
        holiday_calendar("XX")
    with pytest.raises(ValueError, match=r"unknown holiday calendar 'GB-XX'.*GB-SCT"):
        holiday_calendar("GB-XX")
    # Callers get their own copy: changing it does not change the deadlines.
    holiday_calendar("GB-ENG")[date(2026, 3, 2)] = "Made-up Day"
    assert deadline("uk-gdpr", "2026-01-31", "GB-ENG").due_date == date(2026, 3, 2)


def test_bad_controller_calendar_is_reported():
    with pytest.raises(ValueError, match="unknown holiday calendar"):
        deadline("eu-gdpr", "2026-01-01", "ZZ")


def test_unknown_regime_and_request_type():
    with pytest.raises(ValueError, match="unknown regime"):
        compute_deadline(Timeline("xx-law", at("2026-01-01"), "UTC"), today=TODAY)
    with pytest.raises(ValueError, match="unknown request type"):
        deadline("uk-gdpr", "2026-01-01", request_type="complaint")


def test_days_overdue():
    assert days_overdue(date(2026, 3, 2), date(2026, 3, 5)) == 3
    assert days_overdue(date(2026, 3, 2), date(2026, 3, 2)) == 0
    assert days_overdue(date(2026, 3, 2), date(2026, 2, 28)) == -2


def test_compute_deadline_does_not_depend_on_today_without_ongoing_pause():
    a = deadline("uk-gdpr", "2026-01-31", today=date(2020, 1, 1))
    b = deadline("uk-gdpr", "2026-01-31", today=date(2040, 1, 1))
    assert a == b


def test_steps_start_with_receipt_and_end_with_due_date():
    d = deadline("us-co", "2026-10-12")
    assert d.steps[0].startswith("Received 2026-10-12")
    assert d.steps[-1] == "Due 2026-11-27 (Friday)"


# --- properties -----------------------------------------------------------------------------------------

ROLLING = {"eu-gdpr", "uk-gdpr", "us-co", "br-lgpd", "ca-pipeda", "ch-fadp", "custom"}
DEFAULT_CAL = {"uk-gdpr": "GB-ENG", "us-co": "US-CO", "br-lgpd": "BR", "ca-pipeda": "CA", "ch-fadp": "CH"}


@st.composite
def timelines(draw):
    regime = draw(st.sampled_from(REGIME_IDS))
    received = draw(st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 12, 31),
                                 timezones=st.just(timezone.utc)))
    calendar = draw(st.sampled_from([None, "DE", "FR", "GB-SCT", "GB-NIR", "CH-ZH", "CA-QC", "BR-SP"]))
    cust = None
    if regime == "custom":
        cust = CustomRegime(
            period=draw(st.sampled_from(["30 days", "1 month", "2 months", "45 days", "10 business days"])),
            extension=draw(st.sampled_from([None, "2 months", "30 days", "5 business days"])),
            pause=draw(st.booleans()),
            roll=draw(st.booleans()),
        )
    pauses = []
    for _ in range(draw(st.integers(0, 2))):
        start = received + timedelta(hours=draw(st.integers(-100, 2000)))
        end = draw(st.one_of(st.none(), st.integers(0, 1000).map(lambda h: start + timedelta(hours=h))))
        pauses.append(Pause(start, end, draw(st.sampled_from([None, "identity", "clarification"]))))
    hours = st.integers(-100, 2000).map(lambda h: received + timedelta(hours=h))
    verified = draw(st.one_of(st.none(), hours))
    asked = draw(st.one_of(st.none(), hours))
    t = Timeline(
        regime, received, draw(st.sampled_from(["Europe/London", "America/Los_Angeles", "Asia/Tokyo"])),
        calendar, draw(st.sampled_from(["access", "erasure", "objection"])), verified_at=verified,
        pauses=tuple(pauses), extended=draw(st.booleans()), custom=cust, identity_asked_at=asked,
    )
    today = received.date() + timedelta(days=draw(st.integers(0, 400)))
    return t, today


@settings(max_examples=300, deadline=None)
@given(timelines())
def test_property_due_never_before_nominal_or_anchor(case):
    t, today = case
    d = compute_deadline(t, today=today)
    assert d.due_date >= d.nominal_due >= d.anchor_date
    assert d.anchor_date >= local_date(t.received_at, t.timezone)
    assert d.paused_days >= 0
    if d.extension_notice_due is not None:
        assert d.anchor_date <= d.extension_notice_due <= d.due_date
    rolls = t.regime in ROLLING and (t.custom is None or t.custom.roll)
    if rolls:
        closed = (6,) if t.regime == "ca-pipeda" else (5, 6)
        assert d.due_date.weekday() not in closed
        # The effective calendar is easy to name when the controller's one cannot override the default.
        code = t.calendar if t.regime in ("eu-gdpr", "custom") else DEFAULT_CAL[t.regime]
        if code and (t.calendar is None or t.regime in ("eu-gdpr", "custom")):
            assert d.due_date not in holiday_calendar(code)
        assert d.due_date - d.nominal_due - timedelta(days=d.paused_days) <= timedelta(days=6)


@settings(max_examples=100, deadline=None)
@given(st.dates(min_value=date(2020, 1, 1), max_value=date(2035, 12, 31)))
def test_property_extended_gdpr_is_anchor_plus_three_months(day):
    d = deadline("uk-gdpr", day.isoformat(), extended=True)
    assert d.nominal_due == day + relativedelta(months=3)
    assert d.extension_notice_due == day + relativedelta(months=1)


# --- holiday names: one language whatever the locale -------------------------------------------------


@pytest.mark.parametrize("locale_env", [
    {"LANG": "C.UTF-8"},  # read as en_US by gettext before Python 3.13, as no language from 3.13 on
    {"LANGUAGE": "de"}, {"LC_ALL": "fr_CH.UTF-8"}, {"LANG": "it_IT.UTF-8"}, {},
], ids=lambda env: ",".join(f"{k}={v}" for k, v in env.items()) or "no locale")
def test_holiday_names_are_english_in_every_locale(locale_env):
    """The --explain steps name holidays in English (the calendar's own English, else en_US) on every
    Python version and under any locale: the `holidays` package otherwise follows the locale."""
    import os
    import subprocess
    import sys

    code = ("from datetime import date\n"
            "from dsarctl.deadlines import holiday_calendar\n"
            "for code, day in [('CH', date(2026, 5, 14)), ('DE', date(2026, 4, 6)), ('CH-ZH', date(2026, 5, 25)),"
            " ('BR', date(2026, 4, 21)), ('GB-ENG', date(2026, 5, 25)), ('NZ', date(2026, 2, 6))]:\n"
            "    print(holiday_calendar(code).get(day))\n")
    env = {k: v for k, v in os.environ.items() if k not in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          env={**env, **locale_env})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["Ascension Day", "Easter Monday", "Pentecost Monday", "Tiradentes' Day",
                                        "Spring Bank Holiday", "Waitangi Day"]

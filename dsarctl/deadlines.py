"""Response deadlines for data subject requests, per legal regime.

Pure functions: nothing here reads the clock. Callers pass `today` (a date in the controller's zone).
The rules and their sources are in docs/deadlines.md. `holidays` and dateutil are imported when a
deadline is computed, not with this module: `overdue` lists stored due dates and needs neither.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .wording import plural

if TYPE_CHECKING:
    import holidays

# The US state laws after California, in the order they came into force; docs/deadlines.md has their table.
US_STATES: tuple[str, ...] = (
    "us-va", "us-co", "us-ct", "us-ut", "us-tx", "us-or", "us-mt", "us-de", "us-ia", "us-ne", "us-nh",
    "us-nj", "us-tn", "us-mn", "us-md", "us-in", "us-ky", "us-ri", "us-ok", "us-al",
)

REGIME_IDS: tuple[str, ...] = (
    "eu-gdpr",
    "uk-gdpr",
    "us-ca",
    *US_STATES,
    "br-lgpd",
    "ca-pipeda",
    "ca-qc",
    "ch-fadp",
    "custom",
)

REQUEST_TYPES: tuple[str, ...] = (
    "access", "erasure", "rectification", "restriction", "objection", "portability", "appeal",
)

_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


# Why the clock stops (UK GDPR Art. 12A, from the Data (Use and Access) Act 2025): what `--explain` names.
PAUSE_GROUNDS = {
    "identity": "waiting for information needed to confirm the subject's identity",
    "clarification": "waiting for information needed to clarify the request",
    "fee": "waiting for a fee",
}


@dataclass(frozen=True)
class Pause:
    start: datetime
    end: datetime | None = None  # None: still paused, counted up to `today`
    ground: str | None = None  # a key of PAUSE_GROUNDS, when named


@dataclass(frozen=True)
class CustomRegime:
    """A controller's own promise, e.g. a privacy policy's "within 30 days"."""

    period: str
    extension: str | None = None
    pause: bool = False
    roll: bool = True


@dataclass(frozen=True)
class Timeline:
    regime: str
    received_at: datetime
    timezone: str
    calendar: str | None = None
    request_type: str = "access"
    verified_at: datetime | None = None
    fee_paid_at: datetime | None = None
    pauses: tuple[Pause, ...] = ()
    # When the controller asked the subject for identity information other than by a pause on the
    # `identity` ground (a verify letter): under uk-gdpr only information asked for restarts the clock.
    identity_asked_at: datetime | None = None
    extended: bool = False
    custom: CustomRegime | None = None


@dataclass(frozen=True)
class Deadline:
    due_date: date
    anchor_date: date
    nominal_due: date
    extension_allowed: bool
    extension_notice_due: date | None
    confirm_receipt_due: date | None
    paused_days: int
    steps: tuple[str, ...]
    # Why a verification did not restart a clock that restarts on verification (uk-gdpr), in one line
    restart_refused: str | None = None


# --- regimes -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Rule:
    period: tuple[int, str]
    extension: tuple[int, str] | None  # None: no extension; (0, "days"): allowed, length not fixed by law
    pause: bool
    roll: bool
    calendar: str | None  # default holiday calendar; None: the controller's
    calendar_overridable: bool  # a controller calendar naming a subdivision of this country wins
    source: str
    effective: date | None = None  # requests received before this date are not under the law
    appeal: tuple[int, str] | None = None  # answer to an appeal of a refusal; None: no appeal (see no_appeal)
    appeal_extension: tuple[int, str] | None = None
    appeal_source: str | None = None
    appeal_unsure: bool = False  # the appeal period comes from secondary sources, not the statute's text
    appeal_extension_unsure: bool = False  # the period was read in the statute, its extension only in summaries
    no_appeal: str | None = None  # why an appeal is refused, when the regime has none
    weekend: tuple[int, ...] = (5, 6)  # days a roll steps over besides holidays
    roll_note: str | None = None  # where a roll is arguable but dsarctl keeps the earlier date


_DAYS45 = (45, "days")


def _us(source: str, effective: date, *, appeal: int | None = 60, appeal_source: str | None = None,
        appeal_extension: int | None = None, appeal_unsure: bool = False,
        appeal_extension_unsure: bool = False, no_appeal: str | None = None,
        period: int = 45, extension: int = 45, roll: bool = False, calendar: str | None = None,
        weekend: tuple[int, ...] = (5, 6), roll_note: str | None = None) -> _Rule:
    """A US state law: calendar days from receipt, one extension with notice inside the first period,
    no pause; an appeal of a refusal answered within `appeal` days of its receipt (reference:
    docs/deadlines.md, "US states")."""
    return _Rule((period, "days"), (extension, "days"), False, roll, calendar, False, source,
                 effective=effective, appeal=(appeal, "days") if appeal else None,
                 appeal_extension=(appeal_extension, "days") if appeal_extension else None,
                 appeal_source=appeal_source, appeal_unsure=appeal_unsure,
                 appeal_extension_unsure=appeal_extension_unsure, no_appeal=no_appeal,
                 weekend=weekend, roll_note=roll_note)


_UNREAD_APPEAL = ("{law} was signed but the text of its appeal section was not read for dsarctl: no appeal "
                  "period is recorded; check the act and track the date yourself")

_RULES: dict[str, _Rule] = {
    "eu-gdpr": _Rule((1, "months"), (2, "months"), True, True, None, True,
                     "GDPR Art. 12(3); Reg. 1182/71 Art. 3"),
    "uk-gdpr": _Rule((1, "months"), (2, "months"), True, True, "GB-ENG", True,
                     "UK GDPR Art. 12(3), 12A; ICO guidance"),
    "us-ca": _Rule((45, "days"), _DAYS45, False, False, "US-CA", False,
                   "Cal. Civ. Code §1798.130(a)(2); 11 CCR §7021", effective=date(2020, 1, 1),
                   no_appeal="the CCPA gives no right to appeal a refusal to the business "
                             "(the consumer may complain to the California Privacy Protection Agency)"),
    "us-va": _us("Va. Code §59.1-577(B)(1)", date(2023, 1, 1), appeal_source="Va. Code §59.1-577(C)",
                 appeal_unsure=True),
    "us-co": _us("C.R.S. §6-1-1306(2); C.R.S. §2-4-108", date(2023, 7, 1), appeal=45, appeal_extension=60,
                 appeal_source="C.R.S. §6-1-1306(3)", appeal_extension_unsure=True, roll=True, calendar="US-CO"),
    "us-ct": _us("Conn. Gen. Stat. §42-518(c)", date(2023, 7, 1), appeal_source="Conn. Gen. Stat. §42-518(d)"),
    "us-ut": _us("Utah Code §13-61-203(2)", date(2023, 12, 31), appeal=None,
                 no_appeal="the Utah Consumer Privacy Act gives no right to appeal a refusal "
                           "(Utah Code §13-61-203)"),
    "us-tx": _us("Tex. Bus. & Com. Code §541.052(b)", date(2024, 7, 1), appeal_source="§541.053",
                 appeal_unsure=True,
                 roll_note="Tex. Gov't Code §311.014(b) (Code Construction Act) may move a last day on a "
                           "weekend or legal holiday to the next day; dsarctl keeps the earlier date"),
    "us-or": _us("ORS 646A.576(5)(a)", date(2024, 7, 1), appeal=45, appeal_source="ORS 646A.576(6)(d)"),
    "us-mt": _us("Mont. Code Ann. §30-14-2808(4)(a)", date(2024, 10, 1), appeal_source="§30-14-2808(5)",
                 appeal_unsure=True),
    "us-de": _us("6 Del. C. §12D-104(c)(1)", date(2025, 1, 1), appeal_source="6 Del. C. §12D-104(d)"),
    "us-ia": _us("Iowa Code §715D.3(2)", date(2025, 1, 1), period=90, appeal_source="Iowa Code §715D.3(3)"),
    "us-ne": _us("Neb. Rev. Stat. §87-1108(2)", date(2025, 1, 1), appeal_source="Neb. Rev. Stat. §87-1109(3)"),
    "us-nh": _us("N.H. RSA 507-H:4", date(2025, 1, 1), appeal_source="N.H. RSA 507-H:4", appeal_unsure=True),
    "us-nj": _us("N.J.S.A. 56:8-166.7(a)", date(2025, 1, 15), appeal=45, appeal_source="N.J.S.A. 56:8-166.7",
                 appeal_unsure=True),
    "us-tn": _us("Tenn. Code Ann. §47-18-3304(b)(1)", date(2025, 7, 1), appeal_source="§47-18-3304(c)",
                 appeal_unsure=True),
    "us-mn": _us("Minn. Stat. §325M.14; Minn. Stat. §645.15", date(2025, 7, 31), appeal=45,
                 appeal_extension=60, appeal_source="Minn. Stat. §325M.14", appeal_unsure=True,
                 roll=True, calendar="US-MN"),
    "us-md": _us("Md. Code, Com. Law §14-4705 (enacted as §14-4605(e)(2))", date(2025, 10, 1),
                 appeal_source="Com. Law §14-4705 (enacted as §14-4605(f)(3))"),
    "us-in": _us("Ind. Code §24-15-3-1(c)(1)", date(2026, 1, 1), appeal_source="Ind. Code §24-15-3-1(d)"),
    "us-ky": _us("KRS 367.3615(3)", date(2026, 1, 1), appeal_source="KRS 367.3615(4)",
                 roll_note="KRS 446.030(1)(a) may move a last day on a weekend or legal holiday to the next "
                           "day; dsarctl keeps the earlier date"),
    "us-ri": _us("R.I. Gen. Laws §6-48.1-6(b)(1)", date(2026, 1, 1), appeal_source="R.I. Gen. Laws §6-48.1-6",
                 appeal_unsure=True),
    "us-ok": _us("Okla. SB 546 (2025)", date(2027, 1, 1), appeal=None,
                 no_appeal=_UNREAD_APPEAL.format(law="Oklahoma SB 546")),
    "us-al": _us("Ala. HB 351 (2026); Ala. Code §1-1-4", date(2027, 5, 1), appeal=None,
                 no_appeal=_UNREAD_APPEAL.format(law="Alabama HB 351"),
                 roll=True, calendar="US-AL", weekend=(6,)),
    "br-lgpd": _Rule((15, "days"), None, False, True, "BR", True, "LGPD Art. 19 II; Civil Code art. 132"),
    "ca-pipeda": _Rule((30, "days"), (30, "days"), False, True, "CA", True,
                       "PIPEDA s.8; Interpretation Act ss.26-28, 35"),
    "ca-qc": _Rule((30, "days"), None, False, False, None, False, "Québec P-39.1 s.32"),
    "ch-fadp": _Rule((30, "days"), (0, "days"), False, True, "CH", True, "FADP Art. 25(7); DSV Art. 18"),
}

# CCPA access requests may reach back beyond 12 months, but never before this date.
CCPA_SINCE_FLOOR = date(2022, 1, 1)

_CA_OPT_OUT = (15, "business days")  # 11 CCR §7026(f): requests to opt out of sale/sharing
_CA_CONFIRM = (10, "business days")  # 11 CCR §7021(a): confirm receipt


# --- small public helpers ------------------------------------------------------------------------------


def local_date(at: datetime, tz: str) -> date:
    """The calendar date of an aware datetime in IANA zone `tz`."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"datetime {at.isoformat()} has no time zone offset")
    return at.astimezone(_zone(tz)).date()


def days_overdue(due: date, today: date) -> int:
    """Days from `due` to `today`: positive when overdue, 0 on the due date, negative before."""
    return (today - due).days


_PERIOD_RE = re.compile(
    r"^\s*(\d+)\s*(business\s+days?|working\s+days?|days?|weeks?|months?|years?)\s*$", re.IGNORECASE
)


def parse_period(text: str) -> tuple[int, str]:
    """Parse e.g. "30 days" or "10 business days" into (30, "days"), (10, "business days")."""
    match = _PERIOD_RE.match(text) if isinstance(text, str) else None
    if not match:
        raise ValueError(
            f"bad period {text!r}: expected a number and a unit "
            "(days, business days, weeks, months, years), e.g. '30 days'"
        )
    n = int(match.group(1))
    if n < 1:
        raise ValueError(f"bad period {text!r}: must be at least 1")
    unit = " ".join(match.group(2).lower().split())
    if unit.startswith(("business", "working")):
        unit = "business days"
    elif not unit.endswith("s"):
        unit += "s"
    return n, unit


def holiday_calendar(code: str) -> "holidays.HolidayBase":
    """A fresh `holidays` calendar for a code like "DE", "GB-SCT" or "US-CO"; ValueError if unknown."""
    return _new_calendar(code.strip().upper() if isinstance(code, str) else code)


@functools.lru_cache(maxsize=64)
def _calendar(code: str, categories: tuple[str, ...] = ("public",)) -> "holidays.HolidayBase":
    # Cached privately: a HolidayBase fills in years as they are looked up, and callers may mutate theirs.
    return _new_calendar(code, categories)


def _new_calendar(code: str, categories: tuple[str, ...] = ("public",)) -> "holidays.HolidayBase":
    import holidays

    if not isinstance(code, str) or not code:
        raise ValueError(f"unknown holiday calendar {code!r} ({_CALENDAR_HINT})")
    country, _, subdiv = _check_calendar(code)
    return holidays.country_holidays(country, subdiv=subdiv or None, categories=categories,
                                     language=holiday_language(country))


@functools.lru_cache(maxsize=64)
def holiday_language(country: str) -> str | None:
    """The language holiday names are given in: the country's own when it is English (en_GB for GB),
    else en_US, else another English the `holidays` package has, else the country's own (None: its names
    are not translated at all, and are English). Always named: without it `holidays` follows the locale
    of the environment, which gettext reads differently across Python versions (LANG=C.UTF-8 is en_US
    before 3.13, untranslated after), so "Ascension Day" became "Auffahrt"."""
    import holidays

    entity = getattr(holidays, country)
    own = getattr(entity, "default_language", None)
    if own and own.split("_")[0] == "en":
        return own  # en_GB names for GB, en_CA for CA
    supported = list(getattr(entity, "supported_languages", ()) or ())
    for choice in ["en_US", *sorted(lang for lang in supported if lang.split("_")[0] == "en")]:
        if choice in supported:
            return choice
    return own


_CALENDAR_HINT = "use a country code such as 'DE' or a country and subdivision such as 'GB-SCT'"


@functools.lru_cache(maxsize=64)
def _check_calendar(code: str) -> tuple[str, str, str]:
    """(country, "-", subdivision) of a supported calendar code; ValueError naming the choices if not."""
    country, dash, subdiv = code.partition("-")
    subdivisions = supported_subdivisions(country)
    if subdivisions is None:
        raise ValueError(f"unknown holiday calendar '{code}' ({_CALENDAR_HINT})")
    if subdiv and subdiv not in subdivisions:
        choices = ", ".join(f"{country}-{s}" for s in subdivisions[:12])
        more = ", ..." if len(subdivisions) > 12 else ""
        raise ValueError(f"unknown holiday calendar '{code}' ({country} subdivisions: {choices}{more})")
    return country, dash, subdiv


def supported_subdivisions(country: str) -> list[str] | None:
    """The subdivision codes `holidays` knows for a country code ("GB" -> ["ENG", "NIR", ...]), or None
    when it does not know the country.

    Only that country's module is imported; `holidays.list_supported_countries()` imports all of them
    (about 0.1 s).
    """
    import holidays
    from holidays.registry import EntityLoader

    if country not in set(EntityLoader.get_country_codes()):
        return None
    return list(getattr(holidays, country).subdivisions)


# --- working days ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _WorkCalendar:
    """Which days are not working days, and why (for the steps)."""

    code: str | None
    weekend: tuple[int, ...] = (5, 6)
    categories: tuple[str, ...] = ("public",)
    easter_monday: bool = False
    label: str = "public holidays"
    saturday_note: str | None = None  # why a Saturday stays, where Saturdays are working days

    def closed(self, day: date) -> str | None:
        """Why `day` is not a working day, or None if it is one."""
        if self.code:
            name = _calendar(self.code, self.categories).get(day)
            if name:
                return f"{name} ({self.code})"
        if self.easter_monday and day == _easter(day.year) + timedelta(days=1):
            return "Easter Monday (Interpretation Act s.35)"
        if day.weekday() in self.weekend:
            return _WEEKDAYS[day.weekday()]
        return None

    def describe(self) -> str:
        days = " and ".join(_WEEKDAYS[d] + "s" for d in self.weekend)
        if self.code:
            return f"{days} and {self.code} {self.label}"
        return f"{days} only (no holiday calendar set)"


def _easter(year: int) -> date:
    from dateutil.easter import easter

    return easter(year)


def _add_business_days(start: date, n: int, cal: _WorkCalendar) -> date:
    day = start
    while n > 0:
        day += timedelta(days=1)
        if cal.closed(day) is None:
            n -= 1
    return day


def _add(start: date, period: tuple[int, str], cal: _WorkCalendar) -> date:
    n, unit = period
    if unit in ("months", "years"):
        from dateutil.relativedelta import relativedelta

        return start + relativedelta(**{unit: n})
    if unit == "weeks":
        return start + timedelta(weeks=n)
    if unit == "business days":
        return _add_business_days(start, n, cal)
    return start + timedelta(days=n)


def _fmt_period(period: tuple[int, str]) -> str:
    n, unit = period
    return f"{n} {unit[:-1] if n == 1 else unit}"


def _fmt(day: date) -> str:
    return f"{day.isoformat()} ({_WEEKDAYS[day.weekday()]})"


# --- the computation -------------------------------------------------------------------------------------


def _zone(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ValueError(f"unknown time zone {tz!r} (use an IANA name such as 'Europe/London')") from None


def _work_calendar(regime: str, rule: _Rule, controller: str | None) -> _WorkCalendar:
    controller = controller.strip().upper() if controller else None
    if controller:
        _check_calendar(controller)  # validate early, with the friendly error
    code = rule.calendar
    if code is None:
        code = controller
    elif rule.calendar_overridable and controller and "-" in controller:
        if controller.partition("-")[0] == code.partition("-")[0]:
            code = controller
    if regime == "ca-pipeda":
        # Interpretation Act s.35: Sunday and the federal holidays are holidays; Saturday is not.
        return _WorkCalendar(code, weekend=(6,), categories=("public", "government"), easter_monday=True,
                             label="holidays (Interpretation Act s.35)",
                             saturday_note="Saturday is not a holiday (Interpretation Act s.35)")
    if rule.weekend != (5, 6):  # us-al: Ala. Code §1-1-4 excludes a last day on a Sunday or legal holiday
        return _WorkCalendar(code, weekend=rule.weekend, label="legal holidays",
                             saturday_note="Ala. Code §1-1-4 moves only a Sunday or a legal holiday")
    return _WorkCalendar(code)


def _pause_days(t: Timeline, anchor: date, today: date, restart: bool = False) -> tuple[int, list[str]]:
    """Paused days, both ends included, overlapping pauses merged, days before the anchor dropped (and the
    anchor itself when the clock restarted that day: the restart already gives the subject's answer)."""
    spans: list[tuple[date, date]] = []
    lines: list[str] = []
    for p in t.pauses:
        start = local_date(p.start, t.timezone)
        end = local_date(p.end, t.timezone) if p.end is not None else today
        if p.end is not None and end < start:
            raise ValueError(f"pause ends ({end}) before it starts ({start})")
        label = f"{start.isoformat()} to {end.isoformat()}"
        if p.end is None:
            label += " (ongoing, up to today)"
        if p.ground in PAUSE_GROUNDS:
            label += f" ({PAUSE_GROUNDS[p.ground]}{'; UK GDPR Art. 12A' if t.regime == 'uk-gdpr' else ''})"
        start = max(start, anchor + timedelta(days=1) if restart else anchor)
        if end < start:
            lines.append(f"Pause {label}: not counted, " + (f"the clock started again on {anchor.isoformat()}"
                         if restart else f"before the clock started on {anchor.isoformat()}"))
            continue
        spans.append((start, end))
        lines.append(f"Pause {label}: {plural((end - start).days + 1, 'day')}, both days included")
    merged: list[tuple[date, date]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    total = sum((end - start).days + 1 for start, end in merged)
    if sum((e - s).days + 1 for s, e in spans) != total:
        lines.append(f"Overlapping pauses counted once: {total} paused days in all")
    return total, lines


def _appeal_period(regime: str, rule: _Rule) -> tuple[tuple[int, str], tuple[int, str] | None, str]:
    if rule.appeal is None:
        raise ValueError(f"{regime} takes no appeal: " + (rule.no_appeal or (
            "the law gives no appeal to the controller; a refused subject complains to the supervisory "
            "authority")))
    return rule.appeal, rule.appeal_extension, rule.appeal_source or rule.source


def check_request(regime: str, request_type: str, received: date, *, since: date | None = None) -> None:
    """ValueError, one line, when `regime` cannot take this request: received (a local date) before its
    law applied, an appeal where the regime has none, or a `since` date it does not allow (CCPA access
    requests only, not before 2022-01-01 nor after receipt)."""
    rule = _RULES.get(regime)
    if rule is not None and rule.effective is not None and received < rule.effective:
        raise ValueError(f"{regime} applies to requests received from {rule.effective.isoformat()} "
                         f"({rule.source.split(';')[0]}); this one was received {received.isoformat()}")
    if request_type == "appeal":
        _appeal_period(regime, rule or _Rule((1, "days"), None, False, False, None, False, ""))
    if since is None:
        return
    if regime != "us-ca" or request_type != "access":
        raise ValueError(f"--since is for us-ca access requests only (Cal. Civ. Code §1798.130(a)(2)(B)); "
                         f"this is {'an' if request_type[0] in 'aeiou' else 'a'} {request_type} request "
                         f"under {regime}")
    if since < CCPA_SINCE_FLOOR:
        raise ValueError(f"--since {since.isoformat()}: the CCPA reaches back only to personal information "
                         f"collected on or after {CCPA_SINCE_FLOOR.isoformat()} "
                         "(Cal. Civ. Code §1798.130(a)(2)(B))")
    if since > received:
        raise ValueError(f"--since {since.isoformat()} is after the request was received "
                         f"({received.isoformat()})")


def compute_deadline(t: Timeline, *, today: date) -> Deadline:
    """Compute the response deadline for a request; `today` is only used to count an ongoing pause."""
    if t.regime not in REGIME_IDS:
        raise ValueError(f"unknown regime {t.regime!r} (one of: {', '.join(REGIME_IDS)})")
    if t.request_type not in REQUEST_TYPES:
        raise ValueError(f"unknown request type {t.request_type!r} (one of: {', '.join(REQUEST_TYPES)})")
    steps: list[str] = []

    if t.regime == "custom":
        if t.custom is None:
            raise ValueError("regime 'custom' needs a period from the inventory (custom=CustomRegime(...))")
        c = t.custom
        rule = _Rule(parse_period(c.period), parse_period(c.extension) if c.extension else None,
                     c.pause, c.roll, None, False, "the controller's own policy")
    else:
        rule = _RULES[t.regime]

    cal = _work_calendar(t.regime, rule, t.calendar)
    receipt = local_date(t.received_at, t.timezone)
    steps.append(f"Received {t.received_at.isoformat()}: {_fmt(receipt)} in {t.timezone}")

    # Anchor: UK GDPR restarts the month when ID or the fee arrives (Art. 12A); other regimes ignore both.
    anchor, why = receipt, "receipt"
    refused = None
    for label, at in (("identity verified", t.verified_at), ("fee paid", t.fee_paid_at)):
        if at is None:
            continue
        day = local_date(at, t.timezone)
        if t.regime != "uk-gdpr":
            steps.append(f"{label.capitalize()} on {day.isoformat()}: "
                         f"does not move the clock under {t.regime}")
            continue
        if label == "identity verified":
            refused = _identity_restart_refused(t, day, today)
            if refused:
                steps.append(f"Identity verified on {day.isoformat()}: {refused}")
                continue
        if day > anchor:
            anchor, why = day, label
    if why == "receipt":
        steps.append(f"Clock starts on {_fmt(anchor)} (receipt)")
        if t.regime == "uk-gdpr" and t.verified_at is None and t.request_type != "appeal":
            steps.append("Identity not confirmed yet: where information is needed to confirm it and is asked "
                         "for while the request is not yet due (dsarctl request pause --ground identity, or "
                         "letter --kind verify), the month starts again on the day it arrives (UK GDPR Art. "
                         "12A; dsarctl request verify)")
    else:
        steps.append(f"Clock restarts on {_fmt(anchor)} ({why}; UK GDPR Art. 12(3), the period starts again)")

    period, extension, source = rule.period, rule.extension, rule.source
    if t.request_type == "appeal":
        period, extension, source = _appeal_period(t.regime, rule)
        steps.append(f"Appeal of a refused request: {t.regime} answers it within {_fmt_period(period)} "
                     f"of receiving it" + (f", extendable by {_fmt_period(extension)}" if extension else "")
                     + (" (period from secondary sources: the statute's text was not read, "
                        "see docs/deadlines.md)" if rule.appeal_unsure else "")
                     + (" (the extension's length from secondary sources: the statute's text for it was not "
                        "read, see docs/deadlines.md)" if rule.appeal_extension_unsure and extension else ""))
    elif t.regime == "us-ca" and t.request_type == "objection":
        period, extension, source = _CA_OPT_OUT, None, "11 CCR §7026(f)"
        steps.append("us-ca: an objection is treated as a request to opt out of sale/sharing: "
                     "15 business days, no extension")
    first = _add(anchor, period, cal)
    steps.append(f"Period {_fmt_period(period)} from {anchor.isoformat()} ({source}): {_fmt(first)}")
    if period[1] == "business days":
        steps.append(f"Business days skip {cal.describe()}")

    nominal = first
    extension_allowed = extension is not None
    if extension is None:
        if t.extended:
            steps.append(f"Extension requested but {t.regime} allows none for this request: ignored")
    elif t.extended:
        if extension[0] == 0:
            steps.append(f"Extended: {t.regime} sets no fixed length for the extension, "
                         "so the due date stays at the end of the first period; "
                         "keep the date promised to the subject")
        elif extension[1] == period[1]:
            total = (period[0] + extension[0], period[1])
            nominal = _add(anchor, total, cal)
            steps.append(f"Extended by {_fmt_period(extension)}, counted from the clock start: "
                         f"{anchor.isoformat()} + {_fmt_period(total)} = {_fmt(nominal)}")
        else:
            nominal = _add(first, extension, cal)
            steps.append(f"Extended by {_fmt_period(extension)} from the unrolled first deadline "
                         f"{first.isoformat()}: {_fmt(nominal)}")

    paused = 0
    if t.pauses:
        if rule.pause:
            paused, lines = _pause_days(t, anchor, today, restart=why != "receipt")
            steps.extend(lines)
        else:
            steps.append(f"{plural(len(t.pauses), 'pause')} ignored: {t.regime} does not stop the clock")
    due = nominal + timedelta(days=paused)
    if paused:
        steps.append(f"{nominal.isoformat()} + {paused} paused days = {_fmt(due)}")

    notice = None
    if extension_allowed:
        # The subject must hear of an extension within the first period (stretched by any pause), unrolled.
        notice = first + timedelta(days=paused)
        steps.append(f"Notice of any extension, with reasons, due by {_fmt(notice)} "
                     "(end of the first period)")

    due = _roll(due, rule, cal, t.regime, steps)

    confirm = None
    if t.regime == "us-ca" and t.request_type != "appeal":
        confirm = _add(receipt, _CA_CONFIRM, cal)
        steps.append(f"Confirm receipt by {_fmt(confirm)}: 10 business days (11 CCR §7021(a))")

    steps.append(f"Due {_fmt(due)}")
    return Deadline(
        due_date=due,
        anchor_date=anchor,
        nominal_due=nominal,
        extension_allowed=extension_allowed,
        extension_notice_due=notice,
        confirm_receipt_due=confirm,
        paused_days=paused,
        steps=tuple(steps),
        restart_refused=refused,
    )


def identity_asked(t: Timeline) -> date | None:
    """The local date the controller first asked for identity information: a pause on the `identity` ground
    or `identity_asked_at` (a verify letter), whichever came first; None when it never asked."""
    asked = [p.start for p in t.pauses if p.ground == "identity"]
    if t.identity_asked_at is not None:
        asked.append(t.identity_asked_at)
    return min(local_date(a, t.timezone) for a in asked) if asked else None


def _identity_restart_refused(t: Timeline, verified: date, today: date) -> str | None:
    """Why verifying on `verified` does not restart the uk-gdpr month, or None when it does.

    UK GDPR Art. 12A (and the ICO): the time limit waits for information the controller reasonably needs
    to confirm identity and asked for; the month runs from the day that information arrives. So it
    restarts only when identity information was asked for (a pause on the identity ground, a verify
    letter) on or before the verification, and while the request was not yet due: a time limit that has
    already run out cannot wait, and verifying a late request does not make it timely."""
    asked = identity_asked(t)
    why = "the clock does not restart"
    if asked is None or asked > verified:
        return (f"{why}: identity information was not asked for (UK GDPR Art. 12A: the month starts again only "
                "when information asked for to confirm identity arrives; ask with dsarctl request pause --ground "
                "identity or letter --kind verify)")
    from dataclasses import replace

    earlier = tuple(p for p in t.pauses if local_date(p.start, t.timezone) < asked)  # the pause asking adds none
    due = compute_deadline(replace(t, verified_at=None, identity_asked_at=None, pauses=earlier),
                           today=today).due_date
    if asked > due:
        return (f"{why}: identity information was asked for on {asked.isoformat()}, after the request was "
                f"due on {due.isoformat()} (a time limit that has run out cannot wait; UK GDPR Art. 12A)")
    return None


def _roll(due: date, rule: _Rule, cal: _WorkCalendar, regime: str, steps: list[str]) -> date:
    reason = cal.closed(due)
    if not rule.roll:
        if reason or due.weekday() >= 5:
            steps.append(f"No roll: {regime} keeps {_fmt(due)} even though it is not a working day"
                         + (f" ({rule.roll_note})" if rule.roll_note else ""))
        return due
    if reason is None:
        if due.weekday() == 5 and 5 not in cal.weekend:
            steps.append(f"{_fmt(due)} stays: {cal.saturday_note}")
        elif cal.code is None:
            steps.append(f"No holiday calendar (set controller.holidays): only weekends roll, "
                         f"so {_fmt(due)} counts as a working day")
        return due
    skipped = []
    day = due
    while reason is not None:
        skipped.append(f"{day.isoformat()} is {reason}")
        day += timedelta(days=1)
        reason = cal.closed(day)
    steps.append(f"Rolled to the next working day {_fmt(day)}: {'; '.join(skipped)} "
                 f"(working days exclude {cal.describe()})")
    return day

"""What a letter's template is filled from: the request, its regime (periods, extension, the authority to
complain to), the controller and the request's last export and erase runs. Plain dicts, dates as `date`:
docs/requests.md ("Letters") lists every variable. Nothing here reads the clock: `today` is passed in."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..deadlines import Deadline
    from ..inventory.model import Inventory

US_STATE_NAMES = {
    "ca": "California", "va": "Virginia", "co": "Colorado", "ct": "Connecticut", "ut": "Utah", "tx": "Texas",
    "or": "Oregon", "mt": "Montana", "de": "Delaware", "ia": "Iowa", "ne": "Nebraska", "nh": "New Hampshire",
    "nj": "New Jersey", "tn": "Tennessee", "mn": "Minnesota", "md": "Maryland", "in": "Indiana",
    "ky": "Kentucky", "ri": "Rhode Island", "ok": "Oklahoma", "al": "Alabama",
}

_LAW_NAMES = {
    "eu-gdpr": "the GDPR", "uk-gdpr": "the UK GDPR", "us-ca": "the California Consumer Privacy Act (CCPA)",
    "br-lgpd": "the LGPD (Lei Geral de Proteção de Dados)", "ca-pipeda": "PIPEDA",
    "ca-qc": "the Québec Act respecting the protection of personal information in the private sector",
    "ch-fadp": "the Swiss Federal Act on Data Protection (FADP)", "custom": "our privacy policy",
    # the US state acts by their short titles; Oklahoma's and Alabama's as "the … consumer data privacy law"
    "us-va": "the Virginia Consumer Data Protection Act", "us-co": "the Colorado Privacy Act",
    "us-ct": "the Connecticut Data Privacy Act", "us-ut": "the Utah Consumer Privacy Act",
    "us-tx": "the Texas Data Privacy and Security Act", "us-or": "the Oregon Consumer Privacy Act",
    "us-mt": "the Montana Consumer Data Privacy Act", "us-de": "the Delaware Personal Data Privacy Act",
    "us-ia": "the Iowa Consumer Data Protection Act", "us-ne": "the Nebraska Data Privacy Act",
    "us-nj": "the New Jersey Data Privacy Act", "us-tn": "the Tennessee Information Protection Act",
    "us-mn": "the Minnesota Consumer Data Privacy Act", "us-md": "the Maryland Online Data Privacy Act",
    "us-in": "the Indiana Consumer Data Protection Act", "us-ky": "the Kentucky Consumer Data Protection Act",
    "us-ri": "the Rhode Island Data Transparency and Privacy Protection Act",
}

# The CCPA: the CPPA takes complaints, the Attorney General enforces too (Cal. Civ. Code §1798.199.10,
# §1798.199.90).
_US_CA_AUTHORITY = {"name": "the California Privacy Protection Agency (CPPA) or the California Attorney General",
                    "url": "https://cppa.ca.gov/webapplications/complaint"}

TYPE_LABELS = {
    "access": "request for a copy of your personal data",
    "erasure": "request to erase your personal data",
    "rectification": "request to correct your personal data",
    "restriction": "request to restrict the use of your personal data",
    "objection": "objection to the use of your personal data",
    "portability": "request for your personal data in a portable format",
    "appeal": "appeal of our decision on your request",
}

_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December")
_NUMBERS = {1: "one", 2: "two", 3: "three"}


def long_date(value: date | datetime | str | None) -> str:
    """"2 March 2026": a date as a letter writes it, the same in every locale."""
    if value is None:
        return ""
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value[:10])
        except ValueError:
            return value  # not a date ("until 2030-01-15 to 2032-07-18"): as written
    return f"{value.day} {_MONTHS[value.month - 1]} {value.year}"


def period_text(period: tuple[int, str] | None) -> str | None:
    """(1, "months") -> "one month"; (45, "days") -> "45 days"; (0, ...) -> None (no fixed length)."""
    if not period or not period[0]:
        return None
    n, unit = period
    word = _NUMBERS.get(n, str(n)) if unit in ("months", "years", "weeks") else str(n)
    return f"{word} {unit[:-1] if n == 1 else unit}"


def authority(regime: str, inventory: "Inventory") -> dict[str, Any]:
    """Whom the subject may complain to under `regime`: the inventory's authority for the controller's own
    regime (an eu-gdpr controller's lead authority) and custom; else the regime's: the ICO, for an eu-gdpr
    request to a controller under another regime the authority where the subject lives or works (GDPR
    Art. 77), the CPPA or the California Attorney General, a US state's attorney general, the other
    regimes' regulators."""
    from ..export import AUTHORITIES

    given = {k: v for k, v in (inventory.controller.authority or {}).items() if v}
    if given.get("name") and regime in (inventory.controller.regime, "custom"):
        out = {"name": given["name"], "url": given.get("url"), "email": given.get("email"),
               "phone": given.get("phone"), "address": given.get("address"), "from_inventory": True}
    elif regime == "us-ca":
        out = {**_US_CA_AUTHORITY}
    elif regime.startswith("us-"):
        out = {"name": f"the {US_STATE_NAMES[regime[3:]]} Attorney General", "url": None}
    else:
        builtin = AUTHORITIES.get(regime) or {"name": "the data protection supervisory authority where you live",
                                               "url": None}
        out = {"name": builtin["name"], "url": builtin.get("url") or None}
    out.setdefault("email", None)
    out.setdefault("phone", None)
    out.setdefault("address", None)
    out.setdefault("from_inventory", False)
    if regime.startswith("us-"):
        out["role"] = "the regulator" if regime == "us-ca" else "the attorney general"
    elif regime in ("br-lgpd", "ca-pipeda", "ca-qc", "ch-fadp"):
        out["role"] = "the privacy regulator"
    else:
        out["role"] = "a data protection supervisory authority"
    return out


def regime_view(request: dict, now: "Deadline", extended: "Deadline", inventory: "Inventory") -> dict[str, Any]:
    """The request's law as a letter states it: periods, the extension and its notice date, pauses, appeals."""
    from ..deadlines import _RULES, parse_period
    from ..verification import default_minimum

    rid = request["regime"]
    rule = _RULES.get(rid)
    custom = inventory.custom_regime or {}
    if rule is not None:
        period, extension, pauses, source = rule.period, rule.extension, rule.pause, rule.source
        appeal, no_appeal = rule.appeal, rule.no_appeal
        if request["type"] == "appeal":  # an appeal runs on the state's appeal period and its own extension
            period, extension = rule.appeal or period, rule.appeal_extension
            source = rule.appeal_source or source
    else:
        period = parse_period(custom["period"]) if custom.get("period") else None
        extension = parse_period(custom["extension"]) if custom.get("extension") else None
        pauses, source, appeal, no_appeal = bool(custom.get("pause")), "our privacy policy", None, None
    law = _LAW_NAMES.get(rid) or f"the {US_STATE_NAMES[rid[3:]]} consumer data privacy law"
    return {
        "id": rid,
        "law": law,
        "source": source,
        "period": period_text(period),
        "extension": period_text(extension) if now.extension_allowed else None,
        "extension_allowed": now.extension_allowed,
        "notice_due": now.extension_notice_due,
        "extended_due": extended.due_date if now.extension_allowed else None,
        "pauses": pauses,
        "clock_at_verification": rid == "uk-gdpr",
        "verify_points": default_minimum(rid, request["type"]),
        "confirm_receipt_due": now.confirm_receipt_due,
        "appeal": period_text(appeal),
        "no_appeal": no_appeal,
        "gdpr": rid in ("eu-gdpr", "uk-gdpr"),
        "us": rid.startswith("us-"),
    }


def request_view(request: dict, due: date, tz: str) -> dict[str, Any]:
    from ..deadlines import local_date

    def day(text: str | None) -> date | None:
        return local_date(datetime.fromisoformat(text), tz) if text else None

    return {
        "id": request["id"], "subject": request["subject"], "type": request["type"],
        "type_label": TYPE_LABELS.get(request["type"], f"{request['type']} request"),
        "status": request["status"], "received": day(request["received_at"]), "due": due,
        "verified": bool(request.get("verified_at")), "verified_on": day(request.get("verified_at")),
        "extended": bool(request.get("extended")), "extension_reason": request.get("extension_reason"),
        "outcome": request.get("outcome"), "appeal_of": request.get("appeal_of"), "since": request.get("since"),
    }


def runs_view(runs: list[dict], inventory: "Inventory", tz: str,
              tasked: set[str] | None = None) -> tuple[dict | None, dict | None]:
    """(the last export, the last erase) of the request, as letters tell them: counts per system, what was
    erased, what is kept and why. Only what the audit log holds: counts and reasons, never the records.
    `tasked`: the systems with a processor task for the request; an export's processors are only those
    (no task is opened for a processor when nothing of the subject was found, unless it is always asked)."""
    from ..deadlines import local_date

    export = erase = None
    for run in runs:
        at = local_date(datetime.fromisoformat(run["at"]), tz)
        s = run["summary"]
        if run["kind"] == "export":
            export = _export_view(s, inventory, at, tasked)
        elif run["kind"] == "erase" and not s.get("batch") and not s.get("replay"):
            erase = _erase_view(s, inventory, at)
    return export, erase


def _describe(inventory: "Inventory", name: str, collection: str | None = None) -> str:
    """What the subject is told a system (or one of its collections) is: its description, else its name."""
    system = inventory.systems.get(name)
    if system is None:
        return collection or name
    coll = system.collections.get(collection) if collection else None
    return (coll.description if coll and coll.description else None) or system.description or collection or name


def _export_view(s: dict, inventory: "Inventory", at: date, tasked: set[str] | None = None) -> dict[str, Any]:
    systems = s.get("systems") or {}
    found = [{"name": n, "description": _describe(inventory, n), "count": e.get("count") or 0}
             for n, e in systems.items() if e.get("status") != "manual" and e.get("count")]
    manual = [{"name": n, "description": _describe(inventory, n),
               "processor": getattr(inventory.systems.get(n), "processor", None)}
              for n, e in systems.items() if e.get("status") == "manual" and (tasked is None or n in tasked)]
    failed = [{"name": n, "description": _describe(inventory, n)} for n, e in systems.items()
              if e.get("status") == "failed"]
    file = s.get("file")
    return {"on": at, "total": s.get("total") or 0, "systems": found, "manual": manual, "failed": failed,
            "file": Path(file).name if file and not file.startswith("(") else None, "sha256": s.get("zip_sha256")}


def _erase_view(s: dict, inventory: "Inventory", at: date) -> dict[str, Any]:
    c = s.get("counts") or {}
    remaining = [{"system": r.get("system"),
                  "description": _describe(inventory, r.get("system") or "", r.get("collection")),
                  "processor": getattr(inventory.systems.get(r.get("system") or ""), "processor", None),
                  "collection": r.get("collection"), "count": r.get("count"), "status": r.get("status"),
                  "reason": r.get("reason"), "until": r.get("until")} for r in s.get("remaining") or []]
    return {
        "on": at, "ok": s.get("status") == "ok",
        "deleted": c.get("delete", 0), "anonymized": c.get("anonymize", 0), "retained": c.get("retain", 0),
        "redacted": c.get("redact", 0), "kept": c.get("keep", 0),
        "remaining": remaining,
        "kept_records": [r for r in remaining if r["status"] in ("retained", "kept", "anonymized")],
        "manual": [r for r in remaining if r["status"] == "manual"],
        "not_erased": [r for r in remaining if r["status"] in ("not erased", "failed")],
    }

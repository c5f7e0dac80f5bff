"""How an audit event, a run and a task read to a person: one line each, with counts, never the raw data.

`audit log` and `request show` print these; `--json` keeps the events as stored. Times are shown in the
controller's zone with its name and offset (`2026-10-01 14:02 BST (UTC+01:00)`, output.local_time): the
log itself keeps UTC.
"""

from __future__ import annotations

from typing import Any

from ..wording import plural
from .output import local_date

_ACTIONS = (("delete", "deleted"), ("anonymize", "anonymized"), ("redact", "redacted"), ("retain", "retained"),
            ("keep", "kept"), ("none", "left (no erase rule)"))


def describe(event: dict[str, Any], timezone: str) -> str:
    """What an event did, with its counts: `3 deleted, 1 kept`, `paused: waiting for ID`."""
    kind, data = event["kind"], event["data"] if isinstance(event["data"], dict) else {}
    if kind.startswith("run."):
        return describe_run(kind[4:], data.get("summary") or {})
    if kind.startswith("request."):
        return _request(kind[8:], data, timezone)
    if kind.startswith("letter."):
        return _letter(data)
    row = data.get("row") or {}
    if kind == "task.added":
        return f"manual task {row.get('key')} opened: {_system(data)}"
    if kind == "task.confirmed":
        return f"manual task {row.get('key')} confirmed: {_system(data)}" + _then(data.get("note"))
    if kind == "suppression.added":
        hashes = len(data.get("hashes") or [])
        return f"{plural(hashes, 'keyed hash', 'keyed hashes')} added to the suppression list of {data.get('system')}"
    if kind == "erasure.recorded":
        hashes = len(data.get("identifier_hashes") or [])
        return f"kept for a replay after a backup restore: {plural(hashes, 'identifier')} as keyed hashes"
    return _generic(data)


def describe_run(kind: str, summary: dict[str, Any]) -> str:
    """A find/export/erase run in one line: what it found or did, per action, and what failed."""
    if kind == "erase":
        return _erase(summary)
    systems = summary.get("systems") or {}
    found = [name for name, s in systems.items() if s.get("count")]
    failed = sorted(name for name, s in systems.items() if s.get("status") == "failed")
    total = summary.get("total") or 0
    if kind == "export":
        text = (f"{plural(total, 'record')} from {plural(len(found), 'system')} exported" if total
                else "nothing found, no package")
    else:
        text = (f"{plural(total, 'record')} found in {plural(len(found), 'system')}" if total
                else "nothing found")
    return text + (f"; failed: {', '.join(failed)}" if failed else "")


def _erase(summary: dict[str, Any]) -> str:
    counts = summary.get("counts") or {}
    done = [f"{counts[action]} {word}" for action, word in _ACTIONS if counts.get(action)]
    text = ", ".join(done) if done else "nothing to erase"
    notes = [note for note, flag in (("batch", summary.get("batch")), ("replay after a restore", summary.get("replay")))
             if flag]
    if notes:
        text = f"{text} ({', '.join(notes)})"
    if summary.get("status") == "failed":
        text += "; FAILED in part (see dsarctl request show)"
    return text


def _request(step: str, data: dict[str, Any], timezone: str) -> str:
    due = f"due {data['due_date']}" if data.get("due_date") else ""
    if step == "new":
        parts = [str(data.get(k)) for k in ("type", "regime") if data.get(k)]
        text = f"opened ({', '.join(parts)})" if parts else "opened"
        if data.get("appeal_of"):
            text += f", appeal of {data['appeal_of']}"
        if data.get("received_at"):
            text += f", received {local_date(data['received_at'], timezone)}"
        return f"{text}, {due}" if due else text
    if step == "verified":
        return "identity verified" + (f" ({data['method']})" if data.get("method") else "") + _then(due)
    if step == "paused":
        return f"paused: {data.get('reason')}" + _then(due)
    if step == "resumed":
        return "resumed" + _then(data.get("note")) + _then(due)
    if step == "extended":
        return "extended" + (" (entered late)" if data.get("late") else "") + f": {data.get('reason')}" + _then(due)
    if step in ("closed", "denied"):
        late = data.get("days_late") or 0
        text = step + (f" {plural(late, 'day')} late" if late else "")
        return text + (f": {data.get('note') or data.get('reason')}" if data.get("note") or data.get("reason") else "")
    return _generic(data)


def _letter(data: dict[str, Any]) -> str:
    """A letter to the subject: drafted or sent (and where), what it carried, the gates it went through."""
    if data.get("sent"):
        parts = ["sent" + (f" through {data['smtp']}" if data.get("smtp") else "")]
    else:
        parts = ["drafted" + (f", not sent: {data['send_error']}" if data.get("send_error") else "")]
    others = len(data.get("attachments") or []) - (1 if data.get("package_sha256") else 0)
    if data.get("package_sha256"):
        parts.append("with the access package")
    if others > 0:
        parts.append(f"with {plural(others, 'attachment')}")
    if data.get("unverified_reason"):
        parts.append(f"to a requester not verified: {data['unverified_reason']}")
    if data.get("to_subject") is False:
        why = data.get("to_other_reason")
        parts.append("to an address not the subject's" + (f": {why}" if why else ""))
    if data.get("incomplete"):
        parts.append(f"Art. 15 items missing: {', '.join(data['incomplete'])}")
    if data.get("template") not in (None, "shipped"):
        parts.append(f"{data['template']} template")
    if data.get("lang") not in (None, "en"):
        parts.append(f"in {data['lang']}")
    if data.get("sha256"):
        parts.append(f"SHA-256 {data['sha256'][:12]}…")
    return ", ".join(parts) + (f"; reason: {data['reason']}" if data.get("reason") else "")


def _system(data: dict[str, Any]) -> str:
    return f"{data.get('system')}" + (f" ({data['processor']})" if data.get("processor") else "")


def _then(text: str | None) -> str:
    return f"; {text}" if text else ""


def _generic(data: dict[str, Any]) -> str:
    """Any other event (a letter, a kind added later): its plain values, and how many items in a list."""
    parts = []
    for key, value in data.items():
        if key == "row" or value is None or isinstance(value, dict):
            continue
        if isinstance(value, (list, tuple)):
            parts.append(f"{key}: {len(value)}")
        else:
            parts.append(f"{key} {value}")
    return ", ".join(parts)

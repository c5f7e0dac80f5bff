"""Letters to the data subject: `write_letter` drafts the message for a step of a request from templates,
writes it as an .eml file, optionally sends it, and records it in the audit log.

Kinds: acknowledge, verify, clarify, extend, response, refuse. The legal steps it owns, so that no caller
skips them:

- an `extend` letter only where the regime allows an extension, before the notice date, with the reasons;
  a `refuse` letter with the reason (the request's refusal reason when it was denied);
- an access package goes only to a verified requester: a letter carrying one (`package=True`, or an
  attachment whose SHA-256 an export run recorded) is refused for a request not verified in the log unless
  `unverified_reason` is given (so is a package exported before the request was verified: it is marked as an
  unverified draft), and refused when the package's manifest lists missing Art. 15 items unless
  `allow_incomplete`; a package recorded for another request is always refused;
- a letter carrying the subject's data (a `response`, or any attachment) goes only to one of the request's
  own e-mail addresses (its subject, its identifiers of an `email` kind, compared normalised) unless
  `to_other_reason` says why it may go elsewhere (an authorised agent); the event records the recipient as
  a keyed hash, whether it was the subject's own address, and that reason;
- a `response` reports the recorded step that answers the request: an access or portability request needs
  an export run of it, an erasure request an erase run of it (not a batch or a replay: their counts are not
  the subject's); the other types record no step, and their response says the request was carried out;
- the .eml never replaces a file; the event `letter.<kind>` records its SHA-256 (never the body or the
  address) and whether it was sent; a letter the log refuses to record is deleted.

Time is injected (`now`); nothing here reads the clock.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from ..errors import RefusedError, UsageError

KINDS = ("acknowledge", "verify", "clarify", "extend", "response", "refuse")


@dataclass
class Letter:
    """A letter as written (and sent): what `letter --json` prints."""

    request_id: str
    kind: str
    path: Path
    sha256: str
    size: int
    to: str
    subject: str
    template: str  # "company" or "shipped"
    attachments: list[dict[str, Any]] = field(default_factory=list)
    package: str | None = None  # SHA-256 of the access package attached
    to_subject: bool = True  # the recipient is one of the request's own e-mail addresses
    sent: bool = False
    smtp: str | None = None
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"request": self.request_id, "kind": self.kind, "file": str(self.path), "sha256": self.sha256,
                "bytes": self.size, "to": self.to, "subject": self.subject, "template": self.template,
                "attachments": self.attachments, "package": self.package, "to_subject": self.to_subject,
                "sent": self.sent, "smtp": self.smtp}


def default_filename(request_id: str, kind: str) -> str:
    return f"letter-{request_id.upper()}-{kind}.eml"


def write_letter(inventory, request_id: str, kind: str, *, now: datetime, operator: str,
                 output: Path | None = None, lang: str = "en", to: str | None = None, reason: str | None = None,
                 attach: list[Path] = (), package: bool = False, unverified_reason: str | None = None,
                 allow_incomplete: bool = False, send: bool = False, to_other_reason: str | None = None) -> Letter:
    """Draft (and with `send`, send) the `kind` letter of request `request_id`; see the module's text."""
    import hashlib

    from ..audit_marker import open_audit
    from ..deadlines import local_date
    from ..requests import RequestBook
    from . import mail
    from .context import authority, regime_view, request_view, runs_view
    from .render import company_folder, render

    if kind not in KINDS:
        raise UsageError(f"--kind: unknown letter '{kind}' (one of: {', '.join(KINDS)})")
    if send and not inventory.controller.smtp:
        raise UsageError("--send: the inventory has no controller.smtp (host, port, tls, username, password, "
                         "from); write the draft without --send, or add it (docs/requests.md, Letters)")
    if send and inventory.controller.smtp.get("username") and not inventory.controller.smtp.get("password"):
        raise UsageError("--send: controller.smtp has a username but no password (its environment variable is "
                         "not set): set it to send, or write the draft without --send")
    reason = reason.strip() if reason and reason.strip() else None
    with open_audit(inventory) as log:
        book = RequestBook(log, inventory)
        request = book.get(request_id)
        rid = request["id"]
        tz = inventory.controller.timezone
        today = local_date(now, tz)
        deadline = book.deadline(rid, today)
        extended = book.deadline(rid, today, extended=True)
        reason = _reason_for(kind, request, deadline, reason, today)
        recipient = _recipient(request, to, inventory)
        to_subject = _address_of(recipient) in own_addresses(request, inventory)
        if not to_subject and (kind == "response" or attach or package) and not to_other_reason:
            raise RefusedError(_not_the_subject(request, recipient, inventory))
        runs = log.runs(rid)
        tasked = {row[0] for row in log.conn.execute("SELECT DISTINCT system FROM tasks WHERE request_id = ?",
                                                     [rid])}
        export, erase = runs_view(runs, inventory, tz, tasked)
        files = _attachments(log, rid, attach, package, runs)
        if kind == "response":
            _answered(request, export, erase)
        pack = next((a for a in files if a.package_of), None)
        gate = _package_gate(request, pack, unverified_reason, allow_incomplete) if pack else {}
        context = {
            "kind": kind, "lang": lang, "today": today, "reason": reason,
            "controller": _controller_view(inventory),
            "request": request_view(request, (extended if kind == "extend" else deadline).due_date, tz),
            "regime": regime_view(request, deadline, extended, inventory),
            "authority": authority(request["regime"], inventory),
            "export": export, "erasure": erase,
            "package": {"name": pack.name, "sha256": pack.sha256, **gate} if pack else None,
            "attachments": [a.name for a in files],
        }
        subject, text, html, source = render(kind, lang, context, company_folder(inventory))
        sender, reply_to = _sender(inventory)
        msg = mail.build(sender=sender, to=recipient, subject=subject, text=text,
                         html=html, attachments=files, now=_zoned(now, tz), reply_to=reply_to)
        data = msg.as_bytes()
        target = Path(output) if output is not None else Path(default_filename(rid, kind))
        mail.write_new(target, data)
        letter = Letter(rid, kind, target, hashlib.sha256(data).hexdigest(), len(data), msg["To"], subject,
                        source, [{"name": a.name, "sha256": a.sha256, "bytes": len(a.data)} for a in files],
                        pack.sha256 if pack else None, to_subject)
        error = None
        if send:
            try:
                letter.smtp = mail.send(msg, inventory.controller.smtp, redact=inventory.redact)
                letter.sent = True
            except mail.SendError as exc:
                error = exc
        try:
            data = _event(letter, lang, reason, gate, error)
            data["to_hash"] = recipient_hash(inventory, _address_of(recipient))
            data["to_subject"] = to_subject
            if not to_subject and to_other_reason:
                data["to_other_reason"] = to_other_reason
            log.append(f"letter.{kind}", data, request_id=rid, operator=operator, at=now)
        except BaseException:
            if not letter.sent:
                target.unlink()  # a draft the audit log does not know about must not be sent
            raise
    if error is not None:
        raise mail.SendError(f"{error}: {target}")
    return letter


def _event(letter: Letter, lang: str, reason: str | None, gate: dict, error) -> dict[str, Any]:
    data: dict[str, Any] = {"sha256": letter.sha256, "bytes": letter.size, "lang": lang,
                            "template": letter.template, "sent": letter.sent,
                            "attachments": [a["sha256"] for a in letter.attachments]}
    if reason and letter.kind in ("extend", "refuse"):
        data["reason"] = reason
    if letter.package:
        data["package_sha256"] = letter.package
        data.update({k: v for k, v in gate.items() if k in ("unverified_reason", "incomplete") and v})
    if letter.smtp:
        data["smtp"] = letter.smtp
    if error is not None:
        data["send_error"] = str(error)
    return data


def _reason_for(kind: str, request: dict, deadline, reason: str | None, today) -> str | None:
    rid = request["id"]
    if kind in ("acknowledge", "verify", "clarify", "extend") and request["status"] in ("closed", "denied"):
        raise UsageError(f"request {rid} is {request['status']}: there is no {kind} letter to write "
                         "(a response or refusal letter may still be sent)")
    if kind == "verify" and request.get("verified_at"):
        raise UsageError(f"request {rid} is already verified ({request['verified_at'][:10]}): there is no verify "
                         "letter to write")
    if kind == "extend":
        if not deadline.extension_allowed:
            raise UsageError(f"request {rid}: {request['regime']} allows no extension for {request['type']} "
                             "requests: there is no extension letter to write")
        notice = deadline.extension_notice_due
        if notice is not None and today > notice and not request["extended"]:
            raise UsageError(f"request {rid}: the subject had to be told of an extension by {notice.isoformat()}; "
                             "it is too late to extend")
        reason = reason or request.get("extension_reason")
        if not reason:
            raise UsageError("--reason: an extension letter must give the subject the reasons for the delay")
    elif kind == "refuse":
        reason = reason or (request.get("outcome") if request["status"] == "denied" else None)
        if not reason:
            raise UsageError("--reason: a refusal letter must give the reason (or deny the request first: "
                             f"dsarctl request deny {rid} --reason ...)")
    return reason


_ANSWERED_BY = {"access": "export", "portability": "export", "erasure": "erase"}


def _answered(request: dict, export: dict | None, erase: dict | None) -> None:
    """Refuse a response that no recorded step backs: it would answer an access request without its data,
    or tell of an erasure that was never run."""
    step = _ANSWERED_BY.get(request["type"])
    if step is None or (export if step == "export" else erase) is not None:
        return
    rid = request["id"]
    kind = request["type"]
    raise UsageError(f"request {rid} is a{'n' if kind[0] in 'aeiou' else ''} {kind} request and no {step} of it is "
                     f"recorded: a response "
                     f"reports what the {step} found; run it first (dsarctl {step} SUBJECT --request {rid})")


def _attachments(log, rid: str, paths, package: bool, runs: list[dict]) -> list:
    """The files to attach, read now; those whose SHA-256 an export run recorded carry that run's request
    (`runs`: the request's own runs, oldest first)."""
    import hashlib

    from .mail import Attachment

    chosen = [Path(p) for p in paths]
    recorded = None
    if package:
        last = next((r["summary"] for r in reversed(runs) if r["kind"] == "export"), None)
        chosen.insert(0, _package_path(rid, last))
        recorded = last["zip_sha256"]
    out = []
    for i, path in enumerate(chosen):
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise UsageError(f"--attach: cannot read {path}: {exc.strerror or exc}") from None
        digest = hashlib.sha256(data).hexdigest()
        if recorded and i == 0 and digest != recorded:
            raise RefusedError(f"{path} changed since the export of {rid} recorded it (its SHA-256 differs): "
                               f"export again (dsarctl export SUBJECT --request {rid})")
        owners = [row[0] for row in log.conn.execute(
            "SELECT DISTINCT request_id FROM runs WHERE kind = 'export' "
            "AND json_extract(summary, '$.zip_sha256') = ?", [digest])]
        if owners and rid not in owners:
            raise RefusedError(f"{path} is the access package of request {owners[0]}, not of {rid}: "
                               "it is not sent to this subject")
        if not owners and _is_package(data):
            raise RefusedError(f"{path} is an access package that no export recorded (changed after it was "
                               f"made, or made by another installation): its request and checks cannot be "
                               f"told; export again (dsarctl export SUBJECT --request {rid})")
        out.append(Attachment(path.name, data, digest, rid if owners else None))
    if len({a.name for a in out}) != len(out):
        raise UsageError("--attach: two attachments have the same file name")
    return out


def _is_package(data: bytes) -> bool:
    """Whether the bytes are a zip holding an access package's manifest.json (a request id or the tool's
    name and a generation time): such a file goes only as the package an export recorded."""
    import io
    import zipfile

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            manifest = json.loads(zf.read("manifest.json"))
    except (zipfile.BadZipFile, KeyError, ValueError, OSError):
        return False
    return isinstance(manifest, dict) and ("request_id" in manifest or "generated_at" in manifest)


def _package_path(rid: str, last: dict | None) -> Path:
    if last is None:
        raise UsageError(f"--package: request {rid} has no export yet (dsarctl export SUBJECT --request {rid})")
    if not last.get("zip_sha256"):
        raise UsageError(f"--package: the last export of {rid} found nothing, so there is no package to attach")
    file = last.get("file")
    if not file or file.startswith("("):
        raise UsageError(f"--package: the file name of {rid}'s package was not recorded (it holds an identifier "
                         "of the subject): attach it with --attach PATH")
    return Path(file)


def _package_gate(request: dict, pack, unverified_reason: str | None, allow_incomplete: bool) -> dict[str, Any]:
    """Refuse a package for an unverified request (unless a reason is given) or with missing Art. 15 items
    (unless allowed); returns what the letter and the audit event say about it."""
    import io
    import zipfile

    rid = request["id"]
    try:
        with zipfile.ZipFile(io.BytesIO(pack.data)) as zf:
            manifest = json.loads(zf.read("manifest.json"))
    except (zipfile.BadZipFile, KeyError, ValueError):
        raise UsageError(f"{pack.name}: not an access package (no readable manifest.json)") from None
    verified = bool(request.get("verified_at"))  # the request as the log has it now, not as when exported
    if not verified and not unverified_reason:
        raise RefusedError(f"request {rid} is not verified: an access package goes only to a verified requester. "
                           f"Verify first (dsarctl request verify {rid}), or send anyway with --unverified "
                           "--reason TEXT (recorded in the audit log)")
    if verified and manifest.get("verified") is False and not unverified_reason:
        # its index.html says "Draft: identity not verified ... must not be sent": not what the subject gets
        raise RefusedError(f"{pack.name} was exported before request {rid} was verified and is marked as an "
                           f"unverified draft: export again (dsarctl export SUBJECT --request {rid}), or send it "
                           "anyway with --unverified --reason TEXT (recorded in the audit log)")
    incomplete = [str(i) for i in (manifest.get("incomplete") or [])]
    if incomplete and not allow_incomplete:
        raise RefusedError(f"{pack.name} lacks Art. 15 information: {', '.join(incomplete)}. Complete the "
                           "inventory and export again, or send it anyway with --allow-incomplete")
    marked = manifest.get("verified") is False
    return {"verified": verified and not marked, "incomplete": incomplete,
            "unverified_reason": unverified_reason if (marked or not verified) else None}


def _zoned(now: datetime, tz: str) -> datetime:
    from zoneinfo import ZoneInfo

    return now.astimezone(ZoneInfo(tz))


def _controller_view(inventory) -> dict[str, Any]:
    c = inventory.controller
    return {"name": c.name, "contact": c.contact, "address": c.address, "dpo": c.dpo}


def _sender(inventory) -> tuple[tuple[str, str], str | None]:
    c = inventory.controller
    contact = c.contact if "@" in (c.contact or "") and " " not in c.contact.strip() else None
    address = (c.smtp or {}).get("from") or contact
    if not address:
        raise UsageError("no address to send from: controller.contact is not an e-mail address; set "
                         "controller.smtp.from")
    return (c.name, address.strip()), contact


def _recipient(request: dict, to: str | None, inventory) -> str:
    """--to, else the request's e-mail address (its subject, else its first e-mail identifier)."""
    if to:
        from email.utils import formataddr

        name, address = parse_recipient(to)
        return formataddr((name, address)) if name else address
    if "@" in request["subject"]:
        return request["subject"]
    email_kinds = {k for k, spec in inventory.identities.items() if spec.type == "email"}
    for ident in request["identifiers"]:
        kind, _, value = ident.partition(":")
        if kind in email_kinds:
            return value
    raise UsageError(f"request {request['id']} has no e-mail address: give the recipient with --to ADDRESS")


def parse_recipient(to: str) -> tuple[str, str]:
    """(display name, normalised address) of `--to`: exactly one valid address, else UsageError. A second
    address is never dropped in silence: the letter would go to someone no check looked at."""
    from email.utils import getaddresses

    from ..connectors.shared_mail import email_tokens
    from ..identity import normalise_email

    # counted by their tokens first: how getaddresses splits `a; b` or `<a> <b>` differs between Python
    # versions (3.13's strict parser answers nothing at all), and two addresses must never pass as one
    named = {normalise_email(t) or t for t in email_tokens(to)}
    if len(named) > 1:
        raise UsageError(f"--to: '{to}' names {len(named)} addresses; a letter goes to exactly one")
    found = getaddresses([to])
    given = [(name, address) for name, address in found if address]
    if len(given) > 1:
        raise UsageError(f"--to: '{to}' names {len(given)} addresses; a letter goes to exactly one")
    address = normalise_email(given[0][1]) if len(given) == 1 and len(found) == 1 else None
    if address is None:
        raise UsageError(f"--to: '{to}' is not an e-mail address")
    return given[0][0], address


def own_addresses(request: dict, inventory) -> set[str]:
    """The request's own e-mail addresses, normalised: its subject when that is one, and its identifiers of
    an `email` kind (those it was opened with, or that the search of its run expanded to)."""
    from ..identity import normalise_email

    email_kinds = {k for k, spec in inventory.identities.items() if spec.type == "email"}
    values = [request["subject"]]
    values += [v for kind, _, v in (i.partition(":") for i in request["identifiers"]) if kind in email_kinds]
    return {a for a in (normalise_email(v) for v in values) if a}


def recipient_hash(inventory, address: str) -> str:
    """The recipient as the audit log keeps it: a keyed hash (HMAC-SHA256 of "recipient:ADDRESS" with the
    install key), never the address."""
    from ..keys import keyed_hash, load_or_create_key

    return keyed_hash(load_or_create_key(Path(inventory.audit_path).parent), "recipient", address)


def _address_of(recipient: str) -> str:
    from email.utils import parseaddr

    from ..identity import normalise_email

    return normalise_email(parseaddr(recipient)[1]) or recipient


def _not_the_subject(request: dict, recipient: str, inventory) -> str:
    rid, address = request["id"], _address_of(recipient)
    override = "send it anyway with --to-other --reason TEXT (recorded in the audit log)"
    if not own_addresses(request, inventory):
        return (f"--to: request {rid} has no e-mail address of its own, so {address} cannot be told to be the "
                f"subject's, and this letter carries their data: {override}")
    return (f"--to: {address} is not an e-mail address of request {rid}'s subject, and this letter carries their "
            f"data: leave out --to to write to the subject, or {override}")

"""A letter as an e-mail: the message (text and HTML alternatives, attachments), its .eml draft written
without ever replacing a file, and sending it through the controller's SMTP server."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import DsarError, ExitStatus, UsageError

if TYPE_CHECKING:
    from email.message import EmailMessage


class SendError(DsarError):
    """The SMTP server could not be reached or refused the letter (the draft is kept)."""

    exit_status = ExitStatus.SOURCE_FAILED


@dataclass
class Attachment:
    name: str
    data: bytes
    sha256: str
    package_of: str | None = None  # the request whose access package this is (its SHA-256 is in an export run)


def build(*, sender: tuple[str, str], to: str, subject: str, text: str, html: str,
          attachments: list[Attachment], now: datetime, reply_to: str | None = None) -> "EmailMessage":
    """The message: multipart/alternative (text, then HTML), in a multipart/mixed with the attachments.
    `X-Unsent: 1` makes Outlook and Thunderbird open the .eml as a draft ready to send."""
    import mimetypes
    from email.message import EmailMessage
    from email.policy import default
    from email.utils import format_datetime, formataddr, make_msgid

    msg = EmailMessage(policy=default)  # the .eml is written with LF line ends; smtplib sends CRLF
    msg["From"] = formataddr(sender)
    msg["To"] = to
    if reply_to and reply_to.lower() != sender[1].lower():
        msg["Reply-To"] = reply_to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(now)  # `now` in the controller's zone (write_letter)
    msg["Message-ID"] = make_msgid(domain=sender[1].rpartition("@")[2] or None)
    msg["X-Unsent"] = "1"
    msg.set_content(text)
    msg.add_alternative(html, subtype="html")
    for a in attachments:
        kind = mimetypes.guess_type(a.name)[0] or "application/octet-stream"
        maintype, _, subtype = kind.partition("/")
        msg.add_attachment(a.data, maintype=maintype, subtype=subtype, filename=a.name)
    return msg


def write_new(target: Path, data: bytes) -> None:
    """Write `data` to `target`, owner-only, whole or not at all, never replacing a file (UsageError when
    the name is taken)."""
    taken = f"{target} already exists; a letter never overwrites a file (choose another name with -o)"
    if os.path.lexists(target):
        raise UsageError(taken)
    if not target.parent.is_dir():
        raise UsageError(f"-o: folder not found: {target.parent}")
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, target)
        except FileExistsError:
            raise UsageError(taken) from None
    finally:
        os.unlink(tmp)


def send(msg: "EmailMessage", smtp: dict, *, redact=lambda text: text, timeout: float = 30.0) -> str:
    """Send through `smtp` (the inventory's controller.smtp); returns "host:port". SendError (exit 3)
    without the password when the server cannot be reached or refuses."""
    import smtplib
    import ssl

    host, port, tls = smtp["host"], int(smtp["port"]), smtp.get("tls", "starttls")
    where = f"{host}:{port}"
    del msg["X-Unsent"]  # the draft mark: the file keeps it, the sent message does not
    try:
        if tls == "implicit":
            server = smtplib.SMTP_SSL(host, port, timeout=timeout, context=ssl.create_default_context())
        else:
            server = smtplib.SMTP(host, port, timeout=timeout)
        with server:
            if tls == "starttls":
                server.starttls(context=ssl.create_default_context())
            if smtp.get("username") and smtp.get("password"):
                server.login(smtp["username"], smtp["password"])
            refused = server.send_message(msg)
    except (smtplib.SMTPException, OSError) as exc:
        reason = _without_recipients(_reason(exc), msg)
        raise SendError(redact(f"smtp {where}: the letter was not sent ({reason}); the draft is kept"))
    if refused:
        raise SendError(f"smtp {where}: the server refused the recipient; the draft is kept")
    return where


def _without_recipients(text: str, msg) -> str:
    """`text` (a server's or the library's words) without the recipients' addresses, in whatever case
    or form the server echoed them (`<zoe@example.org>`, not `Zoe Q <zoe@example.org>` as written in To):
    the subject's address stays out of the message and the audit log."""
    import re
    from email.utils import getaddresses

    for header in ("To", "Cc"):
        for name, address in getaddresses([str(v) for v in msg.get_all(header, [])]):
            for value in (address, name):
                if value and "@" in value:
                    text = re.sub(re.escape(value), "the recipient", text, flags=re.IGNORECASE)
    return text


def _reason(exc: Exception) -> str:
    import smtplib

    if isinstance(exc, smtplib.SMTPRecipientsRefused) and exc.recipients:
        code, text = next(iter(exc.recipients.values()))
        text = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
        return f"{code} {' '.join(text.split())}"
    if isinstance(exc, smtplib.SMTPResponseException):
        text = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
        return f"{exc.smtp_code} {' '.join(text.split())}"
    return " ".join(str(exc).split()) or type(exc).__name__

"""`dsarctl letter --send`: delivered through a real SMTP server (aiosmtpd) that the test starts on a free
port, with a login; the message received is read back with the standard library's e-mail parser."""

from __future__ import annotations

import errno
import hashlib
import json
import socket
from email import policy
from email.parser import BytesParser

import pytest

from helpers import one_error_line

aiosmtpd = pytest.importorskip("aiosmtpd", reason="aiosmtpd (the `test` extra) runs the SMTP server")

# the server asks for a login over plain text: on 127.0.0.1 only, as the inventory allows `tls: none`
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")

PASSWORD = "s3cret-smtp-pw"


class Mailbox:
    """What the server received: (envelope sender, recipients, raw bytes, whether the session logged in)."""

    def __init__(self, refuse: str | None = None, echo: bool = False) -> None:
        self.received: list[tuple[str, list[str], bytes, bool]] = []
        self.refuse = refuse
        self.echo = echo  # the refusal names the address, as Postfix does (in its own case)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.refuse and address.lower() == self.refuse:
            if self.echo:
                return f"550 5.1.1 <{address.upper()}>: Recipient address rejected"
            return "550 5.1.1 no such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content,
                              bool(session.authenticated)))
        return "250 Message accepted"


def _login(server, session, envelope, mechanism, auth_data):
    from aiosmtpd.smtp import AuthResult, LoginPassword

    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        b"letters@northwind.example", PASSWORD.encode())
    return AuthResult(success=ok)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp_server():
    """Start an SMTP server that asks for a login on 127.0.0.1; yields (mailbox, port, start(refuse=...))."""
    from aiosmtpd.controller import Controller

    started = []

    def start(refuse: str | None = None, echo: bool = False, auth_required: bool = True):
        box = Mailbox(refuse, echo)
        for attempt in range(5):
            port = _free_port()
            # ready_timeout: aiosmtpd's 5 s default for its thread to answer can run out on a loaded machine
            controller = Controller(box, hostname="127.0.0.1", port=port, authenticator=_login,
                                    auth_require_tls=False, auth_required=auth_required, ready_timeout=60)
            try:
                controller.start()
                break
            except OSError as exc:  # the free port was taken by another process before the server bound it
                if exc.errno != errno.EADDRINUSE or attempt == 4:
                    raise
        started.append(controller)
        return box, port

    yield start
    for controller in started:
        controller.stop()


@pytest.fixture
def run(cli, demo_dir, monkeypatch):
    monkeypatch.setenv("DSARCTL_NOW", "2026-02-10T09:00:00Z")
    monkeypatch.setenv("DSARCTL_OPERATOR", "ann")
    monkeypatch.setenv("NORTHWIND_SMTP_PASSWORD", PASSWORD)
    monkeypatch.chdir(demo_dir)
    return lambda *args: cli("-i", str(demo_dir / "inventory.yaml"), *args)


def with_smtp(demo_dir, port: int, extra: str = "") -> None:
    path = demo_dir / "inventory.yaml"
    text = path.read_text()
    block = ("  holidays: GB-ENG\n"
             "  smtp:\n"
             "    host: 127.0.0.1\n"
             f"    port: {port}\n"
             "    tls: none\n"
             "    username: letters@northwind.example\n"
             "    password: ${NORTHWIND_SMTP_PASSWORD}\n"
             "    from: letters@northwind.example\n" + extra)
    assert "  holidays: GB-ENG\n" in text
    path.write_text(text.replace("  holidays: GB-ENG\n", block, 1))


def events(run, rid: str) -> list[dict]:
    return [e for e in run("audit", "log", "--request", rid, "--json").json()["events"]
            if e["kind"].startswith("letter.")]


def erin_exported(run, demo_dir, port: int) -> str:
    """The demo sending through the test server on `port`, and Erin's verified access request exported."""
    with_smtp(demo_dir, port)
    rid = run("request", "new", "erin@example.com", "--type", "access", "--received", "2026-02-01",
              "--json").json()["id"]
    assert run("request", "verify", rid).code == 0
    assert run("export", "erin@example.com", "--request", rid, "-o", "erin.zip").code == 0
    return rid


def test_send_delivers_the_draft_through_the_controllers_server(run, demo_dir, smtp_server):
    box, port = smtp_server()
    rid = erin_exported(run, demo_dir, port)
    result = run("letter", rid, "--kind", "response", "--package", "--send")
    assert result.code == 0, result
    assert result.out == (f"Wrote letter-{rid}-response.eml (response letter for {rid} to erin@example.com, "
                          f"1 attachment)\nSubject: Our answer to your request ({rid})\n"
                          f"Sent through 127.0.0.1:{port}\n")
    [(sender, rcpts, raw, logged_in)] = box.received
    assert (sender, rcpts, logged_in) == ("letters@northwind.example", ["erin@example.com"], True)
    sent = BytesParser(policy=policy.default).parsebytes(raw)
    draft = BytesParser(policy=policy.default).parsebytes((demo_dir / f"letter-{rid}-response.eml").read_bytes())
    assert sent["From"] == "Northwind Software Ltd <letters@northwind.example>"
    assert sent["Reply-To"] == "privacy@northwind.example"
    assert sent["To"] == "erin@example.com"
    assert sent["Subject"] == f"Our answer to your request ({rid})"
    assert sent["Message-ID"] == draft["Message-ID"] and sent["Date"] == draft["Date"]
    assert sent["X-Unsent"] is None and draft["X-Unsent"] == "1"  # the draft mark stays in the file only
    # on the wire every line ends in CRLF; the parser keeps them in a 7-bit part
    assert sent.get_body(("plain",)).get_content().replace("\r\n", "\n") == draft.get_body(("plain",)).get_content()
    assert "We searched every system where we keep personal data and found 2 records about you" in \
        sent.get_body(("plain",)).get_content()
    assert "<p>This is our answer to your request for a copy" in sent.get_body(("html",)).get_content()
    [zipped] = list(sent.iter_attachments())
    assert zipped.get_filename() == "erin.zip"
    assert zipped.get_content() == (demo_dir / "erin.zip").read_bytes()
    [event] = events(run, rid)
    assert event["kind"] == "letter.response"
    assert (event["data"]["sent"], event["data"]["smtp"]) == (True, f"127.0.0.1:{port}")
    assert event["data"]["sha256"] == hashlib.sha256((demo_dir / f"letter-{rid}-response.eml").read_bytes()).hexdigest()
    assert PASSWORD not in json.dumps(event) and PASSWORD not in result.out + result.err


def test_a_package_for_another_address_is_not_sent(run, demo_dir, smtp_server):
    # the acceptance test's command sent a verified subject's package to attacker@evil.example
    box, port = smtp_server()
    rid = erin_exported(run, demo_dir, port)
    result = run("letter", rid, "--kind", "response", "--package", "--to", "attacker@evil.example", "--send")
    one_error_line(result, f"--to: attacker@evil.example is not an e-mail address of request {rid}'s subject")
    assert box.received == [] and events(run, rid) == []
    assert not (demo_dir / f"letter-{rid}-response.eml").exists()


def test_a_refused_recipient_keeps_the_draft_and_exits_3_without_the_password(run, demo_dir, smtp_server):
    box, port = smtp_server(refuse="alice@example.com")
    with_smtp(demo_dir, port)
    rid = run("request", "new", "alice@example.com", "--type", "access", "--json").json()["id"]
    result = run("letter", rid, "--kind", "acknowledge", "--send")
    assert result.code == 3, result
    assert result.out == ""
    assert result.err == (f"dsarctl: error: smtp 127.0.0.1:{port}: the letter was not sent (550 5.1.1 no such "
                          f"mailbox here); the draft is kept: letter-{rid}-acknowledge.eml\n")
    assert box.received == []
    assert (demo_dir / f"letter-{rid}-acknowledge.eml").exists()
    [event] = events(run, rid)
    assert event["data"]["sent"] is False and "550 5.1.1" in event["data"]["send_error"]
    assert PASSWORD not in result.err + json.dumps(event)


def test_a_refusal_that_echoes_the_address_keeps_it_out_of_the_error_and_the_log(run, demo_dir, smtp_server):
    box, port = smtp_server(refuse="alice@example.com", echo=True)
    with_smtp(demo_dir, port)
    rid = run("request", "new", "alice@example.com", "--type", "access", "--json").json()["id"]
    result = run("letter", rid, "--kind", "acknowledge", "--send", "--to", "Alice Q <Alice@Example.com>")
    assert result.code == 3, result
    assert result.err == (f"dsarctl: error: smtp 127.0.0.1:{port}: the letter was not sent (550 5.1.1 <the "
                          f"recipient>: Recipient address rejected); the draft is kept: letter-{rid}-acknowledge.eml\n")
    [event] = events(run, rid)
    assert "alice@example.com" not in json.dumps(event).lower()


def test_an_extension_letter_that_could_not_be_sent_is_no_notice(run, demo_dir, smtp_server):
    box, port = smtp_server(refuse="alice@example.com")
    with_smtp(demo_dir, port)
    rid = run("request", "new", "alice@example.com", "--type", "access", "--received", "2026-02-02",
              "--json").json()["id"]
    result = run("letter", rid, "--kind", "extend", "--reason", "Eleven systems.", "--send")
    assert result.code == 3, result
    one_error_line(run("request", "extend", rid, "--reason", "Eleven systems."),
                   f"request {rid}: uk-gdpr requires telling the subject of an extension, with the reasons, by "
                   "2026-03-02: write the letter first")
    # the draft sent by hand, that day: entered as told another way
    result = run("request", "extend", rid, "--reason", "Eleven systems.", "--notified-on", "2026-02-10", "--json")
    assert result.code == 0, result
    [extended] = [e for e in run("audit", "log", "--request", rid, "--json").json()["events"]
                  if e["kind"] == "request.extended"]
    assert (extended["data"]["notified_on"], extended["data"]["notified_by"]) == ("2026-02-10", "other")


def test_a_server_that_is_not_there_is_exit_3(run, demo_dir):
    port = _free_port()
    with_smtp(demo_dir, port)
    rid = run("request", "new", "alice@example.com", "--type", "access", "--json").json()["id"]
    result = run("letter", rid, "--kind", "acknowledge", "--send")
    assert result.code == 3, result
    assert result.err.startswith(f"dsarctl: error: smtp 127.0.0.1:{port}: the letter was not sent (")
    assert result.err.count("\n") == 1 and PASSWORD not in result.err


def test_send_needs_an_smtp_server_in_the_inventory(run, demo_dir):
    rid = run("request", "new", "alice@example.com", "--type", "access", "--json").json()["id"]
    one_error_line(run("letter", rid, "--kind", "acknowledge", "--send"),
                   "--send: the inventory has no controller.smtp")
    assert not (demo_dir / f"letter-{rid}-acknowledge.eml").exists()
    assert events(run, rid) == []


def test_smtp_settings_are_checked_where_they_are_written(run, demo_dir):
    path = demo_dir / "inventory.yaml"
    original = path.read_text()
    with_smtp(demo_dir, 2525)
    path.write_text(path.read_text().replace("host: 127.0.0.1", "host: smtp.northwind.example"))
    result = run("inventory", "check")
    line = [n for n, text in enumerate(path.read_text().splitlines(), 1) if "tls: none" in text][0]
    one_error_line(result, f"inventory.yaml:{line}: controller.smtp.tls: tls: none sends the password and the "
                           "letters unencrypted; it is allowed only for localhost")
    path.write_text(original)
    with_smtp(demo_dir, 2525, extra="    pasword: x\n")
    one_error_line(run("inventory", "check"), "controller.smtp.pasword: unknown key 'pasword' in smtp; did you mean "
                                              "'password'?")
    path.write_text(original)
    with_smtp(demo_dir, 2525)
    path.write_text(path.read_text().replace("tls: none", "tls: ssl"))
    one_error_line(run("inventory", "check"), "unknown value 'ssl' for 'tls' (one of: starttls, implicit, none)")


def _documented_smtp_block() -> str:
    """The controller.smtp example of docs/requests.md, with the password written as the docs say to write
    it on a machine that only drafts letters."""
    from pathlib import Path

    docs = (Path(__file__).parent.parent / "docs" / "requests.md").read_text()
    assert "on a machine that only drafts letters, write `${SMTP_PASSWORD:-}`" in " ".join(docs.split())
    block = docs.split("**Sending.**", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    assert block.startswith("controller:\n  smtp:\n") and "password: ${SMTP_PASSWORD}" in block
    return block.split("\n", 1)[1].replace("${SMTP_PASSWORD}", "${SMTP_PASSWORD:-}")


def test_the_documented_password_for_a_machine_that_only_drafts_loads(run, demo_dir, monkeypatch):
    # with `${SMTP_PASSWORD:-}` and the variable unset, every command failed: "must not be empty" (exit 2)
    monkeypatch.delenv("SMTP_PASSWORD", raising=False)
    path = demo_dir / "inventory.yaml"
    text = path.read_text()
    path.write_text(text.replace("  holidays: GB-ENG\n", "  holidays: GB-ENG\n" + _documented_smtp_block(), 1))
    assert run("inventory", "check").code == 0
    rid = run("request", "new", "alice@example.com", "--type", "access", "--json").json()["id"]
    result = run("letter", rid, "--kind", "acknowledge")
    assert result.code == 0, result
    # it has a username but no password: --send says so before writing anything, and never logs in empty
    one_error_line(run("letter", rid, "--kind", "acknowledge", "--send", "-o", "sent.eml"),
                   "--send: controller.smtp has a username but no password (its environment variable is not set): "
                   "set it to send, or write the draft without --send")
    assert not (demo_dir / "sent.eml").exists()
    # set, the same line is the password
    monkeypatch.setenv("SMTP_PASSWORD", "pw-from-env")
    from dsarctl.inventory import load_inventory

    assert load_inventory(path).controller.smtp["password"] == "pw-from-env"
    # a password written empty by hand is still a mistake, said where it is
    path.write_text(text.replace("  holidays: GB-ENG\n", "  holidays: GB-ENG\n" + _documented_smtp_block()
                                 .replace("${SMTP_PASSWORD:-}", '""'), 1))
    one_error_line(run("inventory", "check"), "controller.smtp.password: must not be empty")


def test_no_password_sends_without_a_login(run, demo_dir, smtp_server, monkeypatch):
    box, port = smtp_server(auth_required=False)
    with_smtp(demo_dir, port)
    path = demo_dir / "inventory.yaml"
    path.write_text(path.read_text().replace("    username: letters@northwind.example\n", "")
                    .replace("${NORTHWIND_SMTP_PASSWORD}", "${NORTHWIND_SMTP_PASSWORD:-}"))
    monkeypatch.delenv("NORTHWIND_SMTP_PASSWORD")
    rid = run("request", "new", "alice@example.com", "--type", "access", "--json").json()["id"]
    result = run("letter", rid, "--kind", "acknowledge", "--send")
    assert result.code == 0, result
    [(sender, rcpts, raw, logged_in)] = box.received
    assert (rcpts, logged_in) == (["alice@example.com"], False)

"""The imap connector against a real Dovecot server (tests/dovecot.py starts it; DSARCTL_TEST_DOVECOT).

Mailboxes are filled over IMAP APPEND with messages in the shapes real mail has (CRLF, folded headers,
RFC 2047 encoded words, trace fields, flags and internal dates) and read back with a plain IMAPClient
session as the oracle: every message's bytes, flags and internal date, folder by folder.

Zoe (zoe@example.org) is the subject. The support mailbox holds: her own message to the desk, a message
she shares with Bob and Carol (redacted, not deleted), a reply to her in Sent, one in Archive; a decoy
from xzoe@example.org.uk; a message whose body only mentions her (bodies are never searched); and hers in
Trash and Junk (not searched unless `trash:` names the trash folder).
"""

from __future__ import annotations

import email
import json
import os
import subprocess
import sys
import uuid
import zipfile
from datetime import datetime, timedelta, timezone
from email.policy import default as policy
from pathlib import Path

import pytest

from dovecot import Dovecot, dovecot_binary
from helpers import find, write_inventory

ZOE = "zoe@example.org"
PASSWORD = "Imap-Pa55word-7f3c"
NOW = datetime(2026, 3, 20, 12, 0, tzinfo=timezone.utc)
ROOT = Path(__file__).resolve().parent.parent


def crlf(text: bytes) -> bytes:
    return text.replace(b"\n", b"\r\n")


M_OWN = crlf(
    b"Return-Path: <zoe@example.org>\n"
    b"Received: from mx.example.org (mx.example.org [192.0.2.7])\n"
    b"\tby mail.test.example with ESMTPS id 7Hq2; Mon, 02 Mar 2026 09:15:05 +0000\n"
    b"From: =?utf-8?q?Zo=C3=AB_Example?= <zoe@example.org>\n"
    b"To: Test Support <support@test.example>\n"
    b"Subject: =?utf-8?q?Order_n=C2=BA_1042_never_arrived?=\n"
    b"Date: Mon, 02 Mar 2026 09:15:00 +0000\n"
    b"Message-ID: <own-1@example.org>\n"
    b"MIME-Version: 1.0\n"
    b"Content-Type: text/plain; charset=\"utf-8\"\n"
    b"Content-Transfer-Encoding: 8bit\n"
    b"\n"
    b"Hello, my parcel never came.\n"
    b"-- Zo\xc3\xab\n"
)
M_SHARED = crlf(
    b"From: Bob Builder <bob@example.net>\n"
    b"To: support@test.example\n"
    b"Cc: \"Example, Zoe\"\n"
    b" <ZOE@Example.org>,\n"
    b" Carol Other <carol@example.com>\n"
    b"Subject: Team licence for Zoe and Carol\n"
    b"Date: Tue, 03 Mar 2026 10:00:00 +0100\n"
    b"Message-ID: <shared-1@example.net>\n"
    b"\n"
    b"Please add Zoe and Carol to our team licence.\n"
)
M_DECOY = crlf(
    b"From: Zoe X <xzoe@example.org.uk>\n"
    b"To: support@test.example\n"
    b"Reply-To: zoe@example.org.uk\n"
    b"Subject: Not the subject\n"
    b"Date: Wed, 04 Mar 2026 08:00:00 +0000\n"
    b"Message-ID: <decoy-1@example.org.uk>\n"
    b"\n"
    b"Someone else entirely.\n"
)
M_MENTION = crlf(
    b"From: Dan Double <dan@example.com>\n"
    b"To: support@test.example\n"
    b"Subject: A question\n"
    b"Date: Thu, 05 Mar 2026 12:00:00 +0000\n"
    b"Message-ID: <mention-1@example.com>\n"
    b"\n"
    b"My friend zoe@example.org said you are helpful.\n"
)
M_SENT = crlf(
    b"From: Test Support <support@test.example>\n"
    b"To: zoe@example.org\n"
    b"Reply-To: help@test.example\n"
    b"Subject: =?utf-8?q?Re:_Order_n=C2=BA_1042_never_arrived?=\n"
    b"Date: Mon, 02 Mar 2026 11:00:00 +0000\n"
    b"Message-ID: <sent-1@test.example>\n"
    b"In-Reply-To: <own-1@example.org>\n"
    b"\n"
    b"We are sending a new parcel.\n"
)
M_ARCHIVE = crlf(
    b"From: Test Support <support@test.example>\n"
    b"To: \"Zoe\n"
    b" Example\" <zoe@example.org>\n"
    b"Subject: Your refund\n"
    b"Date: Fri, 06 Mar 2026 09:00:00 +0000\n"
    b"Message-ID: <archive-1@test.example>\n"
    b"\n"
    b"The refund is on its way.\n"
)
M_TRASH = crlf(
    b"From: zoe@example.org\n"
    b"To: support@test.example\n"
    b"Subject: Never mind\n"
    b"Message-ID: <trash-1@example.org>\n"
    b"\n"
    b"Ignore my last message.\n"
)
M_JUNK = crlf(
    b"From: zoe@example.org\n"
    b"To: support@test.example\n"
    b"Subject: Cheap watches\n"
    b"Message-ID: <junk-1@example.org>\n"
    b"\n"
    b"Not really from Zoe.\n"
)

CONTENT = [  # folder, message, flags, internal date
    ("INBOX", M_OWN, (b"\\Seen",), datetime(2026, 3, 2, 9, 15, 5, tzinfo=timezone.utc)),
    ("INBOX", M_SHARED, (b"\\Seen", b"\\Flagged", b"$Label1"), datetime(2026, 3, 3, 10, 0, 7, tzinfo=timezone(timedelta(hours=1)))),
    ("INBOX", M_DECOY, (), datetime(2026, 3, 4, 8, 0, 1, tzinfo=timezone.utc)),
    ("INBOX", M_MENTION, (b"\\Seen",), datetime(2026, 3, 5, 12, 0, 1, tzinfo=timezone.utc)),
    ("Sent", M_SENT, (), datetime(2026, 3, 2, 11, 0, 1, tzinfo=timezone.utc)),
    ("Archive", M_ARCHIVE, (b"\\Answered",), datetime(2026, 3, 6, 9, 0, 1, tzinfo=timezone.utc)),
    ("Trash", M_TRASH, (b"\\Seen",), datetime(2026, 3, 7, 9, 0, 1, tzinfo=timezone.utc)),
    ("Junk", M_JUNK, (), datetime(2026, 3, 8, 9, 0, 1, tzinfo=timezone.utc)),
]
ZOES = {M_OWN, M_SHARED, M_SENT, M_ARCHIVE}  # what a search with the default folders finds


# -- the server and its mailboxes ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def dovecot():
    server = Dovecot(dovecot_binary())
    try:
        server.start()
        yield server
    finally:
        server.remove()


@pytest.fixture(scope="module")
def dovecot_without_uidplus():
    server = Dovecot(dovecot_binary(), capability="IMAP4rev1 LITERAL+ SASL-IR ID ENABLE IDLE NAMESPACE "
                                                   "UNSELECT CHILDREN SPECIAL-USE MOVE")
    try:
        server.start()
        yield server
    finally:
        server.remove()


class Mailbox:
    """One mail account on the test server, filled with CONTENT, and its inventory."""

    def __init__(self, server: Dovecot, folder: Path):
        self.server = server
        self.user = f"support-{uuid.uuid4().hex[:8]}@test.example"
        self.folder = folder
        server.add_user(self.user, PASSWORD)
        with self.session() as client:
            client.create_folder("Archive")
            for name, raw, flags, when in CONTENT:
                client.append(name, raw, flags=flags, msg_time=when)

    def session(self, port: int | None = None):
        from imapclient import IMAPClient

        client = IMAPClient("127.0.0.1", port or self.server.port, ssl=False, timeout=30)
        client.normalise_times = False
        client.login(self.user, PASSWORD)
        return client

    def snapshot(self) -> dict[str, list[tuple[bytes, frozenset, datetime]]]:
        """Every folder's messages as (bytes, flags but \\Recent, internal date), sorted."""
        out = {}
        with self.session() as client:
            for _flags, _sep, name in client.list_folders():
                client.select_folder(name, readonly=True)
                uids = client.search(["ALL"])
                items = client.fetch(uids, [b"BODY.PEEK[]", b"FLAGS", b"INTERNALDATE"]) if uids else {}
                out[name] = sorted((item[b"BODY[]"], frozenset(f for f in item[b"FLAGS"] if f != b"\\Recent"),
                                    item[b"INTERNALDATE"]) for item in items.values())
        return out

    def inventory(self, extra: str = "", *, port: int | None = None, tls: str = "none", host: str = "127.0.0.1",
                  erase: str = "delete") -> Path:
        return write_inventory(self.folder, f"""
            support:
              connector: imap
              host: {host}
              port: {port or self.server.port}
              tls: {tls}
              username: {self.user}
              password: ${{TEST_IMAP_PASSWORD}}
              address: support@test.example
              identities: {{email: [from, to, cc, reply-to]}}
              erase: {erase}
            {extra}""")


@pytest.fixture
def mailbox(dovecot, tmp_path, monkeypatch) -> Mailbox:
    monkeypatch.setenv("TEST_IMAP_PASSWORD", PASSWORD)
    monkeypatch.delenv("DSARCTL_INVENTORY", raising=False)
    return Mailbox(dovecot, tmp_path)


def load(path: Path):
    from dsarctl.inventory import load_inventory

    return load_inventory(path)


def without(snapshot: dict, *messages: bytes) -> dict:
    return {name: [m for m in items if m[0] not in messages] for name, items in snapshot.items()}


def check_redacted(before: dict, after: dict) -> None:
    """INBOX after the erase: the shared message replaced by its redacted copy (Zoe gone from its headers;
    Bob and Carol, the body, the flags and the internal date kept); the others as they were."""
    [original] = [m for m in before["INBOX"] if m[0] == M_SHARED]
    [copy] = [m for m in after["INBOX"] if b"shared-1@example.net" in m[0]]
    assert copy[1] == original[1] and copy[2] == original[2]  # flags and internal date
    head, _, body = copy[0].partition(b"\r\n\r\n")
    assert body == M_SHARED.partition(b"\r\n\r\n")[2]
    assert b"zoe@example.org" not in head.lower() and b"Example, Zoe" not in head
    message = email.message_from_bytes(copy[0], policy=policy)
    assert [a.addr_spec for a in message["cc"].addresses] == ["carol@example.com"]
    assert message["from"].addresses[0].addr_spec == "bob@example.net"
    assert message["subject"] == "Team licence for Zoe and Carol"
    assert b"\r\n" in head and b"\n" not in head.replace(b"\r\n", b"")  # still CRLF throughout
    others = [m for m in after["INBOX"] if m is not copy]
    assert others == [m for m in before["INBOX"] if m[0] in (M_DECOY, M_MENTION)]


def erased(before: dict, *, trash: bool = False) -> dict:
    """What the mailbox holds after Zoe's erase, the redacted copy left out (see check_redacted)."""
    gone = (M_OWN, M_SHARED, M_SENT, M_ARCHIVE) + ((M_TRASH,) if trash else ())
    return without(before, *gone)


def after_erase(snapshot: dict) -> dict:
    return {name: [m for m in items if b"shared-1@example.net" not in m[0]] for name, items in snapshot.items()}


# -- find ---------------------------------------------------------------------------------------------

def test_find_matches_exactly_and_only_in_the_searched_folders(mailbox, cli):
    inv = load(mailbox.inventory())
    result = find(inv, ZOE)
    [cres] = result.systems["support"].collections.values()
    assert cres.status == "ok", cres.error
    found = {(r.key[0], r.data.get("message-id")) for r in cres.records}
    assert found == {("INBOX", "<own-1@example.org>"), ("INBOX", "<shared-1@example.net>"),
                     ("Sent", "<sent-1@test.example>"), ("Archive", "<archive-1@test.example>")}
    own = next(r for r in cres.records if r.data.get("message-id") == "<own-1@example.org>")
    assert own.data["from"] == "Zoë Example <zoe@example.org>"  # encoded words decoded
    assert own.data["folder"] == "INBOX" and own.location.startswith("INBOX UID ")
    assert own.matched == {("email", ZOE)}
    # the decoy (From xzoe@example.org.uk, Reply-To zoe@example.org.uk) was a candidate of the server's
    # substring search for Zoe only; it is found for its own address
    decoy = find(inv, "zoe@example.org.uk")
    assert [r.data["message-id"] for r in decoy.records()] == ["<decoy-1@example.org.uk>"]
    r = cli("-i", str(mailbox.folder / "inventory.yaml"), "find", ZOE, "--json")
    assert r.code == 0, r
    [system] = [s for s in r.json()["systems"] if s["system"] == "support"]
    assert system["count"] == 4


def test_find_reads_nothing_as_read(mailbox):
    before = mailbox.snapshot()
    find(load(mailbox.inventory()), ZOE)
    assert mailbox.snapshot() == before


def test_named_folders_only_and_a_missing_one_fails(mailbox, cli):
    inv = load(mailbox.inventory("  folders: [Sent, inbox]"))
    [cres] = find(inv, ZOE).systems["support"].collections.values()
    assert {r.key[0] for r in cres.records} == {"INBOX", "Sent"}
    path = mailbox.inventory("  folders: [INBOX, Archiv]")
    r = cli("-i", str(path), "find", ZOE)
    assert r.code == 3, r
    assert "folder 'Archiv' not found" in r.err and "inventory.yaml:" in r.err
    r = cli("-i", str(path), "inventory", "check", "--connect")
    assert r.code == 2, r
    assert "inventory.yaml:" in r.out + r.err and "Archiv" in r.out + r.err


def test_inventory_check_connect(mailbox, cli):
    r = cli("-i", str(mailbox.inventory()), "inventory", "check", "--connect")
    assert r.code == 0, r
    assert "4 folders searched" not in r.out  # Trash and Junk left out
    assert "3 folders searched" in r.out and "Trash" not in r.out.split("searched:")[1].splitlines()[0]


# -- export ---------------------------------------------------------------------------------------------

def test_export_hands_out_each_message_whole_and_marks_nothing_read(mailbox, cli):
    before = mailbox.snapshot()
    out = mailbox.folder / "zoe.zip"
    r = cli("-i", str(mailbox.inventory()), "export", ZOE, "-o", str(out))
    assert r.code == 0, r
    with zipfile.ZipFile(out) as zf:
        emls = sorted(zf.read(n) for n in zf.namelist() if n.endswith(".eml"))
        data = [n for n in zf.namelist() if n.startswith("data/support/") and n.endswith(".json")]
        records = json.loads(zf.read(data[0]))
    assert emls == sorted(ZOES)
    assert sorted(r["folder"] for r in records) == ["Archive", "INBOX", "INBOX", "Sent"]
    assert mailbox.snapshot() == before  # \Seen not set on the unread ones (Sent's reply)


# -- erase ----------------------------------------------------------------------------------------------

def test_erase_deletes_her_messages_redacts_the_shared_one_and_touches_nothing_else(mailbox, cli):
    before = mailbox.snapshot()
    path = mailbox.inventory()
    r = cli("-i", str(path), "erase", ZOE, "--dry-run", "--json")
    assert r.code == 0, r
    [coll] = r.json()["plan"]["collections"]
    assert coll["count"] == 4
    assert coll["shared"] == [{"record": coll["shared"][0]["record"], "others": 2, "action": "redact"}]
    r = cli("-i", str(path), "erase", ZOE, "--yes", "--json")
    assert r.code == 0, r
    outcome = r.json()["run"]["units"][0]["collections"]["support"]
    assert outcome == {"deleted": 3, "masked": 0, "unchanged": 0, "missing": 0, "redacted": 1}
    assert r.json()["remaining"] == []
    after = mailbox.snapshot()
    check_redacted(before, after)
    assert after_erase(after) == erased(before)
    # a second run finds nothing and changes nothing
    r = cli("-i", str(path), "erase", ZOE, "--yes", "--json")
    assert r.code == 0 and r.json()["run"] is None, r
    assert mailbox.snapshot() == after


def test_shared_delete_and_keep(mailbox, cli):
    before = mailbox.snapshot()
    r = cli("-i", str(mailbox.inventory("  shared: keep")), "erase", ZOE, "--yes", "--json")
    assert r.code == 0, r
    after = mailbox.snapshot()
    assert after == without(before, M_OWN, M_SENT, M_ARCHIVE)
    r = cli("-i", str(mailbox.inventory("  shared: delete")), "erase", ZOE, "--yes", "--json")
    assert r.code == 0, r
    assert mailbox.snapshot() == erased(before)


def test_two_identical_shared_messages_keep_a_redacted_copy_each(mailbox, cli):
    with mailbox.session() as client:
        client.append("INBOX", M_SHARED, flags=CONTENT[1][2], msg_time=CONTENT[1][3])
    r = cli("-i", str(mailbox.inventory()), "erase", ZOE, "--yes", "--json")
    assert r.code == 0, r
    copies = [m for m in mailbox.snapshot()["INBOX"] if b"shared-1@example.net" in m[0]]
    assert len(copies) == 2 and copies[0] == copies[1] and b"zoe@" not in copies[0][0].lower()


def test_anonymize_replaces_each_message_with_its_masked_copy(mailbox, cli):
    from dsarctl.erase import REDACTED

    before = mailbox.snapshot()
    path = mailbox.inventory(erase="{action: anonymize, fields: {subject: redact}}")
    r = cli("-i", str(path), "erase", ZOE, "--yes", "--json")
    assert r.code == 0, r
    outcome = r.json()["run"]["units"][0]["collections"]["support"]
    assert outcome == {"deleted": 0, "masked": 3, "unchanged": 0, "missing": 0, "redacted": 1}
    after = mailbox.snapshot()
    check_redacted(before, {**after, "INBOX": [m for m in after["INBOX"] if b"own-1@" not in m[0]]})
    for folder, original in (("INBOX", M_OWN), ("Sent", M_SENT), ("Archive", M_ARCHIVE)):
        [old] = [m for m in before[folder] if m[0] == original]
        [new] = [m for m in after[folder] if m[0] != original and email.message_from_bytes(m[0])["message-id"]
                 == email.message_from_bytes(original)["message-id"]]
        assert new[1:] == old[1:]  # flags and internal date
        message = email.message_from_bytes(new[0], policy=policy)
        assert message["subject"] == REDACTED and message.get_content() == \
            email.message_from_bytes(original, policy=policy).get_content()
        assert b"\r\n" in new[0] and b"\n" not in new[0].replace(b"\r\n", b"")
    r = cli("-i", str(path), "erase", ZOE, "--yes", "--json")
    assert r.code == 0 and r.json()["run"] is None, r


def test_erase_through_the_trash_folder(mailbox, cli):
    """trash: the messages are moved there and expunged from it; the trash is searched too."""
    before = mailbox.snapshot()
    path = mailbox.inventory("  trash: Trash")
    r = cli("-i", str(path), "find", ZOE, "--json")
    assert [s["count"] for s in r.json()["systems"] if s["system"] == "support"] == [5]
    r = cli("-i", str(path), "erase", ZOE, "--yes", "--json")
    assert r.code == 0, r
    after = mailbox.snapshot()
    check_redacted(before, after)
    assert after_erase(after) == erased(before, trash=True)


@pytest.mark.parametrize("point", ["imap.flagged#1", "imap.expunged#1", "imap.appended#1", "imap.flagged#2",
                                   "imap.expunged#3"])
def test_a_connection_dropped_mid_erase_is_finished_by_the_next_run(mailbox, cli, point):
    """The server drops the connection at a step of the erase (doveadm kick); the run fails that system
    (exit 3 from the CLI), and the next `erase` finishes it: the same end state as an uninterrupted run,
    no message deleted that should not be, no redacted copy appended twice."""
    from dsarctl.erase import carry_out, prepare
    from dsarctl.identity import Identifier

    before = mailbox.snapshot()
    path = mailbox.inventory()
    inv = load(path)
    name, _, nth = point.partition("#")
    hits = []

    def checkpoint(at: str) -> None:
        if at == name:
            hits.append(at)
            if len(hits) == int(nth):
                mailbox.server.kick(mailbox.user)

    result = carry_out(inv, prepare(inv, [[Identifier("email", ZOE)]], now=NOW), operator="test", now=NOW,
                       checkpoint=checkpoint)
    assert len(hits) >= int(nth), hits
    assert not result.ok and result.run.units[0].status == "failed"
    assert PASSWORD not in str(result.to_dict())
    r = cli("-i", str(path), "erase", ZOE, "--yes", "--json")
    assert r.code == 0, r
    assert "finished the interrupted erase run" in r.err
    after = mailbox.snapshot()
    check_redacted(before, after)
    assert after_erase(after) == erased(before)
    r = cli("-i", str(path), "erase", ZOE, "--yes", "--json")
    assert r.code == 0 and r.json()["run"] is None, r


def test_a_move_to_the_trash_dropped_before_its_expunge_is_finished_by_the_next_search(mailbox, cli):
    from dsarctl.erase import carry_out, prepare
    from dsarctl.identity import Identifier

    before = mailbox.snapshot()
    path = mailbox.inventory("  trash: Trash")
    inv = load(path)
    done = []

    def checkpoint(at: str) -> None:
        if at == "imap.moved" and not done:
            done.append(at)
            mailbox.server.kick(mailbox.user)

    result = carry_out(inv, prepare(inv, [[Identifier("email", ZOE)]], now=NOW), operator="test", now=NOW,
                       checkpoint=checkpoint)
    assert done and not result.ok
    r = cli("-i", str(path), "erase", ZOE, "--yes", "--json")
    assert r.code == 0, r
    after = mailbox.snapshot()
    check_redacted(before, after)
    assert after_erase(after) == erased(before, trash=True)


def test_killed_mid_erase_then_rerun_completes(mailbox, cli):
    """dsarctl killed (SIGKILL) right after appending the redacted copy, before removing the original."""
    before = mailbox.snapshot()
    path = mailbox.inventory()
    env = {**os.environ, "DSARCTL_TEST_KILL_AT": "imap.appended", "TEST_IMAP_PASSWORD": PASSWORD}
    killed = subprocess.run([sys.executable, "-m", "dsarctl", "-i", str(path), "erase", ZOE, "--yes"],
                            env=env, capture_output=True, cwd=ROOT)
    assert killed.returncode == -9, killed
    assert len([m for m in mailbox.snapshot()["INBOX"] if b"shared-1@example.net" in m[0]]) == 2
    r = cli("-i", str(path), "erase", ZOE, "--yes", "--json")
    assert r.code == 0, r
    after = mailbox.snapshot()
    check_redacted(before, after)
    assert after_erase(after) == erased(before)


def test_a_server_without_uidplus_is_refused(dovecot_without_uidplus, tmp_path, monkeypatch, cli):
    monkeypatch.setenv("TEST_IMAP_PASSWORD", PASSWORD)
    box = Mailbox(dovecot_without_uidplus, tmp_path)
    before = box.snapshot()
    path = box.inventory()
    r = cli("-i", str(path), "inventory", "check", "--connect")
    assert r.code == 0 and "UIDPLUS" in r.out + r.err, r
    r = cli("-i", str(path), "erase", ZOE, "--yes")
    assert r.code == 3, r
    assert "does not support UIDPLUS" in r.err
    assert box.snapshot() == before


# -- connecting ----------------------------------------------------------------------------------------

def test_wrong_password_fails_the_system_in_one_line_without_it(mailbox, cli, monkeypatch):
    wrong = "Not-The-Pa55word-91"
    monkeypatch.setenv("TEST_IMAP_PASSWORD", wrong)
    path = mailbox.inventory()
    for args in (["find", ZOE], ["export", ZOE, "-o", str(mailbox.folder / "x.zip")], ["erase", ZOE, "--yes"]):
        r = cli("-i", str(path), *args)
        assert r.code == 3, (args, r)
        assert "login failed" in r.err and "AUTHENTICATIONFAILED" in r.err, r
        assert wrong not in r.out + r.err
        assert "Traceback" not in r.err
    audit = mailbox.folder / ".dsarctl"
    for file in audit.rglob("*"):
        if file.is_file():
            assert wrong.encode() not in file.read_bytes(), file


def test_implicit_tls_and_starttls_with_a_private_ca(mailbox, cli):
    ca = f"  tls_ca: {mailbox.server.ca_file}"
    for tls, port, host in (("implicit", mailbox.server.tls_port, "127.0.0.1"),
                            ("starttls", mailbox.server.port, "localhost")):
        r = cli("-i", str(mailbox.inventory(ca, port=port, tls=tls, host=host)), "find", ZOE, "--json")
        assert r.code == 0, (tls, r)
        assert [s["count"] for s in r.json()["systems"] if s["system"] == "support"] == [4]
    # without the CA the certificate is not trusted: that system fails, in one line
    r = cli("-i", str(mailbox.inventory(port=mailbox.server.tls_port, tls="implicit")), "find", ZOE)
    assert r.code == 3, r
    assert "certificate verify failed" in r.err and PASSWORD not in r.out + r.err


def test_xoauth2(mailbox, cli, monkeypatch):
    # the test server checks an XOAUTH2 token as it checks a password
    monkeypatch.setenv("TEST_IMAP_TOKEN", PASSWORD)
    path = write_inventory(mailbox.folder, f"""
        support:
          connector: imap
          host: 127.0.0.1
          port: {mailbox.server.port}
          tls: none
          username: {mailbox.user}
          auth: xoauth2
          token: ${{TEST_IMAP_TOKEN}}
          identities: {{email: [from, to, cc, reply-to]}}
        """)
    r = cli("-i", str(path), "find", ZOE, "--json")
    assert r.code == 0, r
    assert [s["count"] for s in r.json()["systems"] if s["system"] == "support"] == [4]


# -- the inventory (no server needed) -----------------------------------------------------------------

IMAP = """
support:
  connector: imap
  host: {host}
  username: support@test.example
  identities: {{email: [from, to, cc, reply-to]}}
{extra}"""


@pytest.mark.parametrize("host, extra, line, words", [
    ("imap.test.example", "  password: x-secret-1\n  tls: none", 7, "tls: none would send the password unencrypted"),
    ("imap.test.example", "", 1, "needs 'password:'"),
    ("imap.test.example", "  auth: xoauth2\n  password: x-secret-1", 6, "needs 'token:'"),
    ("imap.test.example", "  password: x-secret-1\n  tls: starttls\n  port: 99999", 8, "not a port number"),
    ("imap.test.example", "  password: x-secret-1\n  tls: plain", 7, "unknown value 'plain' for 'tls'"),
    ("127.0.0.1", "  password: x-secret-1\n  tls: none\n  tls_ca: ca.pem", 8, "tls_ca needs tls"),
])
def test_inventory_errors_name_file_and_line(tmp_path, cli, host, extra, line, words):
    path = write_inventory(tmp_path, IMAP.format(host=host, extra=extra))
    r = cli("-i", str(path), "inventory", "check")
    assert r.code == 2, r
    assert f"inventory.yaml:{line + 11}" in r.err and words in r.err, r
    assert len(r.err.strip().splitlines()) == 1
    assert "x-secret-1" not in r.err + r.out


def test_tls_none_is_fine_on_localhost_and_the_password_is_a_secret(tmp_path):
    for host in ("localhost", "127.0.0.1", "::1", "'[::1]'"):
        inv = load(write_inventory(tmp_path, IMAP.format(host=host, extra="  password: x-secret-1\n  tls: none")))
        assert "x-secret-1" in inv.secrets
        assert inv.redact("login x-secret-1 refused") == "login *** refused"


def test_the_connector_is_registered(tmp_path):
    from dsarctl.connectors import get

    assert get("imap").__name__ == "ImapConnector"
    inv = load(write_inventory(tmp_path, IMAP.format(host="imap.test.example", extra="  password: abc123")))
    coll = inv.systems["support"].collections["support"]
    assert coll.erase.action == "delete" and coll.options["host"] == "imap.test.example"



def test_the_demo_inventorys_imap_block_loads_when_uncommented(tmp_path, monkeypatch, cli):
    text = (ROOT / "inventory.yaml").read_text()
    head, _, block = text.partition("  # support_imap:")
    assert block, "the demo inventory has its optional IMAP system"
    lines = ("  # support_imap:" + block).splitlines()
    (tmp_path / "inventory.yaml").write_text(head + "\n".join(line.replace("  # ", "  ", 1) for line in lines) + "\n")
    monkeypatch.setenv("SUPPORT_IMAP_HOST", "imap.northwind.example")
    monkeypatch.setenv("SUPPORT_IMAP_USER", "support@northwind.example")
    monkeypatch.setenv("SUPPORT_IMAP_PASSWORD", "Demo-Pa55word-42")
    monkeypatch.delenv("CRM_DATABASE_URL", raising=False)
    r = cli("-i", str(tmp_path / "inventory.yaml"), "inventory", "show", "--format", "json")
    assert r.code == 0, r
    assert "Demo-Pa55word-42" not in r.out + r.err
    [system] = [s for s in r.json()["systems"] if s["system"] == "support_imap"]
    assert system["connector"] == "imap"

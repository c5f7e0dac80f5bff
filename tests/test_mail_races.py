"""Issue 18, races: a mailbox rewritten by another process between the search and the export or erase.

The change is forced at the worst moment: right after the search has read the mailbox (a wrapper around
the connector's `locate` rewrites the file when the search is done with it), as another erase or a mail
client would. The export and the erase must act only on the bytes the search saw (their SHA-256): the
export fails that collection (exit 3) with no byte of another message in the zip; the erase deletes the
subject's message where it moved to, or, when the subject's message itself changed, fails (exit 3)
without touching anything.
"""

from __future__ import annotations

import json
import mailbox
import os
import zipfile

from dsarctl.connectors.mail import MaildirConnector, MboxConnector
from helpers import write_inventory

SYSTEM = """
mail:
  connector: {connector}
  path: {path}
  identities: {{email: [from, to, cc, reply-to]}}
  erase: delete
"""


def _message(sender: str, secret: str, size: int = 200) -> bytes:
    """A message between `sender` and the controller's desk, padded to `size` bytes."""
    head = (f"From {sender} Mon Mar  2 09:15:00 2026\nFrom: {sender}\nTo: support@test.example\n"
            f"Subject: {secret}\n\n{secret}\n").encode()
    return head + b"x" * (size - len(head) - 2) + b"\n\n"


XENIA = _message("xenia@example.org", "Xenia's secret")
ALICE = _message("alice@example.com", "Alice's own")
BOB = _message("bob@example.net", "Bob's secret")


def _replace(path, data: bytes) -> None:
    """Write `data` as a new file renamed over `path`, as an erase rewrites a mailbox."""
    tmp = path.with_name(path.name + ".new")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _after_the_search(monkeypatch, connector_cls, change) -> list:
    """Run `change()` once, right after the first search has read the mailbox."""
    original = connector_cls.locate
    done: list = []

    def locate(self, *args, **kwargs):
        yield from original(self, *args, **kwargs)
        if not done:
            done.append(True)
            change()

    monkeypatch.setattr(connector_cls, "locate", locate)
    return done


def _messages(path) -> list[bytes]:
    box = mailbox.mbox(str(path), create=False)
    try:
        return [box.get_bytes(k, from_=True) for k in box.keys()]
    finally:
        box.close()


def test_export_of_a_rewritten_mbox_fails_and_hands_out_no_other_message(cli, tmp_path, monkeypatch):
    path = tmp_path / "mail.mbox"
    path.write_bytes(XENIA + ALICE + BOB)
    inv = write_inventory(tmp_path, SYSTEM.format(connector="mbox", path="mail.mbox"))
    done = _after_the_search(monkeypatch, MboxConnector, lambda: _replace(path, ALICE + BOB))  # Xenia erased
    result = cli("-i", str(inv), "export", "alice@example.com", "-o", str(tmp_path / "a.zip"))
    assert done and result.code == 3, result
    assert "mail.mail: while exporting files: mail.mbox:9: the message changed since the search" in result.err, result.err
    assert "Traceback" not in result.err
    with zipfile.ZipFile(tmp_path / "a.zip") as zf:
        everything = b"".join(zf.read(n) for n in zf.namelist())
        manifest = json.loads(zf.read("manifest.json"))
    assert b"Bob's secret" not in everything and b"Xenia's secret" not in everything
    [eml] = [f for f in manifest["files"] if f["path"].endswith(".eml")]
    assert eml["bytes"] == 0 and eml["complete"] is False
    [coll] = manifest["systems"][0]["collections"]
    assert coll["status"] == "failed" and "changed since the search" in coll["error"]


def test_export_of_a_rewritten_maildir_file_fails(cli, tmp_path, monkeypatch):
    root = tmp_path / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (root / sub).mkdir(parents=True)
    message = root / "cur" / "1.a:2,S"
    message.write_bytes(b"From: alice@example.com\nTo: support@test.example\n\nAlice's own\n")
    inv = write_inventory(tmp_path, SYSTEM.format(connector="maildir", path="Maildir"))
    _after_the_search(monkeypatch, MaildirConnector, lambda: _replace(message, b"From: bob@example.net\n\nBob's secret\n"))
    result = cli("-i", str(inv), "export", "alice@example.com", "-o", str(tmp_path / "a.zip"))
    assert result.code == 3 and "changed since the search" in result.err, result
    with zipfile.ZipFile(tmp_path / "a.zip") as zf:
        assert b"Bob's secret" not in b"".join(zf.read(n) for n in zf.namelist())


def test_erase_after_another_erase_moved_the_messages_deletes_the_subjects_message_only(cli, tmp_path, monkeypatch):
    """Three messages of one length: once Xenia's is gone, Bob's stands at the byte range where the search
    saw Alice's. The erase finds Alice's message by the search's hash where it moved to."""
    path = tmp_path / "mail.mbox"
    path.write_bytes(XENIA + ALICE + BOB)
    inv = write_inventory(tmp_path, SYSTEM.format(connector="mbox", path="mail.mbox"))
    done = _after_the_search(monkeypatch, MboxConnector, lambda: _replace(path, ALICE + BOB))
    result = cli("-i", str(inv), "erase", "alice@example.com", "--yes", "--json")
    assert done and result.code == 0, result
    assert path.read_bytes() == BOB


def test_erase_of_a_message_changed_since_the_search_fails_and_changes_nothing(cli, tmp_path, monkeypatch):
    path = tmp_path / "mail.mbox"
    path.write_bytes(XENIA + ALICE + BOB)
    read = ALICE.replace(b"Subject:", b"Status: RO\nSubject:")  # a mail client marked it read
    inv = write_inventory(tmp_path, SYSTEM.format(connector="mbox", path="mail.mbox"))
    done = _after_the_search(monkeypatch, MboxConnector, lambda: _replace(path, read + XENIA + BOB))
    result = cli("-i", str(inv), "erase", "alice@example.com", "--yes", "--json")
    assert done and result.code == 3, result
    assert "mail.mbox: 1 message found by the search changed since" in result.err, result.err
    assert path.read_bytes() == read + XENIA + BOB  # nothing deleted, nobody else's message touched
    again = cli("-i", str(inv), "erase", "alice@example.com", "--yes", "--json")  # searched anew: erased
    assert again.code == 0, again
    assert _messages(path) == [XENIA[:-1], BOB[:-1]]

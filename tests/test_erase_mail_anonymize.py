"""Mailboxes configured to anonymize instead of deleting whole messages."""

from __future__ import annotations

import mailbox
import re

from helpers import write_inventory

MBOX = (
    b"From alice@example.com Mon Mar  2 09:15:00 2026\n"
    b"From: Alice <alice@example.com>\nTo: support@test.example\nSubject: My account\n\n"
    b"Hello\n>From my desk\n\n"  # escaped: an unescaped "From " line starts a message (as mailbox.mbox reads it)
    b"From bob@example.net Mon Mar  2 10:00:00 2026\n"
    b"From: bob@example.net\nTo: support@test.example\nSubject: Other\n\n"
    b"Hi\n>From the shop\n\n"
)


def systems(connector: str, path: str) -> str:
    return f"""
mail:
  connector: {connector}
  path: {path}
  identities: {{email: [from, to, cc]}}
  erase: {{action: anonymize, fields: {{from: hash, subject: redact, body: redact}}}}
"""


def test_mbox_anonymize_masks_the_subjects_messages_and_keeps_the_others(cli, tmp_path):
    (tmp_path / "mail.mbox").write_bytes(MBOX)
    inv = write_inventory(tmp_path, systems("mbox", "mail.mbox"))
    result = cli("-i", str(inv), "erase", "alice@example.com", "--yes", "--json")
    assert result.code == 0, result
    data = (tmp_path / "mail.mbox").read_bytes()
    bob = MBOX[MBOX.index(b"From bob@example.net"):]
    assert data.endswith(bob)  # the other message, ">From " escape included, byte for byte
    messages = list(mailbox.mbox(str(tmp_path / "mail.mbox")))
    assert len(messages) == 2
    masked = messages[0]
    assert re.fullmatch(r"[0-9a-f]{64}", masked["From"])
    assert masked["Subject"] == "[redacted]"
    assert masked.get_payload().strip() == "[redacted]"
    assert b"alice" not in data.lower().replace(b"from alice@example.com mon", b"")  # only the From_ line
    again = cli("-i", str(inv), "erase", "alice@example.com", "--yes", "--json")
    assert again.code == 0


def test_maildir_anonymize(cli, tmp_path):
    root = tmp_path / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (root / sub).mkdir(parents=True)
    (root / "cur" / "1.a:2,S").write_bytes(b"From: Alice <alice@example.com>\nSubject: Mine\n\nsecret text\n")
    other = b"From: bob@example.net\nSubject: Bob's\n\nhi\n"
    (root / "cur" / "2.b:2,S").write_bytes(other)
    inv = write_inventory(tmp_path, systems("maildir", "Maildir"))
    result = cli("-i", str(inv), "erase", "alice@example.com", "--yes", "--json")
    assert result.code == 0, result
    assert (root / "cur" / "2.b:2,S").read_bytes() == other
    masked = (root / "cur" / "1.a:2,S").read_bytes()
    assert b"alice" not in masked.lower() and b"secret text" not in masked
    assert b"Subject: [redacted]" in masked

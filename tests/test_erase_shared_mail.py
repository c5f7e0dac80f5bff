"""Shared mail: a message that names people other than the subject is redacted, not deleted (issue 17).

The mailboxes are written by hand in the shapes real mail has (folded headers, encoded display names,
CRLF Maildir files, Received trace fields, Dovecot size tags), and read back with the standard library's
`mailbox` and `email` (policy.default) as the oracle.
"""

from __future__ import annotations

import email
import mailbox
from email.policy import default as policy
from email.utils import getaddresses
from pathlib import Path

from helpers import write_inventory

BOB = "bob@example.net"  # the subject

# Support writes to Bob and Alice together: shared with Alice.
M_SHARED = (
    b"Return-Path: <support@test.example>\n"
    b"Received: from mx.test.example (mx.test.example [192.0.2.1])\n"
    b"\tby mail.example.net with ESMTPS id 4Q9xYz; for <bob@example.net>; Mon, 02 Mar 2026 11:00:05 +0000\n"
    b"From: Test Support <support@test.example>\n"
    b"To: \"Builder, Bob\" <Bob@Example.NET>, Alice Example <alice@example.com>\n"
    b"Subject: Re: Licence key not working\n"
    b"Date: Mon, 02 Mar 2026 11:00:00 +0000\n"
    b"Message-ID: <m-shared@test.example>\n"
    b"MIME-Version: 1.0\n"
    b"Content-Type: text/plain; charset=\"utf-8\"\n"
    b"Content-Transfer-Encoding: 8bit\n"
    b"\n"
    b"Hi Bob and Alice, the key works again.\n"
    b">From now on write to support@test.example.\n"
    b"\n"
)
# Bob and the support desk alone: Bob's, not shared.
M_DESK = (
    b"From: Bob Builder <bob@example.net>\n"
    b"To: support@test.example\n"
    b"Subject: Licence key not working\n"
    b"Date: Mon, 02 Mar 2026 09:15:00 +0000\n"
    b"Message-ID: <m-desk@example.net>\n"
    b"\n"
    b"My key says invalid.\n"
    b"\n"
)
# Bob in Cc, with an encoded display name, in a folded header: shared with Alice and Carol.
M_CC = (
    b"From: Alice Example <alice@example.com>\n"
    b"To: support@test.example\n"
    b"Cc: =?utf-8?q?Bob_B=C3=BClder?= <bob@example.net>,\n"
    b" Carol Other <carol@example.org>\n"
    b"Subject: Team licence\n"
    b"Date: Tue, 03 Mar 2026 10:00:00 +0000\n"
    b"Message-ID: <m-cc@example.com>\n"
    b"\n"
    b"Please add Bob and Carol to our team.\n"
    b"\n"
)
# Bob wrote it to two other people; his phone is in the subject line: shared with Alice and Dan.
M_FROM = (
    b"From: Bob Builder <bob@example.net>\n"
    b"To: Alice Example <alice@example.com>,\n"
    b"\tDan Double <dan@example.com>\n"
    b"Reply-To: bob@example.net\n"
    b"Subject: Call me on +44 7700 900123\n"
    b"Date: Wed, 04 Mar 2026 08:30:00 +0000\n"
    b"Message-ID: <m-from@example.net>\n"
    b"\n"
    b"Lunch on Friday?\n"
    b"\n"
)
# Nothing of Bob.
M_OTHER = (
    b"From: Carol Other <carol@example.org>\n"
    b"To: support@test.example\n"
    b"Subject: Invoice\n"
    b"Date: Thu, 05 Mar 2026 12:00:00 +0000\n"
    b"Message-ID: <m-other@example.org>\n"
    b"\n"
    b"Could I get a copy?\n"
    b"\n"
)
# Bob and the controller only: its desk, a subdomain of the contact's domain, a domain of
# `controller.domains`, and the mailbox's own address: not shared.
M_CONTROLLER = (
    b"From: bob@example.net\n"
    b"To: support@test.example, Billing <billing@eu.test.example>\n"
    b"Cc: ops@test-partner.example, helpdesk@desk-mail.example\n"
    b"Subject: Invoice address\n"
    b"Date: Fri, 06 Mar 2026 09:00:00 +0000\n"
    b"Message-ID: <m-controller@example.net>\n"
    b"\n"
    b"Please change it.\n"
    b"\n"
)
MESSAGES = {
    "m-shared": (b"From support@test.example Mon Mar  2 11:00:05 2026\n", M_SHARED),
    "m-desk": (b"From bob@example.net Mon Mar  2 09:15:00 2026\n", M_DESK),
    "m-cc": (b"From alice@example.com Tue Mar  3 10:00:00 2026\n", M_CC),
    "m-from": (b"From bob@example.net Wed Mar  4 08:30:00 2026\n", M_FROM),
    "m-other": (b"From carol@example.org Thu Mar  5 12:00:00 2026\n", M_OTHER),
    "m-controller": (b"From bob@example.net Fri Mar  6 09:00:00 2026\n", M_CONTROLLER),
}
SHARED = {"m-shared": 1, "m-cc": 2, "m-from": 2}  # message -> how many other people it names
OWN = {"m-desk", "m-controller"}  # Bob's alone: deleted

ACCOUNTS = "email,phone,customer_id\nbob@example.net,07700 900123,1043\nalice@example.com,,1042\n"


def systems(connector: str, path: str, extra: str = "") -> str:
    return f"""
accounts:
  connector: csv
  path: accounts.csv
  identities: {{email: email, phone: phone, customer_id: customer_id}}
  erase: delete
mail:
  connector: {connector}
  path: {path}
  address: helpdesk@desk-mail.example
  identities: {{email: [from, to, cc, reply-to]}}
{extra}"""


def inventory(tmp_path: Path, connector: str, path: str, extra: str = "", domains: bool = True) -> Path:
    (tmp_path / "accounts.csv").write_text(ACCOUNTS)
    inv = write_inventory(tmp_path, systems(connector, path, extra))
    if domains:  # the contact's domain (test.example) counts without being listed
        text = inv.read_text().replace("  contact: privacy@test.example\n",
                                       "  contact: privacy@test.example\n  domains: [test-partner.example]\n")
        inv.write_text(text)
    return inv


def write_mbox(path: Path) -> bytes:
    data = b"".join(line + message for line, message in MESSAGES.values())
    path.write_bytes(data)
    return data


def crlf(message: bytes) -> bytes:
    return message.replace(b"\n", b"\r\n")


MAILDIR_NAMES = {
    "m-shared": "cur/1772449205.M1P7.mx,S={size}:2,S",  # Dovecot: the size in the name
    "m-desk": "cur/1772442900.M2P7.mx:2,S",
    "m-cc": "new/1772532000.M3P7.mx",
    "m-from": "cur/1772613000.M4P7.mx:2,RS",
    "m-other": "cur/1772712000.M5P7.mx:2,",
    "m-controller": "cur/1772787600.M6P7.mx:2,S",
}


def write_maildir(root: Path) -> dict[str, bytes]:
    for sub in ("cur", "new", "tmp"):
        (root / sub).mkdir(parents=True)
    out = {}
    for mid, (_line, message) in MESSAGES.items():
        data = message[:-1]  # a Maildir file holds the message alone, no mbox separator
        if mid in ("m-cc", "m-other"):
            data = crlf(data)  # delivered with CRLF line ends, as an IMAP APPEND leaves them
        name = MAILDIR_NAMES[mid].format(size=len(data))
        (root / name).write_bytes(data)
        out[name] = data
    return out


def parse(raw: bytes):
    return email.message_from_bytes(raw, policy=policy)


def body_of(raw: bytes) -> bytes:
    for sep in (b"\r\n\r\n", b"\n\n"):
        if sep in raw:
            return raw.split(sep, 1)[1]
    return b""


def addresses(message, *names: str) -> set[str]:
    return {a.lower() for _n, a in getaddresses([str(v) for name in names for v in message.get_all(name) or []]) if a}


def assert_bob_is_gone(message) -> None:
    """No header field names Bob: not his address, nor his phone number, in any spelling."""
    for name, value in message.items():
        text = str(value).lower()
        assert BOB not in text and "7700 900123" not in text and "7700900123" not in text, (name, value)
    assert BOB not in addresses(message, "from", "to", "cc", "reply-to", "sender", "return-path")


def assert_redacted(raw_after: bytes, raw_before: bytes, mid: str) -> None:
    before, after = parse(raw_before), parse(raw_after)
    assert not after.defects and all(not getattr(v, "defects", None) for _n, v in after.items()), mid
    assert_bob_is_gone(after)
    # every other person's address is still where it was, the body byte for byte
    for name in ("from", "to", "cc", "reply-to"):
        assert addresses(before, name) - {BOB} <= addresses(after, name), (mid, name)
    assert body_of(raw_after) == body_of(raw_before), mid
    for name in ("subject", "date", "message-id"):
        if mid != "m-from" or name != "subject":
            assert after[name] == before[name], (mid, name)


def mbox_messages(path: Path) -> dict[str, tuple[bytes, bytes]]:
    """Message-ID -> (From_ line, message bytes) of an mbox, as the standard library frames it."""
    box = mailbox.mbox(str(path), create=False)
    out = {}
    for key in box.keys():
        raw = box.get_bytes(key)
        mid = parse(raw)["message-id"].strip("<>").split("@")[0]
        out[mid] = (box.get_message(key).get_from(), raw)
    box.close()
    return out


def test_mbox_shared_messages_are_redacted_the_subjects_own_deleted(cli, tmp_path):
    before = write_mbox(tmp_path / "support.mbox")
    inv = inventory(tmp_path, "mbox", "support.mbox")
    result = cli("-i", str(inv), "erase", BOB, "--yes", "--json")
    assert result.code == 0, result
    data = result.json()
    assert data["status"] == "ok" and not data["problems"]
    assert not [r for r in data["remaining"] if r["system"] == "mail"]  # the search after it finds nothing
    outcome = next(u for u in data["run"]["units"] if u["system"] == "mail")["collections"]["mail"]
    assert (outcome["deleted"], outcome.get("redacted")) == (2, 3)

    after = (tmp_path / "support.mbox").read_bytes()
    found = mbox_messages(tmp_path / "support.mbox")
    assert list(found) == ["m-shared", "m-cc", "m-from", "m-other"]  # Bob's own two are gone, order kept
    original = {mid: message.rstrip(b"\n") + b"\n" for mid, (_line, message) in MESSAGES.items()}
    for mid in SHARED:
        assert_redacted(found[mid][1], original[mid], mid)
    # the one message that never named Bob, byte for byte, and the file around it
    line, message = MESSAGES["m-other"]
    assert line + message in after
    assert after.endswith(line + message)
    # the envelope sender of Bob's own message became MAILER-DAEMON; the others' are kept
    assert found["m-from"][0].startswith("MAILER-DAEMON ")
    assert found["m-cc"][0].startswith("alice@example.com ")
    assert b"bob@example.net" not in after.lower() and b"7700 900123" not in after
    shared = parse(found["m-shared"][1])
    assert addresses(shared, "to") == {"alice@example.com"}
    assert "Return-Path" in shared and "for <[redacted]>" in shared["received"]  # the trace field, redacted
    cc = parse(found["m-cc"][1])
    assert addresses(cc, "cc") == {"carol@example.org"} and "Carol Other" in str(cc["cc"])
    sent = parse(found["m-from"][1])
    assert addresses(sent, "from") == {"redacted@invalid"}  # From must hold someone: a placeholder
    assert addresses(sent, "to") == {"alice@example.com", "dan@example.com"}
    assert "reply-to" not in sent and sent["subject"] == "Call me on [redacted]"
    # Alice still finds the messages she received
    alice = cli("-i", str(inv), "find", "alice@example.com", "--json").json()
    mail = next(s for s in alice["systems"] if s["system"] == "mail")
    assert sum(c["count"] for c in mail["collections"]) == 3

    again = cli("-i", str(inv), "erase", BOB, "--yes", "--json")  # nothing left to do
    assert again.code == 0, again
    assert (tmp_path / "support.mbox").read_bytes() == after
    assert before != after


def test_maildir_shared_messages_are_redacted_other_files_untouched(cli, tmp_path):
    root = tmp_path / "Maildir"
    files = write_maildir(root)
    inv = inventory(tmp_path, "maildir", "Maildir")
    result = cli("-i", str(inv), "erase", BOB, "--yes", "--json")
    assert result.code == 0, result
    assert not [r for r in result.json()["remaining"] if r["system"] == "mail"]

    box = mailbox.Maildir(str(root), factory=None, create=False)
    by_id = {}
    for key in box.keys():
        raw = box.get_bytes(key)
        by_id[parse(raw)["message-id"].strip("<>").split("@")[0]] = raw
    assert set(by_id) == {"m-shared", "m-cc", "m-from", "m-other"}
    originals = {}
    for name, data in files.items():
        mid = parse(data)["message-id"].strip("<>").split("@")[0]
        originals[mid] = (name, data)
    for mid in SHARED:
        assert_redacted(by_id[mid], originals[mid][1], mid)
    # the CRLF message stays CRLF throughout
    assert b"\n" not in by_id["m-cc"].replace(b"\r\n", b"")
    # the message that never named Bob: the same file, byte for byte
    name, data = originals["m-other"]
    assert (root / name).read_bytes() == data
    for mid in ("m-cc", "m-from"):  # redacted in place: same file name
        assert (root / originals[mid][0]).read_bytes() == by_id[mid]
    # Dovecot's size tag follows the new size
    shared = [p for p in (root / "cur").iterdir() if p.name.startswith("1772449205.")]
    assert len(shared) == 1 and shared[0].name == f"1772449205.M1P7.mx,S={shared[0].stat().st_size}:2,S"
    for mid in OWN:
        assert not (root / originals[mid][0]).exists()


def test_plan_marks_shared_messages_with_their_count(cli, tmp_path):
    write_mbox(tmp_path / "support.mbox")
    inv = inventory(tmp_path, "mbox", "support.mbox")
    before = (tmp_path / "support.mbox").read_bytes()
    result = cli("-i", str(inv), "erase", BOB, "--dry-run", "--json")
    assert result.code == 0, result
    plan = result.json()["plan"]
    mail = next(c for c in plan["collections"] if c["system"] == "mail")
    assert mail["count"] == 5 and mail["action"] == "delete"
    lines = {loc: mid for mid, loc in zip(MESSAGES, _locations(before))}
    shared = {lines[s["record"]]: (s["others"], s["action"]) for s in mail["shared"]}
    assert shared == {mid: (n, "redact") for mid, n in SHARED.items()}
    assert plan["counts"]["redact"] == 3 and plan["counts"]["delete"] == 3  # 2 messages and the CSV row
    text = cli("-i", str(inv), "erase", BOB, "--dry-run")
    assert text.code == 0
    flat = " ".join(text.out.replace("│", " ").split())  # the table wraps its cells
    assert "is shared with 1 other: the subject's addresses are taken out" in flat
    assert flat.count("is shared with 2 others") == 2
    assert (tmp_path / "support.mbox").read_bytes() == before


def _locations(data: bytes) -> list[str]:
    """support.mbox:LINE of every message's From_ line, in order."""
    out = []
    for lineno, line in enumerate(data.split(b"\n"), 1):
        if line.startswith(b"From ") and (lineno == 1 or data.split(b"\n")[lineno - 2] == b""):
            out.append(f"support.mbox:{lineno}")
    return out


def test_controller_addresses_are_not_other_people(cli, tmp_path):
    """m-controller names only the controller: its desk (the contact's domain), a subdomain of it, a
    domain of `controller.domains` and the mailbox's own `address:`. Without those, it is shared."""
    write_mbox(tmp_path / "support.mbox")
    inv = inventory(tmp_path, "mbox", "support.mbox")
    where = _locations((tmp_path / "support.mbox").read_bytes())[list(MESSAGES).index("m-controller")]
    plan = cli("-i", str(inv), "erase", BOB, "--dry-run", "--json").json()["plan"]
    mail = next(c for c in plan["collections"] if c["system"] == "mail")
    assert where in mail["records"] and where not in {s["record"] for s in mail["shared"]}

    bare = inventory(tmp_path, "mbox", "support.mbox", domains=False)
    bare.write_text(bare.read_text().replace("    address: helpdesk@desk-mail.example\n", ""))
    plan = cli("-i", str(bare), "erase", BOB, "--dry-run", "--json").json()["plan"]
    mail = next(c for c in plan["collections"] if c["system"] == "mail")
    # only the two outsiders now count; the contact's domain and its subdomain still do not
    assert {s["record"]: s["others"] for s in mail["shared"]}[where] == 2


def test_shared_keep_leaves_them_and_reports_them_kept(cli, tmp_path):
    before = write_mbox(tmp_path / "support.mbox")
    inv = inventory(tmp_path, "mbox", "support.mbox", extra="  shared: keep\n")
    result = cli("-i", str(inv), "erase", BOB, "--yes", "--json")
    assert result.code == 0, result
    data = result.json()
    mail = next(c for c in data["plan"]["collections"] if c["system"] == "mail")
    assert sorted(s["others"] for s in mail["shared"]) == [1, 2, 2]
    assert {s["action"] for s in mail["shared"]} == {"keep"}
    found = mbox_messages(tmp_path / "support.mbox")
    assert list(found) == ["m-shared", "m-cc", "m-from", "m-other"]
    for mid in ("m-shared", "m-cc", "m-from", "m-other"):  # untouched, byte for byte
        line, message = MESSAGES[mid]
        assert line + message in before and line + message in (tmp_path / "support.mbox").read_bytes()
    [kept] = [r for r in data["remaining"] if r["system"] == "mail"]
    assert (kept["status"], kept["count"]) == ("kept", 3)
    assert kept["reason"] == "shared with 1 other; shared with 2 others"
    assert not data["problems"]


def test_shared_delete_deletes_them_as_before(cli, tmp_path):
    write_mbox(tmp_path / "support.mbox")
    inv = inventory(tmp_path, "mbox", "support.mbox", extra="  shared: delete\n")
    result = cli("-i", str(inv), "erase", BOB, "--yes", "--json")
    assert result.code == 0, result
    mail = next(c for c in result.json()["plan"]["collections"] if c["system"] == "mail")
    assert {s["action"] for s in mail["shared"]} == {"delete"} and len(mail["shared"]) == 3
    found = mbox_messages(tmp_path / "support.mbox")
    assert list(found) == ["m-other"]
    line, message = MESSAGES["m-other"]
    assert (tmp_path / "support.mbox").read_bytes() == line + message


def test_maildir_shared_keep(cli, tmp_path):
    root = tmp_path / "Maildir"
    files = write_maildir(root)
    inv = inventory(tmp_path, "maildir", "Maildir", extra="  shared: keep\n")
    result = cli("-i", str(inv), "erase", BOB, "--yes", "--json")
    assert result.code == 0, result
    left = {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}
    own = {n for n, d in files.items() if parse(d)["message-id"].split("@")[0].strip("<") in OWN}
    assert left == {n: d for n, d in files.items() if n not in own}


def test_a_batch_of_everyone_a_message_names_deletes_it(cli, tmp_path):
    """Bob and Alice erased together: a message between the two of them and support is no one else's."""
    write_mbox(tmp_path / "support.mbox")
    inv = inventory(tmp_path, "mbox", "support.mbox")
    batch = tmp_path / "batch.txt"
    batch.write_text(f"{BOB}\nalice@example.com\n")
    result = cli("-i", str(inv), "erase", "--batch", str(batch), "--yes", "--json")
    assert result.code == 0, result
    found = mbox_messages(tmp_path / "support.mbox")
    assert "m-shared" not in found and "m-desk" not in found
    # still shared with Carol / Dan: redacted of both subjects
    for mid in ("m-cc", "m-from"):
        message = parse(found[mid][1])
        assert_bob_is_gone(message)
        assert "alice@example.com" not in str(message).lower()


def test_inventory_rejects_bad_sharing_keys(cli, tmp_path):
    write_mbox(tmp_path / "support.mbox")
    inv = inventory(tmp_path, "mbox", "support.mbox", extra="  shared: maybe\n")
    r = cli("-i", str(inv), "inventory", "check")
    assert r.code == 2
    assert "inventory.yaml:" in r.err and "shared" in r.err and "redact, delete, keep" in r.err
    assert len(r.err.strip().splitlines()) == 1

    inv.write_text(inv.read_text().replace("    shared: maybe\n", "").replace(
        "    erase: delete\n  mail:", "    erase: delete\n    shared: keep\n  mail:"))
    r = cli("-i", str(inv), "inventory", "check")
    assert r.code == 2 and "applies to imap, maildir and mbox systems only, not to csv" in r.err, r
    assert len(r.err.strip().splitlines()) == 1 and "inventory.yaml:" in r.err

    inv = inventory(tmp_path, "mbox", "support.mbox")
    inv.write_text(inv.read_text().replace("address: helpdesk@desk-mail.example", "address: helpdesk"))
    r = cli("-i", str(inv), "inventory", "check")
    assert r.code == 2 and "'helpdesk' is not an e-mail address" in r.err

    inv = inventory(tmp_path, "mbox", "support.mbox")
    inv.write_text(inv.read_text().replace("domains: [test-partner.example]", "domains: ['@test-partner.example']"))
    r = cli("-i", str(inv), "inventory", "check")
    assert r.code == 2 and "write the domain alone" in r.err and "inventory.yaml:" in r.err


def test_demo_erase_of_bob_keeps_the_message_alice_received(cli, demo_dir):
    inv = str(demo_dir / "inventory.yaml")

    def support_count() -> int:
        data = cli("-i", inv, "find", "alice@example.com", "--json").json()
        return sum(c["count"] for s in data["systems"] if s["system"] == "support" for c in s["collections"])

    before = support_count()
    plan = cli("-i", inv, "erase", "bob@example.net", "--dry-run", "--json").json()["plan"]
    support = next(c for c in plan["collections"] if c["system"] == "support")
    assert [(s["others"], s["action"]) for s in support["shared"]] == [(1, "redact")]
    result = cli("-i", inv, "erase", "bob@example.net", "--yes", "--json")
    assert result.code == 0, result
    assert support_count() == before == 2
    mbox = (demo_dir / "demo" / "support.mbox").read_bytes()
    assert b"bob@example.net" not in mbox.lower()
    assert b'To: "Example, Alice" <alice@example.com>\n' in mbox


def test_replay_after_a_restore_redacts_the_shared_messages_again(cli, tmp_path):
    """The erasure kept only keyed hashes; a restored mailbox is erased again to the same bytes."""
    pristine = write_mbox(tmp_path / "support.mbox")
    inv = inventory(tmp_path, "mbox", "support.mbox")
    assert cli("-i", str(inv), "erase", BOB, "--yes").code == 0
    erased = (tmp_path / "support.mbox").read_bytes()
    (tmp_path / "support.mbox").write_bytes(pristine)  # a backup restore
    (tmp_path / "accounts.csv").write_text(ACCOUNTS)
    result = cli("-i", str(inv), "erase", "--replay", "--yes", "--json")
    assert result.code == 0, result
    mail = next(c for c in result.json()["plan"]["collections"] if c["system"] == "mail")
    assert sorted(s["others"] for s in mail["shared"]) == [1, 2, 2]
    assert (tmp_path / "support.mbox").read_bytes() == erased


def _subject_test(tmp_path: Path):
    from dsarctl.connectors.shared_mail import SubjectTest
    from dsarctl.inventory import load_inventory
    from dsarctl.keys import keyed_hash

    inv = load_inventory(inventory(tmp_path, "mbox", "support.mbox"))
    key = b"k" * 32
    return SubjectTest(key, [keyed_hash(key, "email", BOB), keyed_hash(key, "phone", "+447700900123")], inv)


def test_redaction_of_real_world_header_shapes(tmp_path):
    """The redaction itself, on shapes the end-to-end fixtures do not have: a group, CRLF, raw UTF-8 and
    Latin-1 bytes, a help desk's "via" name, trace and envelope fields, a field the parser counts as body."""
    from dsarctl.connectors.shared_mail import redact_message

    subject = _subject_test(tmp_path)
    raw = (b"Return-Path: <bob@example.net>\r\n"
           b"Delivered-To: bob@example.net\r\n"
           b"From: \"bob@example.net via Support\" <noreply@helpdesk.example>\r\n"
           b"Sender: Bob <BOB@EXAMPLE.NET>\r\n"
           b"To: Team: alice@example.com, =?utf-8?q?B=C3=B6b?= <bob@example.net>;,\r\n"
           b" Caf\xe9 Owner <cafe@example.fr>\r\n"
           b"Cc: Jos\xc3\xa9 <jos\xc3\xa9@example.com>\r\n"  # raw UTF-8 (RFC 6532)
           b"Bcc: bob@example.net\r\n"
           b"Subject: =?utf-8?q?R=C3=A9union_avec_bob@example.net?=\r\n"
           b"X-Note: call +44 7700 900123 or bob@example.net.\r\n"
           b"In-Reply-To: <bob@example.net>\r\n"
           b"\r\n"
           b"Body, Bob <bob@example.net> wrote:\r\n")
    out = redact_message(raw, subject)
    head, body = out.split(b"\r\n\r\n", 1)
    assert body == raw.split(b"\r\n\r\n", 1)[1]  # the body, byte for byte
    assert b"\n" not in head.replace(b"\r\n", b"")  # CRLF kept throughout
    message = parse(out)
    assert not message.defects
    for name in ("return-path", "delivered-to", "sender", "bcc"):
        assert name not in message, name
    assert str(message["from"]) == "noreply@helpdesk.example"  # the name named Bob, the address is not his
    assert str(message["to"].groups[0]) == "Team: alice@example.com;"
    assert [a.addr_spec for a in message["to"].addresses] == ["alice@example.com", "cafe@example.fr"]
    assert b" Caf\xe9 Owner <cafe@example.fr>" in head  # another person's bytes as written (Latin-1)
    assert "Cc: José <josé@example.com>\r\n".encode() in head  # a field without Bob: untouched
    assert message["subject"] == "Réunion avec [redacted]"
    assert message["x-note"] == "call [redacted] or [redacted]."
    assert message["in-reply-to"] == "<bob@example.net>"  # message ids are never changed


def test_redaction_leaves_what_the_parser_reads_as_body(tmp_path):
    """A line that is no header field ends the header: what follows is body to Python, and stays."""
    from dsarctl.connectors.shared_mail import redact_message

    raw = b"From: carol@example.org\nTo: bob@example.net, dan@example.com\nnot a field\nCc: bob@example.net\n\nhi\n"
    out = redact_message(raw, _subject_test(tmp_path))
    assert out == b"From: carol@example.org\nTo: dan@example.com\nnot a field\nCc: bob@example.net\n\nhi\n"

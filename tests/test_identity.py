import pytest
from hypothesis import given, strategies as st

from dsarctl.errors import IdentifierError
from dsarctl.identity import Identifier, IdentityKind, normalise_email, normalise_phone, parse_identifier

KINDS = {
    "email": IdentityKind("email", "email"),
    "phone": IdentityKind("phone", "phone", region="GB"),
    "customer_id": IdentityKind("customer_id", "string", unique=True),
}


@pytest.mark.parametrize("raw,expected", [
    ("alice@example.com", "alice@example.com"),
    ("  Alice@Example.COM ", "alice@example.com"),
    ("mailto:bob@example.net", "bob@example.net"),
    ("not an address", None),
    ("write to alice@example.com please", None),
    ("@example.com", None),
    ("alice@", None),
    ("", None),
])
def test_email_normalisation(raw, expected):
    assert normalise_email(raw) == expected


@pytest.mark.parametrize("raw,expected", [
    ("020 7946 0958", "+442079460958"),
    ("+44 20 7946 0958", "+442079460958"),
    ("0044 20 7946 0958", "+442079460958"),
    ("(020) 7946-0958", "+442079460958"),
    ("12", None),
    ("no digits", None),
])
def test_phone_normalisation_is_e164(raw, expected):
    assert normalise_phone(raw, "GB") == expected


def test_string_normalisation_accepts_numbers():
    kind = KINDS["customer_id"]
    assert kind.normalise(1042) == "1042"
    assert kind.normalise(1042.0) == "1042"
    assert kind.normalise(" 1042 ") == "1042"
    assert kind.normalise(True) is None
    assert kind.normalise("") is None


@pytest.mark.parametrize("text,expected", [
    ("alice@example.com", Identifier("email", "alice@example.com")),
    ("ALICE@example.com", Identifier("email", "alice@example.com")),
    ("+44 20 7946 0958", Identifier("phone", "+442079460958")),
    ("customer_id:1042", Identifier("customer_id", "1042")),
    ("email:Bob@Example.net", Identifier("email", "bob@example.net")),
    ("phone:020 7946 0958", Identifier("phone", "+442079460958")),
])
def test_subject_kinds_inferred_or_explicit(text, expected):
    assert parse_identifier(text, KINDS) == expected


@pytest.mark.parametrize("text,message", [
    ("1042", "cannot tell what kind"),
    ("order:1", "unknown identifier kind 'order'"),
    ("email:nope", "not a valid email"),
    ("+1", "not a valid phone"),
    ("", "empty identifier"),
])
def test_bad_subjects_are_identifier_errors(text, message):
    with pytest.raises(IdentifierError, match=message):
        parse_identifier(text, KINDS)


@given(st.text(max_size=60))
def test_normalisers_never_crash_and_are_idempotent(text):
    for kind in KINDS.values():
        value = kind.normalise(text)
        if value is not None:
            assert kind.normalise(value) == value


@given(st.emails())
def test_every_generated_email_normalises_case_insensitively(address):
    assert normalise_email(address.upper()) == normalise_email(address) == address.casefold()


# --- quoted local parts (RFC 5322 3.4.1) ------------------------------------------------------------------


@pytest.mark.parametrize("raw,expected", [
    ('"john doe"@example.com', '"john doe"@example.com'),
    (' "John Doe"@Example.COM ', '"john doe"@example.com'),  # trimmed and case-folded like any address
    ('mailto:"john doe"@example.com', '"john doe"@example.com'),
    ('"a,b;c<d>@e"@example.com', '"a,b;c<d>@e"@example.com'),  # punctuation inside the quotes is text
    ('"say \\"hi\\""@example.com', '"say \\"hi\\""@example.com'),  # a quoted-pair
    ('"john.doe"@example.com', '"john.doe"@example.com'),  # kept as written: not john.doe@example.com
    ('john doe@example.com', None),  # a space outside quotes
    ('""@example.com', None),
    ('"john doe@example.com', None),
    ('"john"doe@example.com', None),
    ('"john\ndoe"@example.com', None),
    ('"ends in a backslash\\"@example.com', None),
    ('write to "john doe"@example.com please', None),
])
def test_quoted_local_parts_are_addresses(raw, expected):
    assert normalise_email(raw) == expected


def test_a_quoted_address_is_a_subject():
    assert parse_identifier('"john doe"@example.com', KINDS) == Identifier("email", '"john doe"@example.com')
    assert parse_identifier('email:"a:b"@example.com', KINDS) == Identifier("email", '"a:b"@example.com')
    assert parse_identifier('"a:b"@example.com', KINDS) == Identifier("email", '"a:b"@example.com')


QUOTED_NEIGHBOURS = ['"john doe"@example.com', '"John Doe"@EXAMPLE.com', 'johndoe@example.com',
                     '"john  doe"@example.com', '"john.doe"@example.com', 'john.doe@example.com',
                     'x"john doe"@example.com', '"john doe"@example.com.uk']


def test_find_matches_a_quoted_address_exactly_in_every_kind_of_source(tmp_path, cli):
    """`"john doe"@example.com` is found in CSV, JSON Lines, SQLite and an mbox exactly where it (in any
    case) is written, and nowhere that holds a neighbour of it."""
    import csv
    import json
    import sqlite3

    from helpers import write_inventory

    rows = list(enumerate(QUOTED_NEIGHBOURS, 1))
    with open(tmp_path / "people.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "email"])
        writer.writerows(rows)
    (tmp_path / "events.jsonl").write_text("".join(json.dumps({"id": i, "email": e}) + "\n" for i, e in rows))
    db = sqlite3.connect(tmp_path / "crm.db")
    db.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, email TEXT)")
    db.executemany("INSERT INTO customers VALUES (?, ?)", rows)
    db.commit()
    db.close()
    (tmp_path / "support.mbox").write_text("".join(
        f"From x@y Thu Jan  1 00:00:00 2026\nFrom: {e}\nTo: help@test.example\nSubject: {i}\n\nhello\n\n"
        for i, e in rows))
    inventory = write_inventory(tmp_path, """
        people: {connector: csv, path: people.csv, identities: {email: email}}
        events: {connector: jsonl, path: events.jsonl, identities: {email: email}}
        crm:
          connector: sql
          url: sqlite:///crm.db
          collections:
            customers: {identities: {email: email}}
        support: {connector: mbox, path: support.mbox, identities: {email: [from, to]}}
    """)
    result = cli("-i", str(inventory), "find", '"john doe"@example.com', "--json", "--no-expand")
    assert result.code == 0, result
    data = result.json()
    counts = {(s["system"], c["collection"]): c["count"] for s in data["systems"] for c in s["collections"]}
    assert counts == {("people", "people"): 2, ("events", "events"): 2, ("crm", "customers"): 2,
                      ("support", "support"): 2}, counts

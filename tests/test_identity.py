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

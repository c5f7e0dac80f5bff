"""The inventory's keys, declared once: the loader validates against them and `inventory schema`
turns them into JSON Schema. Connector-specific keys come from each connector class."""

from __future__ import annotations

from ..deadlines import REGIME_IDS  # noqa: F401  (the list of regimes lives with their rules)
from ..keyspec import KeySpec

TOP_KEYS = {
    "version": KeySpec("int", "Inventory format version; always 1.", required=True),
    "controller": KeySpec("object", "Who answers requests.", required=True),
    "audit": KeySpec("object", "Where the audit log lives."),
    "identities": KeySpec("object", "Identifier kinds and how their values are normalised.", required=True),
    "custom_regime": KeySpec("object", "Deadline rules for regime 'custom' (the controller's own promise)."),
    "systems": KeySpec("object", "Every place personal data lives.", required=True),
}

CONTROLLER_KEYS = {
    "name": KeySpec("str", "Legal name of the controller.", required=True),
    "contact": KeySpec("str", "Where subjects write to (e-mail or postal address).", required=True),
    "timezone": KeySpec("str", "IANA time zone; receipt dates are local dates in it (default UTC)."),
    "regime": KeySpec("str", "Default deadline regime for new requests."),
    "holidays": KeySpec("str", "Public-holiday calendar (holidays package code such as GB-ENG, DE, US-CO)."),
    "address": KeySpec("str", "Postal address of the controller."),
    "dpo": KeySpec("str", "Contact of the data protection officer."),
    "authority": KeySpec("object", "Supervisory authority to complain to: {name, url, address, email, phone}."),
    "domains": KeySpec("strlist", "The controller's own mail domains (subdomains included), besides the domain of "
                                  "`contact`: their addresses are not other people in a shared message."),
    "smtp": KeySpec("object", "The mail server `letter --send` sends through: {host, port, tls, username, password, from}."),
    "letters": KeySpec("path", "Folder of the company's own letter templates (default: letters/ beside the inventory)."),
    "automated_decisions": KeySpec("decisions", "Art. 15(1)(h): 'none', or {name, logic, significance, consequences} "
                                                "(a list for several); on a system it replaces the controller's."),
    "transfers": KeySpec("transfers", "Art. 15(2): 'none', or a list of {country, safeguard, recipient} "
                                      "(safeguard: adequacy decision, SCCs, UK IDTA...); on a system it replaces "
                                      "the controller's."),
}

SMTP_KEYS = {
    "host": KeySpec("str", "The SMTP server's host name.", required=True),
    "port": KeySpec("int", "Default 587 with `tls: starttls`, 465 with `implicit`, 25 with `none`."),
    "tls": KeySpec("str", "starttls (default) | implicit | none (none only for localhost).",
                   choices=("starttls", "implicit", "none")),
    "username": KeySpec("str", "Login name, if the server asks for one."),
    "password": KeySpec("secret", "Password: write ${VAR}, never the value; it is never printed."),
    "from": KeySpec("str", "The From address (default: controller.contact when it is an e-mail address)."),
}

AUDIT_KEYS = {
    "path": KeySpec("path", "SQLite audit log, relative to the inventory (default .dsarctl/audit.db)."),
}

IDENTITY_KEYS = {
    "type": KeySpec("str", "email (trimmed, case-insensitive), phone (E.164) or string (trimmed, exact)."),
    "region": KeySpec("str", "phone only: default country for numbers written without +CC (e.g. GB)."),
    "unique": KeySpec("bool", "One person has at most one value: two values found flag the result as ambiguous."),
}

CUSTOM_REGIME_KEYS = {
    "period": KeySpec("str", "Deadline period, e.g. '30 days', '1 month', '10 business days'.", required=True),
    "extension": KeySpec("str", "Extension allowed on top, same grammar; omit for none."),
    "pause": KeySpec("bool", "Whether waiting for identification/clarification pauses the clock."),
    "roll": KeySpec("bool", "Whether a due date on a weekend/holiday moves to the next working day (default true)."),
}

SYSTEM_KEYS = {
    "connector": KeySpec("str", "sql | csv | jsonl | mbox | maildir | manual, or a plugin's name."),
    "description": KeySpec("str", "What this system is."),
    "owner": KeySpec("str", "Who is responsible for it."),
    "purposes": KeySpec("strlist", "Purposes of processing (Art. 15(1)(a))."),
    "lawful_basis": KeySpec("str", "Lawful basis (Art. 6): consent, contract, legal obligation, legitimate interests..."),
    "retention": KeySpec("str", "How long data is kept (Art. 15(1)(d))."),
    "recipients": KeySpec("strlist", "Recipients and processors the data is disclosed to (Art. 15(1)(c))."),
    "source": KeySpec("str", "Where the data came from (Art. 15(1)(g)); e.g. 'the subject, at sign-up'."),
    "automated_decisions": KeySpec("decisions", "Art. 15(1)(h): 'none', or {name, logic, significance, consequences} "
                                                "(a list for several); on a system it replaces the controller's."),
    "transfers": KeySpec("transfers", "Art. 15(2): 'none', or a list of {country, safeguard, recipient} "
                                      "(safeguard: adequacy decision, SCCs, UK IDTA...); on a system it replaces "
                                      "the controller's."),
    "collections": KeySpec("object", "Tables/files of this system, each with identities, categories and erase."),
    "erase": KeySpec("erase", "Default erase rule for the collections of this system."),
    "suppress": KeySpec("bool", "Keep keyed hashes of erased identifiers so they are not re-imported."),
    "expand": KeySpec("bool", "Follow identifiers found in these records (default true; false for mailboxes)."),
}

COLLECTION_KEYS = {
    "description": KeySpec("str", "What this collection holds."),
    "identities": KeySpec("object", "identity kind -> field (or list of fields; dotted paths for nested JSON).", required=True),
    "categories": KeySpec("object", "field -> category of personal data (e.g. name: contact.name)."),
    "erase": KeySpec("erase", "delete | anonymize (fields) | retain (reason, until, fields)."),
    "suppress": KeySpec("bool", "Keep keyed hashes of erased identifiers so they are not re-imported."),
    "expand": KeySpec("bool", "Follow identifiers found in these records (default true; false for mailboxes)."),
    "created": KeySpec("str", "The field holding when a record was created (date or datetime; dotted path for "
                              "JSON): `erase --replay` leaves alone records created after the erasure."),
}

LINK_KEYS = {
    "field": KeySpec("str", "The field (column, CSV header, dotted JSON path).", required=True),
    "search": KeySpec("bool", "false: never search this collection by the field; its values are still "
                              "followed to other records (a link to a row many people share)."),
    "follow": KeySpec("bool", "false: search the collection by the field, but do not follow the values "
                              "found in it to other records."),
}

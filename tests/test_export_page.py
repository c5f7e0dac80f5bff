"""index.html of the access package reads well from a 320 px phone to a desktop (issue 20): measured
in a real headless Chromium (tests/browser.py, DSARCTL_TEST_CHROMIUM) on the package of a subject with
messy, real-shaped data: a long e-mail address, long ids, a token and a URL without spaces, a sentence
of ordinary words, phone numbers, a table of many columns, a source that could not be read and a
processor's step still open (the page's red and yellow boxes).

What is asserted, from the rendered page:
- nothing is wider than the viewport: the page does not scroll sideways, and no element outside a box
  that scrolls by itself reaches past the screen's edges; no box cuts its content off;
- at phone width, the only boxes that scroll sideways are single identifiers longer than the screen
  (records are cards there, not a table that has to be scrolled);
- every identifier (e-mail, ids, phone numbers, dates, file names) lies on one line wherever it
  appears, and so does every word of ordinary text (a word is never broken between two letters).
"""

from __future__ import annotations

import json
import re
import sqlite3
import struct
import zipfile
from datetime import datetime, timezone
from pathlib import Path

import pytest

from browser import Browser, chromium_binary
from helpers import find, load

LONG_EMAIL = "maximilian.alexander.featherstonehaugh-montgomery@subdomain.example-company.co.uk"
CUSTOMER_ID = "9f8b2c1e-4d3a-4b6f-9a7e-1c2d3e4f5a6b-0001042"
ORDER_ID = "ORD-2026-11-000000004711"
PHONE = "+44 20 7946 0958"
PHONE_COMPACT = "+442079460958"
CREATED = "2026-03-14T09:26:53+00:00"
IBAN = "GB82WEST12345698765432"
REQUEST_ID = "R-2026-0042"
TOKEN = "eyJhbGciOiJSUzI1NiIsImtpZCI6" + "Zm9vYmFyYmF6cXV4" * 22  # 380 characters, no space
URL = ("https://tracking.example-courier.co.uk/parcels/lookup?reference=GB-PARCEL-7781-2231-0094-5520"
       + "&utm_source=newsletter&utm_medium=email&utm_campaign=winter-sale-2026-final-reminder")
SENTENCE = ("Customer asked us to update the delivery address because the courier repeatedly misdelivered "
            "parcels to the neighbouring building on Featherstonehaugh Road; please double-check before "
            "dispatching anything else.")
EXTRA = [f"preference_{n:02d}" for n in range(1, 15)]  # many columns

IDENTIFIERS = [LONG_EMAIL, CUSTOMER_ID, ORDER_ID, PHONE, PHONE_COMPACT, CREATED, IBAN, REQUEST_ID,
               "data/crm/customers.json", "data/crm/orders.csv", "privacy@test.example"]
WORDS = sorted({w for w in re.findall(r"[A-Za-z-]+", SENTENCE) if len(w) >= 5})


def messy_company(folder: Path):
    db = folder / "crm.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, customer_id TEXT, email TEXT, name TEXT, "
                     "phone TEXT, mobile TEXT, iban TEXT, address TEXT, session_token TEXT, created_at TEXT, "
                     + ", ".join(f"{c} TEXT" for c in EXTRA) + ")")
        conn.execute(f"INSERT INTO customers VALUES ({', '.join('?' * (10 + len(EXTRA)))})",
                     (1042, CUSTOMER_ID, LONG_EMAIL, "Maximilian Featherstonehaugh-Montgomery", PHONE,
                      PHONE_COMPACT, IBAN, "Flat 4, 221B Featherstonehaugh Road, London NW1 6XE, United Kingdom",
                      TOKEN, CREATED, *[("yes", "no", "weekly", "")[n % 4] for n in range(len(EXTRA))]))
        conn.execute("INSERT INTO customers (id, customer_id, email) VALUES (7, 'other', 'other@example.com')")
        conn.execute("CREATE TABLE orders (order_id TEXT, customer_id TEXT, note TEXT, tracking TEXT, total TEXT)")
        conn.executemany("INSERT INTO orders VALUES (?,?,?,?,?)",
                         [(ORDER_ID, CUSTOMER_ID, SENTENCE, URL, "1249.50"),
                          ("ORD-2026-11-000000004712", CUSTOMER_ID, "", "", "-12.50")])
    conn.close()
    return load(folder, """
        crm:
          connector: sql
          url: sqlite:///crm.db
          description: Customer accounts and orders (our online shop's database)
          purposes: [providing the service you signed up for, billing]
          lawful_basis: contract (Art. 6(1)(b))
          retention: 6 years after the end of the contract (tax law)
          recipients: [Featherstonehaugh-Montgomery Logistics International Holdings Ltd]
          collections:
            customers:
              identities: {email: email, customer_id: customer_id}
            orders:
              identities: {customer_id: customer_id}
        usage:
          connector: jsonl
          path: gone/usage-events-exported-from-the-warehouse-2026-11-30T23-59-59Z.jsonl
          identities: {email: user.email}
        analytics:
          description: Website analytics
          connector: manual
          processor: Featherstonehaugh-Montgomery Analytics International Holdings GmbH & Co. KG
          purposes: [understanding how the website is used]
          identities: [email]
          instructions: Delete the user in the admin console.
    """)


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> Path:
    """The messy subject's package, unzipped; returns its index.html."""
    from dsarctl.export import write_package

    folder = tmp_path_factory.mktemp("messy")
    inventory = messy_company(folder)
    result = find(inventory, LONG_EMAIL)
    target = folder / "access.zip"
    write_package(inventory, result, target, now=datetime(2026, 12, 7, 9, 0, tzinfo=timezone.utc),
                  request_id=REQUEST_ID)
    with zipfile.ZipFile(target) as zf:
        zf.extractall(folder / "package")
    return folder / "package" / "index.html"


@pytest.fixture(scope="module")
def browser():
    with Browser(chromium_binary()) as b:
        yield b


# Runs in the page: what reaches past the screen, what is cut off, which boxes scroll sideways, and
# which occurrences of the given texts lie on more than one line.
MEASURE = r"""
((texts) => {
  const vw = document.documentElement.clientWidth;
  const name = (el) => el.tagName.toLowerCase() + (el.className ? "." + String(el.className).trim().split(/\s+/).join(".") : "")
    + ' "' + el.textContent.trim().replace(/\s+/g, " ").slice(0, 50) + '"';
  const insideClipper = (el) => {
    for (let p = el.parentElement; p && p !== document.body; p = p.parentElement)
      if (getComputedStyle(p).overflowX !== "visible") return true;
    return false;
  };
  const wide = [], cut = [], scrollers = [];
  for (const el of document.body.querySelectorAll("*")) {
    const style = getComputedStyle(el);
    const r = el.getBoundingClientRect();
    if (r.width <= 1) continue;  // not shown, or visually hidden for screen readers
    if (!insideClipper(el) && (r.left < -0.5 || r.right > vw + 0.5))
      wide.push(`${name(el)} spans ${Math.round(r.left)}..${Math.round(r.right)}`);
    if (style.overflowX !== "visible" && el.scrollWidth > el.clientWidth + 1)
      (["auto", "scroll"].includes(style.overflowX) ? scrollers : cut).push(el.textContent.trim());
  }
  const found = {}, broken = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    for (const text of texts) {
      for (let i = node.data.indexOf(text); i >= 0; i = node.data.indexOf(text, i + text.length)) {
        const range = document.createRange();
        range.setStart(node, i);
        range.setEnd(node, i + text.length);
        const rects = [...range.getClientRects()].filter((q) => q.width > 0);
        if (!rects.length) continue;
        found[text] = (found[text] || 0) + 1;
        if (rects.some((q) => q.top >= rects[0].bottom - 1))
          broken.push(`${text} in ${name(node.parentElement)}`);
      }
    }
  }
  return {vw, pageWidth: document.documentElement.scrollWidth, wide, cut, scrollers, found, broken};
})
"""


def measure(browser: Browser, page: Path, width: int) -> dict:
    browser.open(page.as_uri(), width=width)
    return browser.evaluate(f"{MEASURE}({json.dumps(IDENTIFIERS + WORDS)})")


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


@pytest.mark.parametrize("width", [320, 390, 1280])
def test_the_page_fits_the_screen_and_keeps_identifiers_and_words_whole(browser, page, width, tmp_path):
    report = measure(browser, page, width)
    assert report["vw"] == width
    assert report["pageWidth"] <= width, report["wide"]
    assert report["wide"] == []
    assert report["cut"] == []
    assert report["broken"] == []
    # each text was on the page, so "never broken" was measured and is not vacuous
    assert sorted(report["found"]) == sorted(IDENTIFIERS + WORDS)
    if width < 640:
        # records are cards: no table to scroll; only an identifier longer than the screen scrolls,
        # inside its own box
        allowed = {f"{kind}: {value}" for kind in ("email", "customer_id") for value in IDENTIFIERS} | set(IDENTIFIERS)
        assert set(report["scrollers"]) <= allowed, report["scrollers"]
    shot = browser.screenshot(tmp_path / f"index-{width}.png")
    assert png_size(shot)[0] == width


def test_records_are_cards_on_a_phone_and_a_table_on_a_desktop_unless_they_have_many_columns(browser, page):
    """The same records, read column by column: in a card each value shows its column's name (above
    it on a phone, beside it on a desktop). Orders (5 columns) are a table on a desktop; customers
    (24 columns) stay cards, so that no one has to scroll a record sideways."""
    cells = ("[...document.querySelectorAll('td')].filter((td) => td.textContent === %s).map((td) => "
             "[getComputedStyle(td).display, getComputedStyle(td, '::before').content])")
    browser.open(page.as_uri(), width=390)
    assert browser.evaluate(cells % json.dumps(IBAN)) == [["block", '"iban"']]
    assert browser.evaluate(cells % json.dumps("1249.50")) == [["block", '"total"']]
    browser.open(page.as_uri(), width=1280)
    assert browser.evaluate(cells % json.dumps(IBAN)) == [["grid", '"iban"']]
    assert browser.evaluate(cells % json.dumps("1249.50")) == [["table-cell", "none"]]


@pytest.mark.parametrize("text, whole", [
    (LONG_EMAIL, True), ("a" * 60 + "@" + "b" * 60 + ".example", True), ("a" * 70 + "@" + "b" * 60 + ".example", False), (CUSTOMER_ID, True), (PHONE, True),
    ("+1 (555) 010-9999", True), (CREATED, True), ("data/crm/customers.json", True), ("-12.50", True),
    ("x" * 80, True), ("x" * 81, False), (TOKEN, False), (URL, False), (SENTENCE, False),
    ("Alice Example", False), ("", False), ("two\nlines", False),
])
def test_which_values_are_kept_on_one_line(text, whole):
    from dsarctl.export import looks_like_identifier

    assert looks_like_identifier(text) is whole

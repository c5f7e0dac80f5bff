"""The demo company (Northwind Software Ltd): creates the data sources the top-level inventory.yaml
names, with a few people including the tricky ones:

- Alice (alice@example.com, customer 1042): every system; CRM holds her address as Alice@Example.COM,
  the newsletter with spaces around it, the support mail with an RFC 2047 encoded display name; some
  telemetry events carry only her account number, some order lines only an order id.
- Bob (bob@example.net, 1043): unsubscribed from the newsletter; a second address reaches him by phone.
- Zoe (zoe@example.org, 1044) next to look-alikes: xzoe@example.org.uk and zoe@example.org.au, and a
  ticket of someone else that merely mentions her address in its text.
- Dan (dan@example.com): two customer accounts (1045, 1046) — an ambiguous identity.
- Erin (erin@example.com): only in the newsletter and the sales inbox.

The data is fixed (no clock, no randomness) so tests can count on it.
"""

from __future__ import annotations

import csv
import json
import os
import sqlite3
from pathlib import Path

from .errors import UsageError
from .inventory.model import Inventory

CUSTOMERS = [
    # id, name, email, phone, address, created_at, last_login
    (1042, "Alice Example", "Alice@Example.COM", "020 7946 0958", "12 Rose Lane, Bristol BS1 1AA", "2023-02-14", "2026-11-01"),
    (1043, "Bob Builder", "bob@example.net", "+44 7700 900123", "3 Mill Road, Leeds LS1 2BB", "2022-06-01", "2026-05-20"),
    (1044, "Zoe Zed", "zoe@example.org", None, "9 Quay Street, Cardiff CF10 1CC", "2024-09-09", "2026-10-30"),
    (1045, "Dan Double", "dan@example.com", None, "1 High Street, York YO1 1DD", "2021-03-03", "2025-01-10"),
    (1046, "Dan Double", "DAN@example.com", None, "1 High Street, York YO1 1DD", "2025-04-04", "2026-09-09"),
    (1047, "Xavier Zoe", "xzoe@example.org.uk", None, "5 Station Road, Bath BA1 1EE", "2024-01-01", "2026-08-08"),
]

TICKETS = [
    # id, customer_id, subject, body, created_at
    (1, 1042, "Cannot activate licence", "My key NW-ALICE-0001 says invalid. <b>Help</b>", "2026-03-02"),
    (2, 1043, "Invoice address", "Please change my invoice address.", "2026-04-11"),
    (3, 1047, "Account merge", "Please merge me with zoe@example.org's team account.", "2026-06-01"),
    (4, 1042, "Refund", "Refund for order 5002 please.", "2026-07-19"),
]

ORDERS = [
    # id, customer_id, billing_name, billing_email, billing_address, phone, total, currency, created_at
    (5001, 1042, "Alice Example", "alice@example.com", "12 Rose Lane, Bristol BS1 1AA", "+442079460958", "49.00", "GBP", "2024-01-15"),
    (5002, 1042, "Alice Example", "ALICE@EXAMPLE.COM", "12 Rose Lane, Bristol BS1 1AA", None, "99.00", "GBP", "2026-07-18"),
    (5003, 1043, "Bob Builder", "bob@example.net", "3 Mill Road, Leeds LS1 2BB", "+447700900123", "49.00", "GBP", "2025-12-31"),
    (5004, 1044, "Zoe Zed", "zoe@example.org", "9 Quay Street, Cardiff CF10 1CC", None, "19.00", "GBP", "2026-02-02"),
    (5005, 1047, "Xavier Zoe", "xzoe@example.org.uk", "5 Station Road, Bath BA1 1EE", None, "19.00", "GBP", "2026-03-03"),
]

ORDER_ITEMS = [
    # id, order_id, product, licence_key, created_at
    (1, 5001, "Northwind Desktop (1 seat)", "NW-ALICE-0001", "2024-01-15"),
    (2, 5002, "Northwind Desktop upgrade", "NW-ALICE-0002", "2026-07-18"),
    (3, 5002, "Priority support (1 year)", None, "2026-07-18"),
    (4, 5003, "Northwind Desktop (1 seat)", "NW-BOB-0001", "2025-12-31"),
    (5, 5004, "Northwind Mobile", "NW-ZOE-0001", "2026-02-02"),
    (6, 5005, "Northwind Mobile", "NW-XZOE-0001", "2026-03-03"),
]

NEWSLETTER_HEADER = ["Email Address", "First Name", "Last Name", "MEMBER_RATING", "OPTIN_TIME", "OPTIN_IP",
                     "CONFIRM_TIME", "STATUS", "UNSUB_TIME", "LEID", "TAGS"]
NEWSLETTER = [
    [" ALICE@example.com ", "Alice", "Example", "4", "2023-02-14 10:00:00", "203.0.113.7", "2023-02-14 10:05:00",
     "subscribed", "", "101", '"customers"'],
    ["bob@example.net", "Bob", "Builder", "2", "2022-06-01 09:00:00", "198.51.100.2", "2022-06-01 09:01:00",
     "unsubscribed", "2025-01-05 08:00:00", "102", ""],
    ["xzoe@example.org.uk", "Xavier", "Zoe", "3", "2024-01-01 12:00:00", "192.0.2.44", "2024-01-01 12:02:00",
     "subscribed", "", "103", ""],
    ["zoe@example.org.au", "Zoe", "Other", "1", "2024-05-05 12:00:00", "192.0.2.45", "2024-05-05 12:02:00",
     "subscribed", "", "104", ""],
    ["erin@example.com", "Erin", "Early", "5", "2021-01-01 08:00:00", "203.0.113.99", "2021-01-01 08:00:30",
     "subscribed", "", "105", "beta, \"vip\""],
]

PUSH_HEADER = ["customer_id", "device_token", "platform", "opted_in_at"]
PUSH = [
    ["1042", "apns-7f3a9c0e2b", "ios", "2024-01-20"],
    ["1042", "fcm-c91e22d0aa", "android", "2025-03-01"],
    ["1043", "fcm-0b7d5e4410", "android", "2023-07-07"],
]

TELEMETRY = [
    {"ts": "2026-10-01T08:00:00Z", "account": 1042, "user": {"email": "alice@example.com"}, "ip": "203.0.113.7",
     "tz": "Europe/London", "app_version": "5.2.0", "licence_key": "NW-ALICE-0002", "event": "app_start"},
    {"ts": "2026-10-01T08:05:00Z", "account": "1042", "ip": "203.0.113.7", "tz": "Europe/London",
     "app_version": "5.2.0", "licence_key": "NW-ALICE-0002", "event": "export_pdf"},
    {"ts": "2026-10-02T09:00:00Z", "account": 1043, "user": {"email": "bob@example.net"}, "ip": "198.51.100.2",
     "tz": "Europe/London", "app_version": "5.1.3", "licence_key": "NW-BOB-0001", "event": "app_start"},
    {"ts": "2026-10-03T10:00:00Z", "account": 1047, "user": {"email": "xzoe@example.org.uk"}, "ip": "192.0.2.44",
     "tz": "Europe/London", "app_version": "5.2.0", "licence_key": "NW-XZOE-0001", "event": "app_start",
     "note": "user typed zoe@example.org in the share dialog"},
    {"ts": "2026-10-04T11:00:00Z", "account": 1044, "user": {"email": "Zoe@Example.org"}, "ip": "192.0.2.10",
     "tz": "Europe/London", "app_version": "5.2.1", "licence_key": "NW-ZOE-0001", "event": "app_start"},
]


def _mail(sender: str, to: str, subject: str, date: str, msgid: str, body: str, cc: str | None = None,
          extra: str = "") -> str:
    lines = [f"From: {sender}", f"To: {to}"]
    if cc:
        lines.append(f"Cc: {cc}")
    lines += [f"Subject: {subject}", f"Date: {date}", f"Message-ID: <{msgid}@northwind.example>",
              "MIME-Version: 1.0", 'Content-Type: text/plain; charset="utf-8"', "Content-Transfer-Encoding: 8bit"]
    if extra:
        lines.append(extra)
    return "\n".join(lines) + "\n\n" + body.rstrip("\n") + "\n"


SUPPORT_MBOX = [
    ("alice@example.com", _mail("=?utf-8?q?Alice_Exampl=C3=A9?= <Alice@Example.com>", "Northwind Support <support@northwind.example>",
                                "Licence key not working", "Mon, 02 Mar 2026 09:15:00 +0000", "m1",
                                "Hello,\nmy key says invalid.\n\nFrom the desk of Alice\n>From earlier: thanks\n")),
    ("support@northwind.example", _mail("Northwind Support <support@northwind.example>",
                                        '"Example, Alice" <alice@example.com>, bob@example.net',
                                        "Re: Licence key not working", "Mon, 02 Mar 2026 11:00:00 +0000", "m2",
                                        "Hi Alice and Bob, fixed.\n")),
    ("xzoe@example.org.uk", _mail("Xavier Zoe <xzoe@example.org.uk>", "support@northwind.example",
                                  "Team account", "Mon, 01 Jun 2026 10:00:00 +0000", "m3",
                                  "Please add zoe@example.org to my team.\n")),
    ("zoe@example.org", _mail("=?iso-8859-1?q?Zo=E9_Zed?= <zoe@example.org>", "support@northwind.example",
                              "Invoice copy", "Tue, 03 Feb 2026 10:00:00 +0000", "m4", "Could I get a copy?\n",
                              extra="Reply-To: Zoe Zed <ZOE@example.org>")),
]

SALES_MAILDIR = [
    ("cur/1700000001.M1P1.northwind:2,S", _mail("Erin Early <erin@example.com>", "sales@northwind.example",
                                                "Quote for 10 seats", "Wed, 15 Nov 2023 10:00:00 +0000", "s1",
                                                "Please send a quote.\n", cc="alice@example.com")),
    ("cur/1700000002.M2P1.northwind:2,S", _mail("sales@northwind.example", "Bob Builder <bob@example.net>",
                                                "Your quote", "Thu, 16 Nov 2023 10:00:00 +0000", "s2",
                                                "Attached.\n")),
    ("new/1700000003.M3P1.northwind", _mail("Dan Double <dan@example.com>", "sales@northwind.example",
                                            "Two accounts?", "Fri, 17 Nov 2023 10:00:00 +0000", "s3",
                                            "I seem to have two accounts.\n")),
]


def create_demo(inventory: Inventory, *, force: bool = False) -> list[Path]:
    """Write the demo sources where the inventory's systems point; return the paths written.

    Existing files are left alone unless `force` (then they are replaced, e.g. after a demo erase).
    """
    targets = _targets(inventory)
    existing = [p for p in targets.values() if p.exists()]
    if existing and not force:
        return []
    written = []
    for name, path in targets.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp-demo")
        _remove(tmp)
        WRITERS[name](tmp)
        _remove(path)
        os.replace(tmp, path)
        written.append(path)
    return written


def _targets(inventory: Inventory) -> dict[str, Path]:
    from .connectors.sql import resolve_url

    targets = {}
    for name in WRITERS:
        system = inventory.systems.get(name)
        if system is None:
            raise UsageError(f"the inventory has no system '{name}': `dsarctl demo` needs the demo inventory.yaml")
        if system.url:  # a database (the demo's are SQLite files)
            url = resolve_url(system.url, inventory.base_dir)
            if not url.startswith("sqlite:///"):
                continue  # pointed at a real server (e.g. CRM_DATABASE_URL): not ours to fill
            targets[name] = Path(url[len("sqlite:///"):].partition("?")[0])
        else:
            targets[name] = Path(system.path)
    return targets


def _remove(path: Path) -> None:
    import shutil

    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()


def _write_crm(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.executescript(
            """
            CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT, phone TEXT,
                                    address TEXT, created_at TEXT, last_login TEXT);
            CREATE INDEX ix_customers_email_lower ON customers (lower(trim(email)));
            CREATE TABLE tickets (id INTEGER PRIMARY KEY, customer_id INTEGER REFERENCES customers(id),
                                  subject TEXT, body TEXT, created_at TEXT);
            CREATE INDEX ix_tickets_customer_id ON tickets (customer_id);
            """
        )
        db.executemany("INSERT INTO customers VALUES (?,?,?,?,?,?,?)", CUSTOMERS)
        db.executemany("INSERT INTO tickets VALUES (?,?,?,?,?)", TICKETS)
    db.close()


def _write_orders(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.executescript(
            """
            CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id TEXT, billing_name TEXT, billing_email TEXT,
                                 billing_address TEXT, phone TEXT, total NUMERIC, currency TEXT, created_at TEXT);
            CREATE INDEX ix_orders_customer_id ON orders (customer_id);
            CREATE INDEX ix_orders_billing_email_lower ON orders (lower(trim(billing_email)));
            CREATE TABLE order_items (id INTEGER PRIMARY KEY, order_id INTEGER REFERENCES orders(id),
                                      product TEXT, licence_key TEXT, created_at TEXT);
            CREATE INDEX ix_order_items_order_id ON order_items (order_id);
            """
        )
        # customer_id is TEXT here and INTEGER in the CRM: matching must not care.
        db.executemany("INSERT INTO orders VALUES (?,?,?,?,?,?,?,?,?)",
                       [(o[0], str(o[1]), *o[2:]) for o in ORDERS])
        db.executemany("INSERT INTO order_items VALUES (?,?,?,?,?)", ORDER_ITEMS)
    db.close()


def _write_csv(header: list[str], rows: list[list[str]]):
    def write(path: Path) -> None:
        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            writer.writerows(rows)

    return write


def _write_telemetry(path: Path) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        for event in TELEMETRY:
            handle.write(json.dumps(event) + "\n")


def _write_mbox(path: Path) -> None:
    with open(path, "w", encoding="utf-8", newline="\n") as handle:
        for sender, text in SUPPORT_MBOX:
            # Body lines starting with "From " are escaped as ">From " (mboxrd), as mail servers do.
            body = "\n".join((">" + line) if line.startswith("From ") else line for line in text.split("\n"))
            handle.write(f"From {sender} Mon Mar  2 09:15:00 2026\n{body}\n")


def _write_maildir(path: Path) -> None:
    for sub in ("cur", "new", "tmp"):
        (path / sub).mkdir(parents=True, exist_ok=True)
    for rel, text in SALES_MAILDIR:
        (path / rel).write_text(text, encoding="utf-8")


WRITERS = {
    "crm": _write_crm,
    "orders": _write_orders,
    "newsletter": _write_csv(NEWSLETTER_HEADER, NEWSLETTER),
    "support": _write_mbox,
    "sales_inbox": _write_maildir,
    "telemetry": _write_telemetry,
    "push": _write_csv(PUSH_HEADER, PUSH),
}

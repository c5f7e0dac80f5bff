"""Generate a synthetic company for the benchmarks: the demo's systems at a chosen size.

    python benchmarks/generate.py OUT_DIR --records 300000

writes, into OUT_DIR:

- crm.db (customers, tickets) and orders.db (orders, order_items): SQLite with the indexes the demo
  creates (`lower(trim(email))` expression indexes, plain indexes on the id columns);
- newsletter.csv (Mailchimp-style export), usage.jsonl (telemetry, nested `user.email`);
- support.mbox and sales-maildir/ with a tenth as many messages as records: realistic headers
  (Received, DKIM, Message-ID...), 1-4 KB bodies, and one message in five with a base64 attachment;
- inventory.yaml shaped like the demo's (identity kinds email, phone, customer_id unique, order_id);
- planted.json: three planted subjects (at the start, the middle and the end of every source) and how
  many records of each one every collection holds, so a benchmark can check what `find` returns;
- subjects.txt: ordinary subjects (one e-mail a line) for erase runs.

Every table and file has `--records` rows (messages: a tenth of it). Output is streamed: rows are
written as they are made (SQLite inserts in batches), so memory stays flat at any size. The data is
deterministic for a given `--records` and `--seed`.
"""

from __future__ import annotations

import argparse
import base64
import json
import random
import shutil
import sqlite3
import sys
import time
from pathlib import Path

BATCH = 10_000
FIRST = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory",
         "niaj", "olivia", "peggy", "rupert", "sybil", "trent", "victor", "walter", "yasmin", "zoe"]
LAST = ["smith", "jones", "taylor", "brown", "williams", "wilson", "johnson", "davies", "patel", "wright",
        "walker", "white", "edwards", "hughes", "green", "hall", "lewis", "harris", "clarke", "jackson"]
DOMAINS = ["example.com", "example.net", "example.org", "mail.example", "post.example.co.uk"]
STREETS = ["High Street", "Station Road", "Church Lane", "Mill Road", "Park Avenue", "Quay Street"]
TOWNS = ["Bristol BS1 1AA", "Leeds LS1 2BB", "Cardiff CF10 1CC", "York YO1 1DD", "Bath BA1 1EE"]
PRODUCTS = ["Northwind Desktop (1 seat)", "Northwind Desktop upgrade", "Northwind Mobile",
            "Priority support (1 year)", "Northwind Team (5 seats)"]
WORDS = ("licence key invoice account please thanks upgrade install error windows mac seat team order "
         "refund quote support version update password login export report dashboard sync backup "
         "the a to of and in is it for on with as this that we you my our your have can not").split()
PLANT_NAMES = ("start", "middle", "end")
# records each planted subject has per collection (the generator writes exactly these)
PLANT_ROWS = {"crm.customers": 1, "crm.tickets": 2, "orders.orders": 2, "orders.order_items": 3,
              "newsletter.newsletter": 1, "telemetry.telemetry": 2, "support.support": 2,
              "sales_inbox.sales_inbox": 2}


def email_of(cid: int) -> str:
    """The e-mail of ordinary customer `cid`: a function of the id, so no table is kept in memory."""
    return f"{FIRST[cid % len(FIRST)]}.{LAST[(cid * 7) % len(LAST)]}{cid}@{DOMAINS[cid % len(DOMAINS)]}"


def name_of(cid: int) -> str:
    return f"{FIRST[cid % len(FIRST)].title()} {LAST[(cid * 7) % len(LAST)].title()}"


def slots(n: int, k: int) -> list[int]:
    """First row of the k consecutive planted rows at the start, middle and end of n rows."""
    return [0, n // 2, n - k]


class Plan:
    """Where planted subjects sit and which ids they own."""

    def __init__(self, n: int):
        self.n = n
        self.messages = max(n // 10, 30)
        cust = slots(n, 1)
        self.customer_ids = [p + 1 for p in cust]
        self.subjects = []
        for i, where in enumerate(PLANT_NAMES):
            cid = self.customer_ids[i]
            self.subjects.append({
                "name": where, "email": f"planted.{where}@bench.example", "customer_id": cid,
                "phone": f"+4420794600{i + 1:02d}",
                "order_ids": [p + 1 + j for j, p in [(j, slots(n, 2)[i]) for j in range(2)]],
            })
        self.planted_cids = set(self.customer_ids)
        self.planted_orders = {o for s in self.subjects for o in s["order_ids"]}

    def at(self, n: int, k: int, row: int) -> tuple[dict, int] | None:
        """(subject, index within its k rows) when `row` of a stream of n rows is planted."""
        for subject, first in zip(self.subjects, slots(n, k)):
            if first <= row < first + k:
                return subject, row - first
        return None

    def ordinary_customer(self, rng: random.Random) -> int:
        while True:
            cid = rng.randint(1, self.n)
            if cid not in self.planted_cids:
                return cid

    def ordinary_order(self, rng: random.Random) -> int:
        while True:
            oid = rng.randint(1, self.n)
            if oid not in self.planted_orders:
                return oid


def text(rng: random.Random, size: int) -> str:
    """About `size` bytes of plain text in lines of ~70 characters (no line starts with "From ")."""
    out, line, total = [], [], 0
    while total < size:
        word = rng.choice(WORDS)
        line.append(word)
        total += len(word) + 1
        if sum(len(w) + 1 for w in line) > 70:
            out.append(" ".join(line))
            line = []
    out.append(" ".join(line))
    return "\n".join(out)


def batched_insert(db: sqlite3.Connection, sql: str, rows) -> None:
    batch = []
    for row in rows:
        batch.append(row)
        if len(batch) >= BATCH:
            db.executemany(sql, batch)
            batch.clear()
    if batch:
        db.executemany(sql, batch)


def write_crm(path: Path, plan: Plan, rng: random.Random) -> None:
    n = plan.n
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode = OFF")
    db.execute("PRAGMA synchronous = OFF")
    db.executescript("""
        CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT, phone TEXT,
                                address TEXT, created_at TEXT, last_login TEXT);
        CREATE TABLE tickets (id INTEGER PRIMARY KEY, customer_id INTEGER REFERENCES customers(id),
                              subject TEXT, body TEXT, created_at TEXT);
    """)

    def customers():
        for row in range(n):
            cid = row + 1
            hit = plan.at(n, 1, row)
            if hit:
                s = hit[0]
                yield (cid, f"Planted {s['name'].title()}", f" {s['email'].upper()} ", s["phone"],
                       "1 Bench Street, Bristol BS1 1AA", "2023-01-01", "2026-10-01")
                continue
            phone = f"07700 {(cid * 7919) % 1_000_000:06d}" if cid % 5 < 3 else None
            email = email_of(cid)
            yield (cid, name_of(cid), email.title() if cid % 10 == 0 else email, phone,
                   f"{cid % 200 + 1} {STREETS[cid % len(STREETS)]}, {TOWNS[cid % len(TOWNS)]}",
                   f"20{18 + cid % 8}-{cid % 12 + 1:02d}-{cid % 28 + 1:02d}", "2026-09-01")

    def tickets():
        for row in range(n):
            hit = plan.at(n, 2, row)
            cid = hit[0]["customer_id"] if hit else plan.ordinary_customer(rng)
            yield (row + 1, cid, rng.choice(["Cannot activate licence", "Invoice address", "Refund",
                                             "Login problem", "Upgrade question"]),
                   text(rng, rng.randint(80, 400)), f"2026-{row % 12 + 1:02d}-{row % 28 + 1:02d}")

    batched_insert(db, "INSERT INTO customers VALUES (?,?,?,?,?,?,?)", customers())
    batched_insert(db, "INSERT INTO tickets VALUES (?,?,?,?,?)", tickets())
    db.executescript("""
        CREATE INDEX ix_customers_email_lower ON customers (lower(trim(email)));
        CREATE INDEX ix_tickets_customer_id ON tickets (customer_id);
    """)
    db.commit()
    db.close()


def write_orders(path: Path, plan: Plan, rng: random.Random) -> None:
    n = plan.n
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode = OFF")
    db.execute("PRAGMA synchronous = OFF")
    db.executescript("""
        CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id TEXT, billing_name TEXT, billing_email TEXT,
                             billing_address TEXT, phone TEXT, total NUMERIC, currency TEXT, created_at TEXT);
        CREATE TABLE order_items (id INTEGER PRIMARY KEY, order_id INTEGER REFERENCES orders(id),
                                  product TEXT, licence_key TEXT, created_at TEXT);
    """)

    def orders():
        for row in range(n):
            hit = plan.at(n, 2, row)
            if hit:
                s, j = hit
                # the second planted order carries only the customer id (found by expansion)
                email = s["email"] if j == 0 else None
                yield (row + 1, str(s["customer_id"]), f"Planted {s['name'].title()}", email,
                       "1 Bench Street, Bristol BS1 1AA", None, "49.00", "GBP", f"2025-0{j + 1}-15")
                continue
            cid = plan.ordinary_customer(rng)
            yield (row + 1, str(cid), name_of(cid), email_of(cid), f"{cid % 200 + 1} High Street",
                   None, f"{rng.choice([19, 49, 99, 249])}.00", "GBP", f"202{row % 6}-{row % 12 + 1:02d}-15")

    def items():
        for row in range(n):
            hit = plan.at(n, 3, row)
            if hit:
                s, j = hit
                oid = s["order_ids"][min(j, 1)]
            else:
                oid = plan.ordinary_order(rng)
            yield (row + 1, oid, rng.choice(PRODUCTS), f"NW-{row + 1:08d}", f"202{row % 6}-01-15")

    batched_insert(db, "INSERT INTO orders VALUES (?,?,?,?,?,?,?,?,?)", orders())
    batched_insert(db, "INSERT INTO order_items VALUES (?,?,?,?,?)", items())
    db.executescript("""
        CREATE INDEX ix_orders_customer_id ON orders (customer_id);
        CREATE INDEX ix_orders_billing_email_lower ON orders (lower(trim(billing_email)));
        CREATE INDEX ix_order_items_order_id ON order_items (order_id);
    """)
    db.commit()
    db.close()


def write_newsletter(path: Path, plan: Plan, rng: random.Random) -> None:
    import csv

    n = plan.n
    with open(path, "w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["Email Address", "First Name", "Last Name", "MEMBER_RATING", "OPTIN_TIME", "OPTIN_IP",
                      "CONFIRM_TIME", "STATUS", "UNSUB_TIME", "LEID", "TAGS"])
        for row in range(n):
            hit = plan.at(n, 1, row)
            if hit:
                s = hit[0]
                email, first, last = f" {s['email'].title()} ", "Planted", s["name"].title()
            else:
                cid = plan.ordinary_customer(rng)
                email, first, last = email_of(cid), *name_of(cid).split()
            out.writerow([email, first, last, str(row % 5 + 1), "2023-02-14 10:00:00",
                          f"203.0.{row % 256}.{(row * 7) % 256}", "2023-02-14 10:05:00",
                          "subscribed" if row % 7 else "unsubscribed", "", str(row + 1),
                          '"customers"' if row % 3 == 0 else ""])


def write_telemetry(path: Path, plan: Plan, rng: random.Random) -> None:
    n = plan.n
    with open(path, "w", encoding="utf-8") as handle:
        for row in range(n):
            hit = plan.at(n, 2, row)
            if hit:
                s, j = hit
                event = {"ts": f"2026-10-01T08:0{j}:00Z", "account": s["customer_id"] if j == 0
                         else str(s["customer_id"])}
                if j == 0:
                    event["user"] = {"email": s["email"].title()}
            else:
                cid = plan.ordinary_customer(rng)
                event = {"ts": f"2026-10-{row % 28 + 1:02d}T{row % 24:02d}:00:00Z", "account": cid}
                if row % 4:
                    event["user"] = {"email": email_of(cid)}
            event.update(ip=f"198.51.{row % 256}.{(row * 3) % 256}", tz="Europe/London",
                         app_version=f"5.{row % 4}.{row % 10}", licence_key=f"NW-{row + 1:08d}",
                         event=rng.choice(["app_start", "export_pdf", "sync", "app_stop"]))
            handle.write(json.dumps(event) + "\n")


def attachments(rng: random.Random) -> list[str]:
    """A small pool of base64 attachments (10-80 KB decoded), reused so generation stays fast."""
    pool = []
    for _ in range(8):
        raw = rng.randbytes(rng.randint(10_000, 80_000))
        b64 = base64.b64encode(raw).decode()
        pool.append("\n".join(b64[i:i + 76] for i in range(0, len(b64), 76)))
    return pool


def message(rng: random.Random, pool: list[str], i: int, sender: str, to: str, cc: str | None,
            subject: str, mailbox: str) -> str:
    day = i % 28 + 1
    date = f"Mon, {day:02d} Mar 2026 {i % 24:02d}:{i % 60:02d}:00 +0000"
    msgid = f"<{i}.{rng.getrandbits(40):x}@{mailbox}.northwind.example>"
    headers = [
        f"Return-Path: <{sender.split('<')[-1].rstrip('>')}>",
        f"Received: from mx{i % 5}.northwind.example (mx{i % 5}.northwind.example [192.0.2.{i % 250}])\n"
        f"\tby mail.northwind.example with ESMTPS id {rng.getrandbits(48):x}\n\tfor <{mailbox}@northwind.example>; "
        f"{date}",
        f"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.com; s=s1;\n"
        f"\tbh={base64.b64encode(rng.randbytes(32)).decode()};\n"
        f"\tb={base64.b64encode(rng.randbytes(96)).decode()}",
        f"From: {sender}", f"To: {to}",
    ]
    if cc:
        headers.append(f"Cc: {cc}")
    headers += [f"Subject: {subject}", f"Date: {date}", f"Message-ID: {msgid}", "MIME-Version: 1.0"]
    body = text(rng, rng.randint(1000, 4000))
    if i % 5 == 0:
        boundary = f"=_bench_{i}"
        headers.append(f'Content-Type: multipart/mixed; boundary="{boundary}"')
        parts = (f"--{boundary}\nContent-Type: text/plain; charset=utf-8\n\n{body}\n\n"
                 f"--{boundary}\nContent-Type: application/pdf; name=\"invoice-{i}.pdf\"\n"
                 f"Content-Disposition: attachment; filename=\"invoice-{i}.pdf\"\n"
                 f"Content-Transfer-Encoding: base64\n\n{pool[i % len(pool)]}\n--{boundary}--\n")
        return "\n".join(headers) + "\n\n" + parts
    headers.append('Content-Type: text/plain; charset="utf-8"')
    return "\n".join(headers) + "\n\n" + body + "\n"


def messages(plan: Plan, rng: random.Random, mailbox: str):
    """(envelope sender, text) of every message of one mailbox, planted ones in place."""
    pool = attachments(rng)
    m = plan.messages
    for i in range(m):
        hit = plan.at(m, 2, i)
        if hit:
            s, j = hit
            if j == 0:
                sender = f"=?utf-8?q?Planted_{s['name'].title()}?= <{s['email'].title()}>"
                yield s["email"], message(rng, pool, i, sender, f"{mailbox}@northwind.example", None,
                                          "Licence key not working", mailbox)
            else:
                other = email_of(plan.ordinary_customer(rng))
                yield mailbox, message(rng, pool, i, f"Northwind <{mailbox}@northwind.example>",
                                       f'"{other}" <{other}>', f"Planted {s['name']} <{s['email']}>",
                                       "Re: Licence key not working", mailbox)
            continue
        cid = plan.ordinary_customer(rng)
        email = email_of(cid)
        if i % 2:
            yield email, message(rng, pool, i, f"{name_of(cid)} <{email}>", f"{mailbox}@northwind.example",
                                 None, rng.choice(["Quote for 10 seats", "Invoice copy", "Help"]), mailbox)
        else:
            yield mailbox, message(rng, pool, i, f"Northwind <{mailbox}@northwind.example>", email, None,
                                   "Re: your message", mailbox)


def write_mbox(path: Path, plan: Plan, rng: random.Random) -> None:
    with open(path, "w", encoding="utf-8", newline="\n") as handle:
        for sender, msg in messages(plan, rng, "support"):
            handle.write(f"From {sender} Mon Mar  2 09:15:00 2026\n{msg}\n")


def write_maildir(path: Path, plan: Plan, rng: random.Random) -> None:
    for sub in ("cur", "new", "tmp"):
        (path / sub).mkdir(parents=True, exist_ok=True)
    for i, (_sender, msg) in enumerate(messages(plan, rng, "sales")):
        name = f"cur/{1700000000 + i}.M{i}P1.bench:2,S" if i % 10 else f"new/{1700000000 + i}.M{i}P1.bench"
        (path / name).write_text(msg, encoding="utf-8")


INVENTORY = """\
# A synthetic Northwind Software Ltd for the benchmarks (benchmarks/generate.py --records {n}).
version: 1
controller:
  name: Northwind Software Ltd (benchmark)
  contact: privacy@northwind.example
  timezone: Europe/London
  regime: uk-gdpr
  holidays: GB-ENG
audit:
  path: .dsarctl/audit.db
identities:
  email: {{type: email}}
  phone: {{type: phone, region: GB}}
  customer_id: {{type: string, unique: true}}
  order_id: {{type: string}}
systems:
  crm:
    description: Customer accounts and support tickets
    connector: sql
    url: sqlite:///crm.db
    purposes: [account management, customer support]
    lawful_basis: contract
    retention: 3 years after last login
    collections:
      customers:
        identities: {{email: email, phone: phone, customer_id: id}}
        categories: {{name: contact details (name), email: contact details (e-mail address),
                     phone: contact details (phone number), address: contact details (postal address)}}
        erase: delete
      tickets:
        identities: {{customer_id: customer_id}}
        categories: {{subject: support correspondence, body: support correspondence}}
        erase: {{action: anonymize, fields: {{body: redact, subject: redact, customer_id: null}}}}
  orders:
    description: Orders and invoices of the web shop
    connector: sql
    url: sqlite:///orders.db
    purposes: [order fulfilment, accounting and tax]
    lawful_basis: legal obligation (tax records)
    retention: 6 years (HMRC)
    collections:
      orders:
        identities: {{customer_id: customer_id, email: billing_email, order_id: id}}
        categories: {{billing_name: billing details (name), billing_email: billing details (e-mail address)}}
        erase:
          action: retain
          reason: Invoices must be kept 6 years (HMRC)
          until: created_at + 6 years
          fields: {{phone: null}}
      order_items:
        identities: {{order_id: order_id}}
        categories: {{product: purchase history, licence_key: licence keys}}
        erase:
          action: retain
          reason: Invoice lines must be kept 6 years (HMRC)
          until: created_at + 6 years
  newsletter:
    description: Newsletter subscribers
    connector: csv
    path: newsletter.csv
    purposes: [newsletters]
    lawful_basis: consent
    retention: until unsubscribed
    identities: {{email: Email Address}}
    categories: {{Email Address: contact details (e-mail address), OPTIN_IP: consent record (IP address)}}
    erase: delete
    suppress: true
  support:
    description: The support@ mailbox
    connector: mbox
    path: support.mbox
    purposes: [customer support]
    lawful_basis: legitimate interests
    retention: 2 years after the last message
    identities: {{email: [from, to, cc, reply-to]}}
    categories: [correspondence (message contents)]
    erase: delete
  sales_inbox:
    description: The sales@ mailbox
    connector: maildir
    path: sales-maildir
    purposes: [answering licence enquiries]
    lawful_basis: legitimate interests
    retention: 2 years after the last message
    identities: {{email: [from, to, cc, reply-to]}}
    categories: [correspondence (message contents)]
    erase: delete
  telemetry:
    description: Product usage events
    connector: jsonl
    path: usage.jsonl
    purposes: [product improvement]
    lawful_basis: legitimate interests
    retention: 13 months
    identities: {{customer_id: account, email: user.email}}
    categories: {{ip: online identifiers (IP address), licence_key: licence keys}}
    erase: delete
  analytics:
    description: Website analytics
    connector: manual
    processor: Google Ireland Ltd (Google Analytics)
    purposes: [understanding how the website is used]
    lawful_basis: consent
    identities: [email, customer_id]
    instructions: Delete the user in Analytics Admin.
"""


def generate(out: Path, records: int, seed: int = 6, *, log=None) -> dict:
    """Write the synthetic company into `out` (which must be empty or absent); return planted.json's data."""
    if records < 100:
        raise ValueError("--records must be at least 100")
    out.mkdir(parents=True, exist_ok=True)
    if any(out.iterdir()):
        raise FileExistsError(f"{out} is not empty")
    plan = Plan(records)
    steps = [("crm.db", write_crm), ("orders.db", write_orders), ("newsletter.csv", write_newsletter),
             ("usage.jsonl", write_telemetry), ("support.mbox", write_mbox), ("sales-maildir", write_maildir)]
    for i, (name, writer) in enumerate(steps):
        start = time.perf_counter()
        writer(out / name, plan, random.Random(f"{seed}-{i}"))
        if log:
            log(f"{name}: {time.perf_counter() - start:.1f} s")
    (out / "inventory.yaml").write_text(INVENTORY.format(n=records), encoding="utf-8")
    rng = random.Random(f"{seed}-subjects")
    with open(out / "subjects.txt", "w", encoding="utf-8") as handle:
        for cid in rng.sample(sorted(set(range(2, records)) - plan.planted_cids), min(5000, records - 10)):
            handle.write(email_of(cid) + "\n")
    planted = {
        "records": records, "messages": plan.messages, "seed": seed,
        "subjects": [dict(s, expected=dict(PLANT_ROWS), total=sum(PLANT_ROWS.values()))
                     for s in plan.subjects],
    }
    (out / "planted.json").write_text(json.dumps(planted, indent=2) + "\n", encoding="utf-8")
    return planted


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="output folder (created; must be empty)")
    parser.add_argument("--records", type=int, default=300_000, help="rows per table and file (default 300000)")
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--force", action="store_true", help="remove the output folder first")
    args = parser.parse_args(argv)
    if args.force and args.out.exists():
        shutil.rmtree(args.out)
    start = time.perf_counter()
    try:
        generate(args.out, args.records, args.seed, log=lambda m: print(m, file=sys.stderr))
    except (ValueError, FileExistsError) as exc:
        print(f"generate.py: error: {exc}", file=sys.stderr)
        return 2
    size = sum(f.stat().st_size for f in args.out.rglob("*") if f.is_file())
    print(f"wrote {args.out} ({size / 1e6:.0f} MB) in {time.perf_counter() - start:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

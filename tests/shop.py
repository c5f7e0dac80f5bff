"""A web shop's schema that dsarctl did not design: rows that several people share.

Customers, their addresses, orders shipped to an address, order items pointing at products, payment cards
billed to an address, logins, and employees sharing an office address. Ann (customer 1) and Ben
(customer 2) share address 10: Ben sent a gift to Ann's address (order 200) and his card is billed
there; both bought product 500. Eve and Fay, employees, share the office address 12. The tables are
created with plain SQL on SQLite, PostgreSQL or MariaDB, with a prefix so tests can share a server.
"""

from __future__ import annotations

from pathlib import Path

TABLES = {
    "customers": "id INTEGER PRIMARY KEY, email VARCHAR(200) NOT NULL, name VARCHAR(200), billing_address_id INTEGER",
    "addresses": "id INTEGER PRIMARY KEY, line1 VARCHAR(200), city VARCHAR(100)",
    "orders": "id INTEGER PRIMARY KEY, customer_id INTEGER, shipping_address_id INTEGER, created_at DATE",
    "order_items": "id INTEGER PRIMARY KEY, order_id INTEGER, product_id INTEGER, qty INTEGER",
    "products": "id INTEGER PRIMARY KEY, name VARCHAR(200), price INTEGER",
    "cards": "id INTEGER PRIMARY KEY, customer_id INTEGER, last4 VARCHAR(4), billing_address_id INTEGER",
    "logins": "id INTEGER PRIMARY KEY, customer_id INTEGER, ip VARCHAR(50)",
    "employees": "id INTEGER PRIMARY KEY, email VARCHAR(200), name VARCHAR(200), office_address_id INTEGER",
}

ROWS = {
    "customers": [(1, "ann@shop.example", "Ann Archer", 13), (2, "ben@shop.example", "Ben Baker", 11)],
    "addresses": [(10, "1 Shared Lane", "Leeds"), (11, "2 Ben Road", "York"), (12, "3 Office Park", "Hull"),
                  (13, "4 Ann Street", "Leeds")],
    "orders": [(100, 1, 10, "2025-01-05"), (101, 1, 13, "2025-02-01"), (200, 2, 10, "2025-03-01"),
               (201, 2, 11, "2025-04-01")],
    "order_items": [(1000, 100, 500, 1), (1001, 100, 501, 2), (1010, 101, 502, 1), (2000, 200, 500, 1),
                    (2010, 201, 503, 3)],
    "products": [(500, "Teapot", 30), (501, "Cups", 12), (502, "Kettle", 40), (503, "Tray", 9)],
    "cards": [(1, 1, "1111", 13), (2, 2, "2222", 10)],
    "logins": [(1, 1, "198.51.100.1"), (2, 1, "198.51.100.2"), (3, 2, "203.0.113.9")],
    "employees": [(1, "eve@shop.example", "Eve Evans", 12), (2, "fay@shop.example", "Fay Fox", 12)],
}

# Ann's rows, written down by hand from the story above: what her access package must hold, exactly.
ANN = {
    "customers": {1}, "addresses": {10, 13}, "orders": {100, 101}, "order_items": {1000, 1001, 1010},
    "products": {500, 501, 502}, "cards": {1}, "logins": {1, 2},
}

INVENTORY = """\
version: 1
controller: {{name: Shop Ltd, contact: privacy@shop-hq.example, timezone: Europe/London}}
audit: {{path: .dsarctl/audit.db}}
identities:
  email: {{type: email}}
  customer_id: {{type: string, unique: true}}
  employee_id: {{type: string, unique: true}}
  address_id: {{type: string}}
  order_id: {{type: string}}
  product_id: {{type: string}}
systems:
  shop:
    connector: sql
    url: ${{SHOP_URL}}
    collections:
      customers:
        table: {p}customers
        identities: {{email: email, customer_id: id, address_id: {customers_address}}}
        erase: delete
      addresses:
        table: {p}addresses
        identities: {{address_id: id}}
        erase: delete
      orders:
        table: {p}orders
        identities: {{customer_id: customer_id, order_id: id, address_id: {orders_address}}}
        erase: {{action: retain, reason: Invoices are kept 6 years}}
      order_items:
        table: {p}order_items
        identities: {{order_id: order_id, product_id: {items_product}}}
        erase: {{action: retain, reason: Invoices are kept 6 years}}
      products:
        table: {p}products
        identities: {{product_id: id}}
        erase: delete
      cards:
        table: {p}cards
        identities: {{customer_id: customer_id, address_id: {cards_address}}}
        erase: delete
      logins:
        table: {p}logins
        identities: {{customer_id: customer_id}}
        erase: delete
      employees:
        table: {p}employees
        identities: {{email: email, employee_id: id, address_id: {employees_address}}}
        erase: delete
"""

LINKS = {
    "customers_address": "{field: billing_address_id, search: false}",
    "orders_address": "{field: shipping_address_id, search: false}",
    "items_product": "{field: product_id, search: false}",
    "cards_address": "{field: billing_address_id, search: false}",
    "employees_address": "{field: office_address_id, search: false}",
}
BOTH_WAYS = {
    "customers_address": "billing_address_id", "orders_address": "shipping_address_id",
    "items_product": "product_id", "cards_address": "billing_address_id", "employees_address": "office_address_id",
}


def create(engine, prefix: str = "") -> None:
    from sqlalchemy import text

    with engine.begin() as conn:
        for table, columns in TABLES.items():
            conn.execute(text(f"DROP TABLE IF EXISTS {prefix}{table}"))
            conn.execute(text(f"CREATE TABLE {prefix}{table} ({columns})"))
            for row in ROWS[table]:
                marks = ", ".join(f":v{i}" for i in range(len(row)))
                conn.execute(text(f"INSERT INTO {prefix}{table} VALUES ({marks})"), {f"v{i}": v for i, v in enumerate(row)})


def drop(engine, prefix: str) -> None:
    from sqlalchemy import text

    with engine.begin() as conn:
        for table in TABLES:
            conn.execute(text(f"DROP TABLE IF EXISTS {prefix}{table}"))


def write_inventory(folder: Path, prefix: str = "", *, directions: bool = True) -> Path:
    path = folder / "inventory.yaml"
    path.write_text(INVENTORY.format(p=prefix, **(LINKS if directions else BOTH_WAYS)))
    return path


def ids(engine, prefix: str, table: str) -> set[int]:
    """The primary keys left in a table: the oracle is a plain SQL query."""
    from sqlalchemy import text

    with engine.connect() as conn:
        return {row[0] for row in conn.execute(text(f"SELECT id FROM {prefix}{table}"))}

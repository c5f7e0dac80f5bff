"""The subject boundary on a shop schema dsarctl did not design: link directions, exact packages, exact erasure.

Every assertion compares with the rows written down in tests/shop.py and with plain SQL queries of what the
database holds, on SQLite and on the live PostgreSQL and MariaDB servers.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

import shop

BEN = {
    "customers": {2}, "addresses": {10, 11}, "orders": {200, 201}, "order_items": {2000, 2010},
    "products": {500, 503}, "cards": {2}, "logins": {3},
}


@pytest.fixture(params=["sqlite", "postgres", "mysql"])
def company(request, tmp_path, monkeypatch, unique_name):
    """(engine, table prefix, inventory path) of the shop, on each database in turn."""
    from sqlalchemy import create_engine

    if request.param == "sqlite":
        url, prefix = f"sqlite:///{tmp_path / 'shop.db'}", ""
    else:
        url = request.getfixturevalue("postgres_url" if request.param == "postgres" else "mysql_url")
        prefix = f"{unique_name}_"
    engine = create_engine(url)
    shop.create(engine, prefix)
    monkeypatch.setenv("SHOP_URL", url)
    monkeypatch.chdir(tmp_path)
    yield engine, prefix, shop.write_inventory(tmp_path, prefix)
    if prefix:
        shop.drop(engine, prefix)
    engine.dispose()


def _found(result) -> dict[str, set[int]]:
    out = {}
    for name, cres in result.systems["shop"].collections.items():
        keys = {int(r.key[0] if isinstance(r.key, (list, tuple)) else r.key) for r in cres.records}
        if keys:
            out[name] = keys
    return out


def test_find_holds_exactly_the_subjects_rows(company):
    from dsarctl.inventory import load_inventory
    from helpers import find

    _, _, path = company
    inventory = load_inventory(path)
    ann = find(inventory, "ann@shop.example")
    assert _found(ann) == shop.ANN and not ann.ambiguous
    assert _found(find(inventory, "ben@shop.example")) == BEN
    assert _found(find(inventory, "eve@shop.example")) == {"employees": {1}, "addresses": {12}}


def test_both_ways_links_cross_the_boundary_and_directions_stop_it(tmp_path, monkeypatch):
    """Why directions exist: the same schema with every link both ways walks from Ann to Ben."""
    from sqlalchemy import create_engine

    from dsarctl.inventory import load_inventory
    from helpers import find

    shop.create(create_engine(f"sqlite:///{tmp_path / 'shop.db'}"))
    monkeypatch.setenv("SHOP_URL", f"sqlite:///{tmp_path / 'shop.db'}")
    both = find(load_inventory(shop.write_inventory(tmp_path, directions=False)), "ann@shop.example")
    assert 2 in _found(both)["customers"] and both.ambiguous == {"customer_id": ["1", "2"]}
    one_way = find(load_inventory(shop.write_inventory(tmp_path)), "ann@shop.example")
    assert _found(one_way) == shop.ANN


def test_find_shows_the_link_each_identifier_came_through(company, cli):
    _, _, path = company
    result = cli("-i", str(path), "find", "ann@shop.example", "--json")
    assert result.code == 0, result
    idents = {(i["kind"], i["value"]): i for i in result.json()["identifiers"]}
    assert idents[("address_id", "10")]["found_in"] == "shop.orders"
    assert idents[("address_id", "10")]["field"] == "shipping_address_id"
    assert idents[("customer_id", "1")]["field"] == "id"
    text = cli("-i", str(path), "find", "ann@shop.example")
    assert "found in shop.orders.shipping_address_id" in text.out


def test_export_package_holds_exactly_the_subjects_rows(company, cli, tmp_path):
    engine, prefix, path = company
    out = tmp_path / "ann.zip"
    result = cli("-i", str(path), "export", "ann@shop.example", "-o", str(out))
    assert result.code == 0, result
    with zipfile.ZipFile(out) as package:
        held = {}
        for name in package.namelist():
            if name.startswith("data/shop/") and name.endswith(".json"):
                rows = json.loads(package.read(name))
                rows = rows["records"] if isinstance(rows, dict) else rows
                held[Path(name).stem] = {int(r.get("id") if "id" in r else r["data"]["id"]) for r in rows}
        data = b"".join(package.read(n) for n in package.namelist() if n.startswith("data/"))
    assert {k: v for k, v in held.items() if v} == shop.ANN
    assert b"ben@shop.example" not in data and b"Ben Baker" not in data and b'"2222"' not in data


def test_erase_changes_exactly_the_subjects_rows_and_leaves_shared_ones(company, cli):
    engine, prefix, path = company
    before = {t: shop.ids(engine, prefix, t) for t in shop.TABLES}
    plan = cli("-i", str(path), "erase", "ann@shop.example", "--dry-run", "--json")
    assert plan.code == 0, plan
    kept = {c["collection"]: c.get("kept", []) for c in plan.json()["plan"]["collections"]}
    assert [k["record"].removeprefix(prefix) for k in kept["addresses"]] == ["addresses (id=10)"]
    assert kept["addresses"][0]["reason"] == "shared: 2 other records point at it (address_id:10)"
    assert [k["record"].removeprefix(prefix) for k in kept["products"]] == ["products (id=500)"]

    result = cli("-i", str(path), "erase", "ann@shop.example", "--yes", "--json")
    assert result.code == 0, result
    after = {t: shop.ids(engine, prefix, t) for t in shop.TABLES}
    erased = {"customers": {1}, "addresses": {13}, "products": {501, 502}, "cards": {1}, "logins": {1, 2}}
    for table in shop.TABLES:
        assert after[table] == before[table] - erased.get(table, set()), table
    remaining = {(r["collection"], r["status"]) for r in result.json()["remaining"]}
    assert ("addresses", "kept") in remaining and ("products", "kept") in remaining
    # Ben's answer is whole after Ann's erasure: his shared address and product are still there
    from dsarctl.inventory import load_inventory
    from helpers import find

    assert _found(find(load_inventory(path), "ben@shop.example")) == BEN


def test_erase_of_one_employee_keeps_the_office_address_the_other_shares(company, cli):
    engine, prefix, path = company
    result = cli("-i", str(path), "erase", "eve@shop.example", "--yes")
    assert result.code == 0, result
    assert shop.ids(engine, prefix, "employees") == {2}
    assert shop.ids(engine, prefix, "addresses") == {10, 11, 12, 13}


def test_a_row_only_the_subject_points_at_is_erased(tmp_path, monkeypatch, cli):
    """The guard is about other people's records, not about one-way links as such."""
    from sqlalchemy import create_engine, text

    url = f"sqlite:///{tmp_path / 'shop.db'}"
    engine = create_engine(url)
    shop.create(engine)
    with engine.begin() as conn:
        conn.execute(text("UPDATE employees SET office_address_id = 11 WHERE id = 2"))  # Fay moves to address 11
    monkeypatch.setenv("SHOP_URL", url)
    path = shop.write_inventory(tmp_path)
    assert cli("-i", str(path), "erase", "eve@shop.example", "--yes").code == 0
    assert shop.ids(engine, "", "addresses") == {10, 11, 13}


def test_check_connect_advises_search_false_where_rows_of_different_people_share_a_value(tmp_path, monkeypatch, cli):
    from sqlalchemy import create_engine

    shop.create(create_engine(f"sqlite:///{tmp_path / 'shop.db'}"))
    monkeypatch.setenv("SHOP_URL", f"sqlite:///{tmp_path / 'shop.db'}")
    both = cli("-i", str(shop.write_inventory(tmp_path, directions=False)), "inventory", "check", "--connect", "--json")
    findings = both.json()["findings"]
    warned = {f["message"].split(" ")[0] for f in findings if f["level"] == "warning" and "search: false" in f["message"]}
    assert warned == {"orders.shipping_address_id", "employees.office_address_id"}
    noted = {f["message"].split(" ")[0] for f in findings if f["level"] == "info" and "search: false" in f["message"]}
    assert noted == {"order_items.order_id", "order_items.product_id"}
    one_way = cli("-i", str(shop.write_inventory(tmp_path)), "inventory", "check", "--connect", "--json")
    advised = [f["message"] for f in one_way.json()["findings"] if "search: false" in f["message"]]
    assert advised == ["order_items.order_id (order_id): a value repeats in up to 2 rows; if those rows can belong "
                       "to different people (a product, an address), declare it {field: order_id, search: false} "
                       "so the collection is never searched by it"]


# -- the inventory ---------------------------------------------------------------------------------------


def _inventory(tmp_path: Path, identities: str, connector: str = "csv") -> Path:
    (tmp_path / "x.csv").write_text("id,email,alt\n1,a@x.example,b@x.example\n")
    (tmp_path / "x.mbox").write_text("")
    path = tmp_path / "inventory.yaml"
    source = "path: x.csv" if connector == "csv" else "path: x.mbox"
    path.write_text(f"""version: 1
controller: {{name: T, contact: privacy@t.example}}
identities:
  email: {{type: email}}
  customer_id: {{type: string, unique: true}}
systems:
  s:
    connector: {connector}
    {source}
    identities:
{identities}
""")
    return path


@pytest.mark.parametrize("identities, message", [
    ("      email: {field: alt, serch: false}",
     "inventory.yaml:11: systems.s.identities.email.serch: unknown key 'serch' in identity field of 'email'; did you mean 'search'?"),
    ("      email: {field: alt, search: false, follow: false}",
     "inventory.yaml:11: systems.s.identities.email: 'alt' has search: false and follow: false: it would link nothing; "
     "remove it from identities"),
    ("      email: [email, {search: false}]",
     "inventory.yaml:11: systems.s.identities.email[1].field: identity field of 'email' needs the key 'field'"),
    ("      email: [email, {field: email, follow: false}]",
     "inventory.yaml:11: systems.s.identities.email[1]: field 'email' is listed twice for 'email'"),
])
def test_bad_directions_are_one_line_with_file_line_and_key(tmp_path, cli, identities, message):
    result = cli("-i", str(_inventory(tmp_path, identities)), "inventory", "check")
    assert result.code == 2
    assert result.err.strip() == f"dsarctl: error: {message}"


def test_directions_on_a_mailbox_are_refused(tmp_path, cli):
    path = _inventory(tmp_path, "      email: [from, {field: to, search: false}]", connector="mbox")
    result = cli("-i", str(path), "inventory", "check")
    assert result.code == 2 and "link directions (search: false / follow: false) apply to records" in result.err


def test_follow_false_searches_by_the_field_but_does_not_follow_it(tmp_path):
    from dsarctl.inventory import load_inventory
    from helpers import find

    (tmp_path / "people.csv").write_text("email,alt\nann@x.example,shared@x.example\nben@x.example,\n")
    (tmp_path / "tickets.csv").write_text("email,body\nshared@x.example,from the shared desk\nben@x.example,hi\n")
    path = _inventory(tmp_path, "      email: email")
    text = path.read_text().split("systems:")[0] + """systems:
  people:
    connector: csv
    path: people.csv
    identities: {email: [email, {field: alt, follow: false}]}
  tickets:
    connector: csv
    path: tickets.csv
    identities: {email: email}
"""
    path.write_text(text)
    inventory = load_inventory(path)
    ann = find(inventory, "ann@x.example")
    assert [r.data["email"] for r in ann.systems["tickets"].collections["tickets"].records] == []
    assert "email:shared@x.example" not in {str(i) for i in ann.identifiers}
    by_alt = find(inventory, "shared@x.example")  # searched by the field all the same
    assert [r.data["email"] for r in by_alt.systems["people"].collections["people"].records] == ["ann@x.example"]


def test_inventory_show_and_schema_say_the_directions(company, cli):
    _, _, path = company
    shown = cli("-i", str(path), "inventory", "show", "--format", "json").json()
    orders = next(r for r in shown["systems"] if r["collection"] == "orders")
    assert orders["identities"]["address_id"] == ["shipping_address_id (search: false)"]
    schema = cli("-i", str(path), "inventory", "schema").json()
    text = json.dumps(schema)
    assert '"search"' in text and '"follow"' in text


@pytest.mark.parametrize("fast", ["1", "0"])
def test_search_false_holds_for_file_sources_whatever_their_prefilter(tmp_path, monkeypatch, fast):
    """JSON lines are matched by the connector on every identity field; the search keeps a record of a
    one-way collection only when a searched field matched (with and without the grep prefilter)."""
    from dsarctl.connectors import bytescan
    from dsarctl.inventory import load_inventory
    from helpers import find

    if fast == "0":
        monkeypatch.setenv("DSARCTL_GREP", "off")
    bytescan._reset_grep()
    # round 2 looks for Ann's work address and team 7 at once: the connector sees Ben's team 7 too
    (tmp_path / "people.csv").write_text("email,work,team\nann@x.example,ann@work.example,7\nben@x.example,,7\n")
    (tmp_path / "events.jsonl").write_text('{"user": "ann@x.example", "team": "7"}\n'
                                           '{"user": "ben@x.example", "team": "7"}\n')
    path = _inventory(tmp_path, "      email: email")
    path.write_text(path.read_text().replace("  customer_id: {type: string, unique: true}",
                                             "  team_id: {type: string}").split("systems:")[0] + """systems:
  people:
    connector: csv
    path: people.csv
    identities: {email: [email, work], team_id: {field: team, search: false}}
  events:
    connector: jsonl
    path: events.jsonl
    identities: {email: user, team_id: {field: team, search: false}}
""")
    ann = find(load_inventory(path), "ann@x.example")
    assert [r.data["email"] for r in ann.systems["people"].collections["people"].records] == ["ann@x.example"]
    assert [r.data["user"] for r in ann.systems["events"].collections["events"].records] == ["ann@x.example"]
    assert "team_id:7" in {str(i) for i in ann.identifiers}  # followed, but no collection is searched by it
    bytescan._reset_grep()


def test_a_place_read_again_with_other_bytes_fails_rather_than_merging_two_messages(tmp_path):
    """An mbox replaced between two search rounds: the same byte range now holds another message. The
    search refuses to take it as the same record (its collection fails), never merges the two."""
    from dsarctl.connectors import Record
    from dsarctl.errors import SourceError
    from dsarctl.inventory import load_inventory
    from dsarctl.search import CollectionResult, _Subject

    (tmp_path / "x.mbox").write_text("")
    inventory = load_inventory(_inventory(tmp_path, "      email: [from, to]", connector="mbox"))
    coll = inventory.systems["s"].collections["s"]
    subject = _Subject(inventory, [], list(inventory.systems.values()))
    cres = CollectionResult(coll)
    first = Record("s", "s", (0, 100), {}, {"email": {"a@x.example"}}, {("email", "a@x.example")}, digest="aa")
    subject.take(coll, cres, first, 1, True)
    same = Record("s", "s", (0, 100), {}, {"email": {"a@x.example"}}, {("email", "b@x.example")}, digest="aa")
    subject.take(coll, cres, same, 2, True)
    assert cres.records == [first] and first.matched == {("email", "a@x.example"), ("email", "b@x.example")}
    other = Record("s", "s", (0, 100), {}, {"email": {"b@x.example"}}, {("email", "b@x.example")}, digest="bb")
    with pytest.raises(SourceError, match="changed while it was searched"):
        subject.take(coll, cres, other, 2, True)


def test_replay_after_a_restore_keeps_the_shared_row_the_erase_kept(tmp_path, monkeypatch, cli):
    """The erase left address 10 (Ben's order and card point at it); a replay after a restore of the
    whole database must leave it too, and say so."""
    import shutil

    from sqlalchemy import create_engine

    url = f"sqlite:///{tmp_path / 'shop.db'}"
    engine = create_engine(url)
    shop.create(engine)
    engine.dispose()
    shutil.copy(tmp_path / "shop.db", tmp_path / "backup.db")
    monkeypatch.setenv("SHOP_URL", url)
    path = shop.write_inventory(tmp_path)
    assert cli("-i", str(path), "erase", "ann@shop.example", "--yes").code == 0
    assert shop.ids(create_engine(url), "", "addresses") == {10, 11, 12}
    shutil.copy(tmp_path / "backup.db", tmp_path / "shop.db")  # the backup restored

    result = cli("-i", str(path), "erase", "--replay", "--yes", "--json")
    assert result.code == 0, result
    engine = create_engine(url)
    assert shop.ids(engine, "", "addresses") == {10, 11, 12}
    assert shop.ids(engine, "", "products") == {500, 503}
    assert shop.ids(engine, "", "customers") == {2}
    left = {(r["collection"], r["reason"]) for r in result.json()["remaining"] if r["status"] == "left alone"}
    assert ("addresses", "shared: 2 other records point at it (address_id:10)") in left
    engine.dispose()


def test_what_a_row_reached_through_a_one_way_link_carries_is_not_followed(tmp_path):
    """Alice's order ships to Bob's house: the address row is hers to read, but its owner is Bob, and
    following it would put Bob's account and orders in Alice's answer (customer_id not even unique here)."""
    from dsarctl.inventory import load_inventory
    from helpers import find

    (tmp_path / "customers.csv").write_text("id,email\n1,alice@x.example\n2,bob@x.example\n")
    (tmp_path / "orders.csv").write_text("id,customer,ship_to\n100,1,20\n200,2,20\n201,2,21\n")
    (tmp_path / "addresses.csv").write_text("id,owner,line\n20,2,Bob's house\n21,2,Bob's office\n")
    path = _inventory(tmp_path, "      email: email")
    path.write_text(path.read_text().split("identities:")[0] + """identities:
  email: {type: email}
  customer_id: {type: string}
  address_id: {type: string}
systems:
  customers:
    connector: csv
    path: customers.csv
    identities: {email: email, customer_id: id}
  orders:
    connector: csv
    path: orders.csv
    identities: {customer_id: customer, address_id: {field: ship_to, search: false}}
  addresses:
    connector: csv
    path: addresses.csv
    identities: {address_id: id, customer_id: owner}
""")
    inventory = load_inventory(path)
    alice = find(inventory, "alice@x.example")
    held = {name: sorted(r.data["id"] for r in sres.collections[name].records)
            for name, sres in alice.systems.items()}
    assert held == {"customers": ["1"], "orders": ["100"], "addresses": ["20"]}
    assert "customer_id:2" not in {str(i) for i in alice.identifiers}
    # reached through a link of its own too, the same row is the subject's and is followed
    bob = find(inventory, "bob@x.example")
    assert {r.data["id"] for r in bob.systems["addresses"].collections["addresses"].records} == {"20", "21"}


def test_an_unreadable_collection_with_one_way_links_stops_the_erase_and_says_why(company, cli, tmp_path):
    engine, prefix, path = company
    if prefix:
        pytest.skip("one database is enough")
    text = path.read_text().replace("  shop:\n", """  warehouse:
    connector: sql
    url: sqlite:///missing.db
    collections:
      parcels:
        identities: {address_id: {field: address_id, search: false}}
        erase: delete
  shop:
""")
    path.write_text(text)
    before = {t: shop.ids(engine, prefix, t) for t in shop.TABLES}
    r = cli("-i", str(path), "erase", "ann@shop.example", "--yes")
    assert r.code == 3, r
    assert "cannot tell whether rows behind one-way links are shared, so nothing was erased" in r.err
    assert {t: shop.ids(engine, prefix, t) for t in shop.TABLES} == before

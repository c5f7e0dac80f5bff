"""`request new --type appeal --appeal-of` and `--since` through the CLI: output, JSON, exit codes."""

from __future__ import annotations

import sqlite3

import pytest

from helpers import at, one_error_line


@pytest.fixture
def run(cli, demo_dir, monkeypatch):
    """`dsarctl -i <demo inventory> ARGS` (Europe/London, GB-ENG) as operator ann, at 2026-01-20 09:00 UTC."""
    monkeypatch.setenv("DSARCTL_NOW", "2026-01-20T09:00:00Z")
    monkeypatch.setenv("DSARCTL_OPERATOR", "ann")
    inventory = str(demo_dir / "inventory.yaml")
    return lambda *args: cli("-i", inventory, *args)


def refused(run, monkeypatch, regime: str = "us-va", subject: str = "alice@example.com") -> str:
    """A request received 2026-01-05 under `regime`, denied on 2026-01-20; the clock then moves to 02-10."""
    at(monkeypatch, "2026-01-20T09:00:00Z")
    rid = run("request", "new", subject, "--type", "access", "--regime", regime, "--received", "2026-01-05",
              "--json").json()["id"]
    assert run("request", "deny", rid, "--reason", "identity not proven").code == 0
    at(monkeypatch, "2026-02-10T09:00:00Z")
    return rid


def test_appeal_of_a_refused_virginia_request_is_due_in_60_days(run, monkeypatch):
    rid = refused(run, monkeypatch)
    result = run("request", "new", "alice@example.com", "--type", "appeal", "--appeal-of", rid,
                 "--received", "2026-02-02")
    assert result.code == 0, result
    # 2026-02-02 + 60 days; Virginia lets no extension of the appeal's answer
    assert result.out == "Opened R-2026-0002 (appeal of R-2026-0001, us-va) for alice@example.com: due 2026-04-03\n"

    r = run("request", "show", "R-2026-0002", "--explain", "--json").json()
    assert {k: r[k] for k in ("type", "regime", "appeal_of", "due_date", "extension_notice_due", "since")} == {
        "type": "appeal", "regime": "us-va", "appeal_of": "R-2026-0001", "due_date": "2026-04-03",
        "extension_notice_due": None, "since": None}
    assert r["explain"][2].startswith("Appeal of a refused request: us-va answers it within 60 days")
    assert r["explain"][-1] == "Due 2026-04-03 (Friday)"
    shown = run("request", "show", "R-2026-0002").out.splitlines()
    assert "  " + "Appeal of:".ljust(21) + " R-2026-0001" in shown
    one_error_line(run("request", "extend", "R-2026-0002", "--reason", "complex"), "us-va allows no extension")
    events = run("audit", "log", "--request", "R-2026-0002", "--json").json()["events"]
    assert events[0]["kind"] == "request.new" and events[0]["data"]["appeal_of"] == "R-2026-0001"
    assert run("audit", "verify").code == 0


def test_colorado_appeal_extends_by_60_days(run, monkeypatch):
    rid = refused(run, monkeypatch, "us-co")
    r = run("request", "new", "alice@example.com", "--type", "appeal", "--appeal-of", rid, "--received",
            "2026-02-02", "--json").json()
    assert (r["regime"], r["due_date"], r["extension_notice_due"]) == ("us-co", "2026-03-19", "2026-03-19")
    result = run("request", "extend", r["id"], "--reason", "many systems to check again", "--notified-on",
                 "2026-02-02")
    assert result.code == 0, result
    assert result.out == "R-2026-0002 extended: open, due 2026-05-18 (extended)\n"  # 02-02 + 105 days


def test_appeal_takes_the_regime_of_the_refused_request(run, monkeypatch):
    rid = refused(run, monkeypatch, "us-ct")
    one_error_line(run("request", "new", "alice@example.com", "--type", "appeal", "--appeal-of", rid,
                       "--regime", "us-va"), f"the appeal of {rid} is under its regime us-ct, not us-va")


@pytest.mark.parametrize("regime, text", [
    ("us-ut", "us-ut takes no appeal: the Utah Consumer Privacy Act gives no right to appeal a refusal"),
    ("us-ca", "us-ca takes no appeal: the CCPA gives no right to appeal"),
    ("uk-gdpr", "uk-gdpr takes no appeal"),
])
def test_regimes_without_an_appeal_refuse_it(run, monkeypatch, regime, text):
    rid = refused(run, monkeypatch, regime)
    one_error_line(run("request", "new", "alice@example.com", "--type", "appeal", "--appeal-of", rid), text)


def test_what_cannot_be_appealed(run, monkeypatch):
    rid = refused(run, monkeypatch)
    one_error_line(run("request", "new", "alice@example.com", "--type", "appeal"),
                   "an appeal needs --appeal-of: the id of the refused request it appeals")
    one_error_line(run("request", "new", "alice@example.com", "--type", "access", "--appeal-of", rid),
                   "--appeal-of is for appeal requests only, not access requests")
    one_error_line(run("request", "new", "alice@example.com", "--type", "appeal", "--appeal-of", "R-2026-0099"),
                   "unknown request id 'R-2026-0099'")
    one_error_line(run("request", "new", "bob@example.com", "--type", "appeal", "--appeal-of", rid),
                   f"request {rid} belongs to another subject")
    one_error_line(run("request", "new", "alice@example.com", "--type", "appeal", "--appeal-of", rid,
                       "--received", "2026-01-15"),
                   f"the appeal cannot arrive before {rid} was refused (2026-01-20T09:00:00+00:00)")
    open_id = run("request", "new", "alice@example.com", "--type", "erasure", "--regime", "us-va",
                  "--json").json()["id"]
    one_error_line(run("request", "new", "alice@example.com", "--type", "appeal", "--appeal-of", open_id),
                   f"{open_id} is open, not denied: only a refused request can be appealed")

    appeal = run("request", "new", "alice@example.com", "--type", "appeal", "--appeal-of", rid, "--json").json()
    one_error_line(run("request", "new", "alice@example.com", "--type", "appeal", "--appeal-of", rid),
                   f"{rid} is already appealed: {appeal['id']}")
    assert run("request", "deny", appeal["id"], "--reason", "the exemption applies").code == 0
    one_error_line(run("request", "new", "alice@example.com", "--type", "appeal", "--appeal-of", appeal["id"]),
                   f"{appeal['id']} is itself an appeal: when an appeal is denied, the subject may complain to "
                   "the attorney general")


def test_a_law_not_yet_in_force_refuses_the_request(run):
    one_error_line(run("request", "new", "alice@example.com", "--type", "access", "--regime", "us-ok"),
                   "us-ok applies to requests received from 2027-01-01 (Okla. SB 546 (2025)); "
                   "this one was received 2026-01-20")


def test_ccpa_access_since(run, monkeypatch):
    at(monkeypatch, "2026-02-10T09:00:00Z")
    result = run("request", "new", "alice@example.com", "--type", "access", "--regime", "us-ca",
                 "--received", "2026-02-01", "--since", "2022-01-01", "--json")
    assert result.code == 0, result
    r = result.json()
    assert (r["since"], r["due_date"]) == ("2022-01-01", "2026-03-18")
    assert "  " + "Since:".ljust(21) + " 2022-01-01" in run("request", "show", r["id"]).out.splitlines()
    assert run("request", "new", "bob@example.com", "--type", "access", "--regime", "us-ca",
               "--json").json()["since"] is None

    one_error_line(run("request", "new", "alice@example.com", "--type", "access", "--regime", "us-ca",
                       "--since", "2021-12-31"),
                   "--since 2021-12-31: the CCPA reaches back only to personal information collected on or after "
                   "2022-01-01 (Cal. Civ. Code §1798.130(a)(2)(B))")
    one_error_line(run("request", "new", "alice@example.com", "--type", "erasure", "--regime", "us-ca",
                       "--since", "2023-01-01"),
                   "--since is for us-ca access requests only (Cal. Civ. Code §1798.130(a)(2)(B)); "
                   "this is an erasure request under us-ca")
    one_error_line(run("request", "new", "alice@example.com", "--type", "access", "--since", "2023-01-01"),
                   "this is an access request under uk-gdpr")
    one_error_line(run("request", "new", "alice@example.com", "--type", "access", "--regime", "us-ca",
                       "--since", "last year"), "--since: 'last year' is not an ISO date (2026-11-20)")


def test_a_log_written_before_appeals_still_verifies_after_its_migration(run, demo_dir):
    assert run("request", "new", "alice@example.com", "--type", "access").code == 0
    path = next(demo_dir.rglob("*.db"))
    conn = sqlite3.connect(path)  # the log as the version before appeals left it
    with conn:
        conn.execute("ALTER TABLE requests DROP COLUMN appeal_of")
        conn.execute("ALTER TABLE requests DROP COLUMN since")
        conn.execute("DELETE FROM _sqlite_migrations WHERE name = 'm003_request_links'")
    conn.close()
    result = run("audit", "verify")
    assert result.code == 0, result
    assert run("request", "show", "R-2026-0001", "--json").json()["appeal_of"] is None
    assert "appeal_of" in {row[1] for row in sqlite3.connect(path).execute("PRAGMA table_info(requests)")}

"""Output that fits where it goes (issue 20): tables on a terminal of 80 and 60 columns keep identifiers
whole, piped output is one line per record, stderr off a terminal is never wrapped; dates are the
controller's local dates; a "no" at the erase prompt and Ctrl-C behave; export/erase say which request they
opened. The terminal cases run in a real pseudo-terminal of the given size (tests/terminal.py)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

import terminal
from helpers import one_error_line

NOW = "2026-10-05T09:00:00Z"  # a Monday; London is on BST (UTC+01:00)


@pytest.fixture
def env(demo_dir, monkeypatch):
    """The demo company at NOW, operator ann; returns the inventory path."""
    monkeypatch.setenv("DSARCTL_NOW", NOW)
    monkeypatch.setenv("DSARCTL_OPERATOR", "ann")
    return str(demo_dir / "inventory.yaml")


@pytest.fixture
def requests(cli, env):
    """Three requests: alice's erasure and carol's access received on 1 October (London), and a
    rectification by customer id received now."""
    for args in (["alice@example.com", "--type", "erasure", "--received", "2026-10-01"],
                 ["carol@example.com", "--type", "access", "--received", "2026-10-01"],
                 ["customer_id:1042", "--type", "rectification", "--regime", "eu-gdpr"]):
        assert cli("-i", env, "request", "new", *args).code == 0
    return env


# --- tables on a terminal -------------------------------------------------------------------------------


def test_request_list_at_80_columns_keeps_every_identifier_whole(requests):
    screen = terminal.run(["-i", requests, "request", "list"], cols=80)
    assert screen.code == 0
    # 80 columns: the regime and the received date go (the least useful first); nothing is folded
    assert screen.lines() == [
        " id          ┃ subject           ┃ type          ┃ status ┃ due",
        "━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━╇━━━━━━━━╇━━━━━━━━━━━━",
        " R-2026-0001 │ alice@example.com │ erasure       │ open   │ 2026-11-02",
        " R-2026-0002 │ carol@example.com │ access        │ open   │ 2026-11-02",
        " R-2026-0003 │ customer_id:1042  │ rectification │ open   │ 2026-11-05",
        "",
    ]


def test_request_list_at_60_columns_keeps_the_subject_and_drops_low_value_columns(requests):
    screen = terminal.run(["-i", requests, "request", "list"], cols=60)
    assert screen.code == 0
    assert screen.lines() == [
        " id          ┃ subject           ┃ due",
        "━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━",
        " R-2026-0001 │ alice@example.com │ 2026-11-02",
        " R-2026-0002 │ carol@example.com │ 2026-11-02",
        " R-2026-0003 │ customer_id:1042  │ 2026-11-05",
        "",
    ]


def test_request_list_at_120_columns_shows_every_column(requests):
    screen = terminal.run(["-i", requests, "request", "list"], cols=120)
    assert screen.lines()[2] == (" R-2026-0001 │ alice@example.com │ erasure       │ open   │ uk-gdpr │ "
                                 "2026-10-01 │ 2026-11-02")


def test_a_screen_too_narrow_for_a_table_gets_one_block_per_record(requests):
    screen = terminal.run(["-i", requests, "request", "list"], cols=30)
    assert screen.code == 0
    assert screen.lines()[:8] == [
        "R-2026-0001", "  subject: alice@example.com", "  type: erasure", "  status: open", "  regime: uk-gdpr",
        "  received: 2026-10-01", "  due: 2026-11-02", "R-2026-0002"]


def test_find_at_80_columns_never_breaks_an_identifier(env):
    screen = terminal.run(["-i", env, "find", "alice@example.com"], cols=80)
    assert screen.code == 0
    table = screen.text.split("Records found: 16", 1)[1]
    rows = [line for line in table.splitlines() if "│" in line]
    assert " crm         │ customers   │ 1       │ customer_id:1042,        │ delete" in [r.rstrip() for r in rows]
    # every identifier of the "found via" column stands whole on one line
    for row in rows:
        for word in row.split("│")[3].split():
            assert word.rstrip(",") in ("customer_id:1042", "email:alice@example.com", "phone:+442079460958",
                                        "order_id:5001", "order_id:5002", "-"), row
    assert max(len(line) for line in screen.text.splitlines()) <= 80


def test_task_list_on_a_terminal_shows_local_times(cli, env):
    assert cli("-i", env, "find", "alice@example.com", "--request", "R-2026-0001").code == 2  # no such request
    assert cli("-i", env, "request", "new", "alice@example.com", "--type", "erasure").code == 0
    assert cli("-i", env, "find", "alice@example.com", "--request", "R-2026-0001").code == 0
    screen = terminal.run(["-i", env, "task", "list"], cols=100)
    assert screen.code == 0
    assert screen.lines()[:4] == [
        " id ┃ request     ┃ system    ┃ processor             ┃ status ┃ opened                 ┃ confirmed",
        "━━━━╇━━━━━━━━━━━━━╇━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━",
        " 1  │ R-2026-0001 │ analytics │ Google Ireland Ltd    │ open   │ 2026-10-05 10:00 BST   │",
        "    │             │           │ (Google Analytics)    │        │ (UTC+01:00)            │",
    ]


# --- piped: one line per record ---------------------------------------------------------------------------


def test_request_list_piped_is_one_tab_separated_line_per_request(cli, requests, monkeypatch):
    monkeypatch.setenv("COLUMNS", "40")  # a pipe has no width: COLUMNS does not wrap it either
    result = cli("-i", requests, "request", "list")
    assert (result.code, result.err) == (0, "")
    assert result.out == (
        "R-2026-0001\talice@example.com\terasure\topen\tuk-gdpr\t2026-10-01\t2026-11-02\n"
        "R-2026-0002\tcarol@example.com\taccess\topen\tuk-gdpr\t2026-10-01\t2026-11-02\n"
        "R-2026-0003\tcustomer_id:1042\trectification\topen\teu-gdpr\t2026-10-05\t2026-11-05\n")


def test_grep_finds_alice_through_a_real_pipe(requests):
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS",)}
    proc = subprocess.run(f"'{sys.executable}' -m dsarctl -i '{requests}' request list | grep alice@example.com",
                          shell=True, capture_output=True, text=True, env=dict(env, COLUMNS="80"), timeout=60)
    assert (proc.returncode, proc.stdout) == (0, "R-2026-0001\talice@example.com\terasure\topen\tuk-gdpr\t"
                                                 "2026-10-01\t2026-11-02\n")


def test_overdue_piped_keeps_each_request_on_one_line(cli, requests, monkeypatch):
    monkeypatch.setenv("COLUMNS", "60")
    monkeypatch.setenv("DSARCTL_NOW", "2026-11-10T09:00:00Z")
    result = cli("-i", requests, "overdue")
    assert result.code == 1
    assert result.out.splitlines()[:4] == [
        "Overdue (3):",
        "  R-2026-0001  erasure       alice@example.com  due 2026-11-02, 8 days overdue (open, uk-gdpr)",
        "  R-2026-0002  access        carol@example.com  due 2026-11-02, 8 days overdue (open, uk-gdpr)",
        "  R-2026-0003  rectification customer_id:1042  due 2026-11-05, 5 days overdue (open, eu-gdpr)",
    ]


def test_find_piped_has_no_table_borders_and_no_wrapping(cli, env, monkeypatch):
    monkeypatch.setenv("COLUMNS", "50")
    result = cli("-i", env, "find", "alice@example.com")
    assert result.code == 0
    lines = result.out.splitlines()
    assert "crm\tcustomers\t1\tcustomer_id:1042, email:alice@example.com, phone:+442079460958\tdelete" in lines
    assert "Records found: 16" in lines
    assert not any(c in result.out for c in "│┃━")


def test_stderr_off_a_terminal_is_never_wrapped(cli, env, monkeypatch):
    monkeypatch.setenv("COLUMNS", "40")
    result = cli("-i", env, "export", "nobody@example.org", "-o", str(env).replace("inventory.yaml", "z.zip"))
    assert result.code == 1  # nobody is nowhere: no package
    assert result.err == (
        "opened request R-2026-0001, received 2026-10-05 (today; give --received DATE when the request arrived "
        "earlier), due 2026-11-05\n"
        "nothing found: no package written\n")


# --- dates in the controller's zone ----------------------------------------------------------------------


def test_a_date_received_is_shown_as_that_local_date_and_time_with_its_zone(cli, env):
    opened = cli("-i", env, "request", "new", "carol@example.com", "--type", "access", "--received", "2026-10-01")
    assert opened.code == 0
    assert cli("-i", env, "request", "list").out == (
        "R-2026-0001\tcarol@example.com\taccess\topen\tuk-gdpr\t2026-10-01\t2026-11-02\n")
    shown = cli("-i", env, "request", "show", "R-2026-0001").out.splitlines()
    assert "  Received:             2026-10-01 00:00 BST (UTC+01:00)" in shown
    assert "  Entered:              2026-10-05 10:00 BST (UTC+01:00)" in shown
    # JSON keeps the stored instant, unchanged
    assert cli("-i", env, "request", "show", "R-2026-0001", "--json").json()["received_at"] == \
        "2026-09-30T23:00:00+00:00"


def test_a_winter_time_shows_gmt(cli, env, monkeypatch):
    monkeypatch.setenv("DSARCTL_NOW", "2026-12-01T09:30:00Z")
    assert cli("-i", env, "request", "new", "carol@example.com", "--type", "access").code == 0
    assert "  Received:             2026-12-01 09:30 GMT (UTC+00:00)" in \
        cli("-i", env, "request", "show", "R-2026-0001").out.splitlines()


# --- prompts ---------------------------------------------------------------------------------------------


def test_no_at_the_erase_prompt_erases_nothing_and_exits_2(env, demo_dir):
    before = (demo_dir / "demo" / "newsletter.csv").read_bytes()
    screen = terminal.run(["-i", env, "erase", "bob@example.net"], cols=120, stderr_pipe=True,
                          steps=(("Suppression — newsletter", b"n\n"),))
    assert screen.code == 2
    assert screen.err.endswith("Carry out this erasure? [y/N]: Nothing erased.\n"), screen.err
    assert "error" not in screen.err
    assert "Erasure plan for: email:bob@example.net" in screen.text
    assert (demo_dir / "demo" / "newsletter.csv").read_bytes() == before


def test_ctrl_c_at_the_erase_prompt_is_130_and_interrupted(env, demo_dir):
    before = (demo_dir / "demo" / "newsletter.csv").read_bytes()
    screen = terminal.run(["-i", env, "erase", "bob@example.net"], cols=120,
                          steps=(("[y/N]: ", b"\x03"),))
    assert screen.code == 130
    assert screen.text.endswith("Carry out this erasure? [y/N]: \ndsarctl: error: interrupted\n"), screen.text
    assert (demo_dir / "demo" / "newsletter.csv").read_bytes() == before


def test_ctrl_d_at_the_prompt_is_a_no(env):
    screen = terminal.run(["-i", env, "erase", "bob@example.net"], cols=120, stderr_pipe=True,
                          steps=(("Suppression — newsletter", b"\x04"),))
    assert screen.code == 2
    assert screen.err.endswith("Carry out this erasure? [y/N]: \nNothing erased.\n"), screen.err


def test_an_unclear_answer_is_asked_again(env):
    screen = terminal.run(["-i", env, "erase", "bob@example.net", "--dry-run"], cols=120)
    assert screen.code == 0  # (the dry run asks nothing)
    screen = terminal.run(["-i", env, "erase", "bob@example.net"], cols=120,
                          steps=(("[y/N]: ", b"maybe\n"), ("Please answer", b"no\n")))
    assert screen.code == 2
    assert screen.text.endswith("Carry out this erasure? [y/N]: Please answer y or n.\n"
                               "Carry out this erasure? [y/N]: Nothing erased.\n"), screen.text


_SLOW_FIND = """
import sys, time
import dsarctl.search as search
def slow(*args, **kwargs):
    sys.stderr.write('SEARCHING\\n'); sys.stderr.flush()
    time.sleep(60)
search.find_subject = slow
from dsarctl.cli import main
sys.argv[0] = 'dsarctl'
main()
"""


@pytest.mark.parametrize("args", [["find", "alice@example.com"],  # the path without typer
                                  ["find", "alice@example.com", "--no-expand"]],  # through typer
                         ids=["fast path", "typer"])
def test_ctrl_c_during_a_long_find_is_130_and_interrupted(env, args):
    proc = subprocess.Popen([sys.executable, "-c", _SLOW_FIND, "-i", env, *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, preexec_fn=terminal.interruptible)
    assert proc.stderr.readline() == "SEARCHING\n"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert (proc.returncode, out, err) == (130, "", "dsarctl: error: interrupted\n")


def test_ctrl_c_during_a_long_find_on_a_terminal(env):
    screen = terminal.run(["-i", env, "find", "alice@example.com"], cols=80, python=_SLOW_FIND,
                          steps=(("SEARCHING", b"\x03"),))
    assert screen.code == 130
    assert screen.text.endswith("dsarctl: error: interrupted\n"), screen.text


# --- the request a run opens ------------------------------------------------------------------------------


def _unverified(rid: str) -> str:
    """The warning of an export for a request not verified (issue 21), after what this issue adds."""
    return (f"warning: request {rid} is not verified: the package is marked unverified and must not be sent until "
            f"it is (verify with: dsarctl request verify {rid} --match FIELD=VALUE, or --method TEXT)\n")


def test_export_without_a_request_says_which_it_opened_and_when_it_was_received(cli, env, demo_dir):
    result = cli("-i", env, "export", "alice@example.com", "-o", str(demo_dir / "a.zip"))
    assert result.code == 0
    assert result.err == ("opened request R-2026-0001, received 2026-10-05 (today; give --received DATE when the "
                          "request arrived earlier), due 2026-11-05\n" + _unverified("R-2026-0001"))


def test_export_received_sets_the_date_of_the_request_it_opens(cli, env, demo_dir):
    result = cli("-i", env, "export", "alice@example.com", "-o", str(demo_dir / "a.zip"),
                 "--received", "2026-09-01", "--json")
    assert result.code == 0
    assert result.err == "opened request R-2026-0001, received 2026-09-01, due 2026-10-01\n" + _unverified("R-2026-0001")
    assert json.loads(result.out)["request"] == {"id": "R-2026-0001", "due_date": "2026-10-01", "created": True}
    shown = cli("-i", env, "request", "show", "R-2026-0001", "--json").json()
    assert (shown["type"], shown["received_at"], shown["due_date"]) == ("access", "2026-08-31T23:00:00+00:00",
                                                                        "2026-10-01")
    # overdue now warns: the deadline counts from 1 September, not from the day the package was made
    assert cli("-i", env, "overdue", "--json").json()["overdue"][0]["id"] == "R-2026-0001"


def test_export_received_with_an_open_request_is_not_used_and_says_so(cli, env, demo_dir):
    assert cli("-i", env, "request", "new", "alice@example.com", "--type", "access",
               "--received", "2026-10-02").code == 0
    result = cli("-i", env, "export", "alice@example.com", "-o", str(demo_dir / "a.zip"), "--received", "2026-09-01")
    assert result.code == 0
    assert result.err == ("warning: --received not used: the run was filed under the subject's open request "
                          "R-2026-0001 (due 2026-11-02)\n" + _unverified("R-2026-0001"))


def test_received_with_request_is_refused(cli, env):
    assert cli("-i", env, "request", "new", "alice@example.com", "--type", "access").code == 0
    result = cli("-i", env, "export", "alice@example.com", "-r", "R-2026-0001", "--received", "2026-09-01")
    one_error_line(result, "--received is the date of the request the run opens; --request names one that "
                           "already has its own")


def test_received_that_is_not_a_date_is_refused(cli, env):
    result = cli("-i", env, "erase", "bob@example.net", "--yes", "--received", "last week")
    one_error_line(result, "last week")


def test_erase_without_a_request_says_which_it_opened(cli, env):
    result = cli("-i", env, "erase", "bob@example.net", "--yes", "--received", "2026-09-28")
    assert result.code == 0, result
    assert result.err == "opened request R-2026-0001, received 2026-09-28, due 2026-10-28\n"
    shown = cli("-i", env, "request", "show", "R-2026-0001", "--json").json()
    assert (shown["type"], shown["subject"], shown["due_date"]) == ("erasure", "bob@example.net", "2026-10-28")


def test_erase_received_is_refused_with_batch_and_dry_run(cli, env, demo_dir):
    one_error_line(cli("-i", env, "erase", "bob@example.net", "--dry-run", "--received", "2026-09-28"),
                   "--received is the date of the request an erase opens: not with --batch or --dry-run")


def test_lines_on_a_narrow_terminal_wrap_between_words_and_keep_long_words_whole(env, demo_dir):
    screen = terminal.run(["-i", env, "export", "alice@example.com", "-o", str(demo_dir / "a.zip")], cols=60)
    assert screen.code == 0
    import hashlib

    digest = hashlib.sha256((demo_dir / "a.zip").read_bytes()).hexdigest()
    lines = screen.lines()
    at = lines.index("SHA-256")
    assert lines[at + 1] == digest  # 64 characters: on a line of its own, whole
    # the warning that follows (the request is not verified) wraps between words, identifiers whole
    assert lines[at + 2:] == ["warning: request R-2026-0001 is not verified: the package is",
                              "marked unverified and must not be sent until it is (verify",
                              "with: dsarctl request verify R-2026-0001 --match",
                              "FIELD=VALUE, or --method TEXT)", ""]
    screen = terminal.run(["-i", env, "request", "new", "alice@example.com", "--type", "erasure"], cols=60)
    assert screen.lines() == ["Opened R-2026-0002 (erasure, uk-gdpr) for alice@example.com:",
                              "due 2026-11-05 (any extension to be notified by 2026-11-05)", ""]


def test_layout_counts_wide_characters_as_two_columns():
    from dsarctl.cli.output import Column, layout

    columns = (Column("id", whole=True), Column("subject", whole=True), Column("note", drop=1))
    cells = [("R-1", "山田太郎@example.jp", "a note")]
    # the subject takes 8 + 11 = 19 columns on screen (len() would say 15)
    # each column takes a space each side, and one separator between two
    assert layout(columns, cells, 60) == {0: 3, 1: 19, 2: 6}
    assert layout(columns, cells, (3 + 19 + 4) + 3 * 3 - 1) == {0: 3, 1: 19, 2: 4}  # "a note": wrapped
    assert layout(columns, cells, (3 + 19 + 4) + 3 * 3 - 2) == {0: 3, 1: 19}  # then the note goes
    assert layout(columns, cells, (3 + 19) + 2 * 3 - 1) == {0: 3, 1: 19}
    assert layout(columns, cells, (3 + 19) + 2 * 3 - 2) is None  # not even the identifiers: one block each

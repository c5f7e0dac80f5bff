"""The locale race on a sample (bytescan._faster): whichever locale wins it, or is made to win it, a
batch's many-needle search finds exactly what a plain parse finds, on the benchmark company, with the
sample path really taken."""

from __future__ import annotations

import pytest

from dsarctl.connectors import bytescan

from helpers import benchmark_company
from test_bytescan import _compare


def _locale(way) -> str:
    _args, env = way
    return env.get("LC_ALL")


@pytest.mark.skipif(bytescan.grep_binary() is None, reason="GNU grep is not installed")
@pytest.mark.parametrize("pick", ["race", "C.UTF-8", "C"])
def test_a_batch_search_raced_on_a_sample_agrees_with_a_plain_parse(tmp_path, monkeypatch, pick):
    benchmark_company(tmp_path)
    from dsarctl.inventory import load_inventory

    monkeypatch.setattr(bytescan, "_SAMPLE", 4096)  # every file and folder is "big"
    monkeypatch.setattr(bytescan, "_at_group", lambda patterns: False)  # grep, not atscan, for mail too
    chosen: list = []
    real = bytescan._faster

    def choosing(ways, sample):
        named = [w for w in ways if _locale(w) == pick]
        result = named if named else real(ways, sample)
        chosen.append((type(sample).__name__, [_locale(w) for w in result]))
        return result

    monkeypatch.setattr(bytescan, "_faster", choosing)
    inventory = load_inventory(tmp_path / "inventory.yaml")
    ordinary = (tmp_path / "subjects.txt").read_text().split()[:40]
    assert _compare(inventory, [[f"email:{s}" for s in ordinary]]) >= 4
    # files were raced on a sample, and one locale alone then read everything (a Maildir's headers are
    # read by atscan --headers, without grep)
    assert {kind for kind, result in chosen if len(result) == 1} == {"bytes"}
    if pick != "race":
        assert {kind for kind, result in chosen if result == [pick]} == {"bytes"}

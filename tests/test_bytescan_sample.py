"""The locale race on a sample (bytescan._faster): whichever locale wins, a batch's many-needle search
finds exactly what a plain parse finds, on the benchmark company, with the sample path really taken."""

from __future__ import annotations


import pytest

from dsarctl.connectors import bytescan

from helpers import benchmark_company
from test_bytescan import _compare


@pytest.mark.skipif(bytescan.grep_binary() is None, reason="GNU grep is not installed")
def test_a_batch_search_raced_on_a_sample_agrees_with_a_plain_parse(tmp_path, monkeypatch):
    benchmark_company(tmp_path)
    from dsarctl.inventory import load_inventory

    monkeypatch.setattr(bytescan, "_SAMPLE", 4096)  # every file and folder is "big"
    monkeypatch.setattr(bytescan, "_at_group", lambda patterns: False)  # grep, not atscan, for the e-mails
    raced: list = []
    real = bytescan._faster

    def counting(args, envs, sample):
        chosen = real(args, envs, sample)
        raced.append((type(sample).__name__, len(chosen)))
        return chosen

    monkeypatch.setattr(bytescan, "_faster", counting)
    inventory = load_inventory(tmp_path / "inventory.yaml")
    ordinary = (tmp_path / "subjects.txt").read_text().split()[:40]
    assert _compare(inventory, [[f"email:{s}" for s in ordinary]]) >= 4
    assert {kind for kind, n in raced if n == 1} == {"bytes", "list"}  # files and folders, one locale each

"""Version 1 names of the source contract, kept for one version. The contract is `dsarctl.sources`.

`Connector` is a `Source` that still answers to the version 1 method names (`check_collection`, a
`locate` without `lookup_only`), so that a plugin written against version 1 searches, exports and is
checked as before. It is not `Erasable`: such a plugin cannot erase until it moves to the version 2
contract (the loader refuses an erase rule on it, naming the rule's line).
"""

from __future__ import annotations

from ..sources import (EraseContext, EraseOutcome, EraseTarget, Erasable, ExportFile, Finding, KeySpec, Record,
                       Source, StartedSearch, Wanted)

__all__ = ["Connector", "EraseContext", "EraseOutcome", "EraseTarget", "Erasable", "ExportFile", "Finding",
           "KeySpec", "Record", "Source", "StartedSearch", "Wanted"]


class Connector(Source):
    """Base class of version 1 plugins (deprecated): search, export and check only."""

    def start_locate(self, collection, wanted: Wanted, *, lookup_only: bool = False) -> StartedSearch:
        return StartedSearch(lambda: self.locate(collection, wanted))  # a version 1 locate takes no lookup_only

    def check(self, collection) -> list[Finding]:
        return self.check_collection(collection)

    def check_collection(self, collection) -> list[Finding]:
        return []

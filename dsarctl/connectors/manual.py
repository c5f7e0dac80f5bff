"""A processor dsarctl cannot reach: nothing to search, it becomes a tracked task."""

from __future__ import annotations

from ..sources import KeySpec, Source


class ManualConnector(Source):
    name = "manual"
    system_keys = {
        "processor": KeySpec("str", "Who processes the data (e.g. Google Ireland Ltd (Google Analytics))."),
        "instructions": KeySpec("str", "What the operator must do there for a request."),
        "identities": KeySpec("strlist", "Identity kinds to hand over to the processor, e.g. [email]."),
    }
    implicit_collection = False
    manual = True

    def locate(self, collection, wanted, *, lookup_only=False):
        return iter(())

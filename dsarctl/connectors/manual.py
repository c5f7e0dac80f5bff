"""A processor dsarctl cannot reach: nothing to search, it becomes a tracked task."""

from __future__ import annotations

from ..sources import KeySpec, Source


class ManualConnector(Source):
    name = "manual"
    system_keys = {
        "processor": KeySpec("str", "Who processes the data (e.g. Google Ireland Ltd (Google Analytics))."),
        "instructions": KeySpec("instructions", "What the operator must do there: one text for every request "
                                                "type, or {access: ..., erasure: ..., default: ...}."),
        "always_ask": KeySpec("bool", "Open a task even when nothing of the subject was found in the other "
                                      "systems (a processor that collects data itself); default false."),
        "identities": KeySpec("strlist", "Identity kinds to hand over to the processor, e.g. [email]."),
    }
    implicit_collection = False
    manual = True

    def locate(self, collection, wanted, *, lookup_only=False):
        return iter(())

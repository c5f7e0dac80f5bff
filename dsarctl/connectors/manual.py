"""A processor dsarctl cannot reach: nothing to search, it becomes a tracked task."""

from __future__ import annotations

from .base import Connector, KeySpec


class ManualConnector(Connector):
    name = "manual"
    description = "A processor or system handled by hand (becomes a task)"
    system_keys = {
        "processor": KeySpec("str", "Who processes the data (e.g. Google Ireland Ltd (Google Analytics))."),
        "instructions": KeySpec("str", "What the operator must do there for a request."),
        "identities": KeySpec("strlist", "Identity kinds to hand over to the processor, e.g. [email]."),
    }
    can_locate = False
    can_erase = False
    implicit_collection = False

    def locate(self, collection, wanted):
        return iter(())

"""The state a command works on, without typer: `dsarctl overdue`'s fast path (`morning`) uses it too."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Optional

if TYPE_CHECKING:
    from ..inventory import Inventory


@dataclass
class State:
    inventory_path: Optional[Path] = None
    _inventory: "Inventory | None" = None

    def inventory(self) -> "Inventory":
        if self._inventory is None:
            from ..inventory import load_inventory

            self._inventory = load_inventory(self.inventory_path)
        return self._inventory

    def settings(self) -> "Inventory":
        """The inventory's settings only (controller, audit): see `inventory.load_settings`."""
        if self._inventory is not None:
            return self._inventory
        from ..inventory.loader import load_settings

        return load_settings(self.inventory_path)

    @contextmanager
    def request_book(self, *, settings_only: bool = False, create: bool = False) -> Iterator:
        """The inventory's RequestBook, with the audit log closed afterwards. `settings_only` reads only the
        inventory's controller and audit settings (for commands that never touch a source); `create` lets
        the command start the log (see `requests.request_book`)."""
        from ..requests import request_book

        with request_book(self.settings() if settings_only else self.inventory(), create=create) as book:
            yield book


def clock(book) -> tuple:
    """(now, today in the controller's zone): the only place the request commands read the clock."""
    from zoneinfo import ZoneInfo

    from ..runs import now

    at = now()  # the zone was checked when the inventory was loaded
    return at, at.astimezone(ZoneInfo(book.inventory.controller.timezone)).date()

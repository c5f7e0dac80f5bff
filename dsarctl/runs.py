"""Where find/export/erase runs meet the audit log (filled in by the audit integration)."""

from __future__ import annotations

from typing import Any


def record_run(inventory, kind: str, result, *, request_id: str | None = None, extra: dict[str, Any] | None = None):
    """Record a run in the audit log; returns the request it was attached to, or None."""
    return None

"""Domain errors and the exit codes they map to (mapped once, in the CLI's main())."""

from __future__ import annotations

from enum import IntEnum


class ExitStatus(IntEnum):
    """Exit codes of the command line contract (docs/cli.md)."""

    OK = 0
    NO = 1  # the answer is "no": nothing found, something overdue, audit chain broken
    BAD_INPUT = 2  # usage, inventory, identifier, date, unknown request id
    SOURCE_FAILED = 3  # a source failed; the rest still ran
    INTERRUPTED = 130


class DsarError(Exception):
    """Base of every error dsarctl reports as one line, without a traceback."""

    exit_status: ExitStatus = ExitStatus.BAD_INPUT

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class UsageError(DsarError):
    """Bad command-line input: a wrong option value, an unknown request id, a bad date."""


class IdentifierError(UsageError):
    """A subject or --id value that is not a valid identifier of its kind."""


class InventoryError(DsarError):
    """The inventory file is invalid; the message names file:line and the key path."""

    def __init__(self, message: str, *, where: str | None = None, key: str | None = None):
        self.where = where
        self.key = key
        parts = [p for p in (where, key) if p]
        super().__init__(": ".join(parts + [message]))
        self.reason = message


class SourceError(DsarError):
    """A data source could not be read or written (missing file, refused connection, bad line)."""

    exit_status = ExitStatus.SOURCE_FAILED

    def __init__(self, message: str, *, system: str | None = None):
        self.system = system
        super().__init__(f"{system}: {message}" if system else message)
        self.reason = message


class MismatchError(SourceError):
    """The source does not have what the inventory names (a table, a column): an inventory error
    found by reaching the source. `find` reports it as a failed source; `inventory check --connect`
    as bad input."""

    exit_status = ExitStatus.SOURCE_FAILED


class RefusedError(DsarError):
    """An action refused for safety (ambiguous identity, no terminal without --yes)."""

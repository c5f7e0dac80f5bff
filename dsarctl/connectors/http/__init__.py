"""The `http` source: a vendor's HTTP API, reached through a definition (docs/sources/definitions.md).

Modules: `definition` (read and validate a definition file, with file:line), `templates` (placeholders),
`auth` (api_key, bearer, basic, oauth2, service_account), `client` (httpx: retries, 429, per-host
concurrency, injectable sleep), `pages` (offset, cursor and next-link pagination), `source` (the Source
and Erasable of the contract). Built-in definitions are package data in `definitions/*.yaml`.
"""

from .source import HttpSource

__all__ = ["HttpSource"]

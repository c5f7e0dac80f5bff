"""The `http` source: a vendor's API, reached through a definition (see the package's docstring)."""

from __future__ import annotations

from ...sources import Erasable, KeySpec, Source

SYSTEM_KEYS = {
    "definition": KeySpec("str", "A built-in definition (mailchimp, hubspot, zendesk, stripe, google-analytics) or "
                                 "the path of a definition file, relative to the inventory.", required=True),
    "base_url": KeySpec("url", "Where the API is (overrides the definition's base_url: a region, a proxy, a test "
                               "server)."),
    "auth": KeySpec("auth", "How to sign in: {api_key: KEY}, {bearer: TOKEN}, {basic: {username: U, password: P}}, "
                            "{oauth2: {token_url: URL, client_id: ID, client_secret: S, scope: S}} or "
                            "{service_account: FILE}; values from ${VAR}."),
    "timeout": KeySpec("int", "Seconds to wait for each response (default: the definition's, else 30)."),
    "concurrency": KeySpec("int", "Requests at once to this host (default: the definition's, else 4)."),
}


class HttpSource(Source, Erasable):
    name = "http"
    system_keys = SYSTEM_KEYS
    collection_keys = {}

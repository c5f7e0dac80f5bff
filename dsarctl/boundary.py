"""The subject boundary: the checks that stop an answer for one person from reaching another.

- `refuse_ambiguous`: identity expansion reached two values of a `unique` kind (two customer accounts
  for one e-mail). Export and erase refuse until the operator names the account with `--id`; an access
  package or an erasure spanning two accounts may be another person's data.
- `refuse_foreign_request`: a `--request ID` must name one of the subject's identifiers (as the search
  found them, expanded and normalised), or a run of one person would be filed under another's request.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable

from .errors import RefusedError

if TYPE_CHECKING:
    from .identity import Identifier, IdentityKind


def refuse_ambiguous(results: Iterable, action: str = "erasing") -> None:
    """RefusedError when the identity expansion of any result reached two values of a unique kind.

    `results` are `search.FindResult`s; `action` ends the message ("name the right one ... before erasing")."""
    for result in results:
        for kind, values in result.ambiguous.items():
            raise RefusedError(
                f"ambiguous: {len(values)} values of unique identity '{kind}' were found ({', '.join(values)}); "
                f"name the right one with --id {kind}:VALUE before {action}"
            )


def refuse_foreign_request(request: dict, identifiers: Iterable["Identifier"],
                           kinds: dict[str, "IdentityKind"]) -> None:
    """RefusedError unless `request` (a RequestBook entry) names one of `identifiers`.

    The request's stored identifiers are normalised again with the inventory's kinds before comparing,
    so a value stored before a normalisation change still matches. The message names neither side's
    identifiers: the request may be another person's."""
    subject = {str(i) for i in identifiers}
    if not subject or not _stored(request.get("identifiers") or [], kinds) & subject:
        raise RefusedError(
            f"request {request['id']} belongs to another subject; it names none of the identifiers found "
            f"for this one (check the id, or open this subject's own request with `dsarctl request new`)"
        )


def _stored(texts: Iterable[str], kinds: dict[str, "IdentityKind"]) -> set[str]:
    from .errors import IdentifierError
    from .identity import parse_identifier

    out = set()
    for text in texts:
        out.add(text)
        try:
            out.add(str(parse_identifier(text, kinds)))
        except IdentifierError:  # a kind since removed from the inventory: compare the stored text as it is
            pass
    return out

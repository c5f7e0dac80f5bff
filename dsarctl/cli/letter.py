"""`dsarctl letter ID --kind K`: the message to the subject for a step of the request (dsarctl.letters)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..wording import plural
from .common import Command, JsonOpt, choice, examples, state
from .output import Output
from .request import IdArg, OperatorOpt, operator_name

app = typer.Typer(add_completion=False, rich_markup_mode=None)


def _kinds() -> tuple[str, ...]:
    from ..letters import KINDS

    return KINDS


@app.command("letter", cls=Command, epilog=examples(
    ("Acknowledge a new request: its reference, when it was received, when it is due",
     "dsarctl letter R-2026-0001 --kind acknowledge"),
    ("Ask for what confirms the identity, no more", "dsarctl letter R-2026-0001 --kind verify --reason 'your postcode'"),
    ("The cover note with the access package, sent through controller.smtp",
     "dsarctl letter R-2026-0001 --kind response --package --send"),
    ("The extension notice (before request extend, where the law demands notice)",
     "dsarctl letter R-2026-0001 --kind extend --reason 'records in 14 systems' -o extend.eml"),
))
def letter(
    ctx: typer.Context,
    id: IdArg,
    kind: Annotated[str, typer.Option(
        "--kind", "-k", metavar="KIND", show_default=False,
        autocompletion=lambda incomplete: [k for k in _kinds() if k.startswith(incomplete)],
        help="acknowledge, verify (what is needed to confirm identity), clarify, extend (with the reasons, "
             "before the notice date), response (cover note of an access package or erasure report), "
             "refuse (the reason and the right to complain or appeal).")],
    lang: Annotated[str, typer.Option("--lang", metavar="LANG", help="Language of the templates (letters/LANG/ beside the "
                                                     "inventory, else the shipped ones: en).")] = "en",
    output: Annotated[Optional[Path], typer.Option(
        "--output", "-o", metavar="FILE", show_default=False,
        help="The .eml draft to write (default: letter-ID-KIND.eml here); never overwritten.")] = None,
    to: Annotated[Optional[str], typer.Option(
        "--to", metavar="ADDRESS", show_default=False,
        help="The recipient: exactly one address (default: the request's e-mail address).")] = None,
    reason: Annotated[Optional[str], typer.Option(
        "--reason", metavar="REASON", show_default=False,
        help="extend: the reasons for the delay (default: the recorded extension reason); refuse: the reason "
             "(default: the recorded refusal); verify, clarify: what is needed; with --unverified: why the "
             "package goes to an unverified requester; with --to-other: why it goes to that address.")] = None,
    attach: Annotated[Optional[list[Path]], typer.Option(
        "--attach", metavar="FILE", show_default=False, help="A file to attach (repeatable).")] = None,
    package: Annotated[bool, typer.Option(
        "--package", help="Attach the access package of the request's last export (as recorded, unchanged).")]
        = False,
    unverified: Annotated[bool, typer.Option(
        "--unverified", help="Send the access package although the request is not verified (needs --reason; "
                             "recorded in the audit log).")] = False,
    allow_incomplete: Annotated[bool, typer.Option(
        "--allow-incomplete", help="Send an access package whose manifest lists missing Art. 15 items.")] = False,
    to_other: Annotated[bool, typer.Option(
        "--to-other", help="Send a letter carrying the subject's data (a response, an attachment) to an address "
                           "that is not the request's own (needs --reason; recorded in the audit log).")] = False,
    send: Annotated[bool, typer.Option(
        "--send", help="Also send it through the inventory's controller.smtp server.")] = False,
    operator: OperatorOpt = None,
    json_: JsonOpt = False,
) -> None:
    """The message to the subject for a step of the request, from templates: an .eml draft, recorded in the
    audit log (and sent with --send)."""
    from ..errors import UsageError
    from ..letters import write_letter
    from ..runs import now

    choice(kind, _kinds(), "--kind", "letter")
    if unverified and not (reason and reason.strip()):
        raise UsageError("--unverified needs --reason: why the package may go to a requester not verified")
    if to_other and not (reason and reason.strip()):
        raise UsageError("--to-other needs --reason: why the subject's data may go to that address")
    result = write_letter(state(ctx).inventory(), id, kind, now=now(), operator=operator_name(operator),
                          output=output, lang=lang, to=to, reason=reason, attach=list(attach or []),
                          package=package, unverified_reason=reason if unverified else None,
                          allow_incomplete=allow_incomplete, send=send,
                          to_other_reason=reason.strip() if to_other else None)
    Output(json_).emit(result.to_dict(), _render)


def _render(console, d: dict) -> None:
    attached = f", {plural(len(d['attachments']), 'attachment')}" if d["attachments"] else ""
    console.print(f"Wrote {d['file']} ({d['kind']} letter for {d['request']} to {d['to']}{attached})",
                  markup=False, highlight=False)
    console.print(f"Subject: {d['subject']}", markup=False, highlight=False)
    if d["sent"]:
        console.print(f"Sent through {d['smtp']}", markup=False, highlight=False)

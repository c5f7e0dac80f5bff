"""`dsarctl letter ID --kind K`: the message to the subject for a step of the request (dsarctl.letters)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .common import JsonOpt, state
from .output import Output

app = typer.Typer(add_completion=False, rich_markup_mode=None)


@app.command("letter")
def letter(
    ctx: typer.Context,
    id: Annotated[str, typer.Argument(help="The request id (R-2026-0001; case-insensitive).", show_default=False)],
    kind: Annotated[str, typer.Option(
        "--kind", "-k", show_default=False,
        help="acknowledge, verify (what is needed to confirm identity), clarify, extend (with the reasons, "
             "before the notice date), response (cover note of an access package or erasure report), "
             "refuse (the reason and the right to complain or appeal).")],
    lang: Annotated[str, typer.Option("--lang", help="Language of the templates (letters/LANG/ beside the "
                                                     "inventory, else the shipped ones: en).")] = "en",
    output: Annotated[Optional[Path], typer.Option(
        "--output", "-o", show_default=False,
        help="The .eml draft to write (default: letter-ID-KIND.eml here); never overwritten.")] = None,
    to: Annotated[Optional[str], typer.Option(
        "--to", show_default=False,
        help="The recipient (default: the request's e-mail address).")] = None,
    reason: Annotated[Optional[str], typer.Option(
        "--reason", show_default=False,
        help="extend: the reasons for the delay (default: the recorded extension reason); refuse: the reason "
             "(default: the recorded refusal); verify, clarify: what is needed; with --unverified: why the "
             "package goes to an unverified requester.")] = None,
    attach: Annotated[Optional[list[Path]], typer.Option(
        "--attach", show_default=False, help="A file to attach (repeatable).")] = None,
    package: Annotated[bool, typer.Option(
        "--package", help="Attach the access package of the request's last export (as recorded, unchanged).")]
        = False,
    unverified: Annotated[bool, typer.Option(
        "--unverified", help="Send the access package although the request is not verified (needs --reason; "
                             "recorded in the audit log).")] = False,
    allow_incomplete: Annotated[bool, typer.Option(
        "--allow-incomplete", help="Send an access package whose manifest lists missing Art. 15 items.")] = False,
    send: Annotated[bool, typer.Option(
        "--send", help="Also send it through the inventory's controller.smtp server.")] = False,
    operator: Annotated[Optional[str], typer.Option(
        "--operator", show_default=False,
        help="Who is acting, recorded in the audit log (default $DSARCTL_OPERATOR, else the login user).")] = None,
    json_: JsonOpt = False,
) -> None:
    """The message to the subject for a step of the request, from templates: an .eml draft, recorded in the
    audit log (and sent with --send)."""
    from ..errors import UsageError
    from ..letters import write_letter
    from ..runs import now
    from .request import operator_name

    if unverified and not (reason and reason.strip()):
        raise UsageError("--unverified needs --reason: why the package may go to a requester not verified")
    result = write_letter(state(ctx).inventory(), id, kind, now=now(), operator=operator_name(operator),
                          output=output, lang=lang, to=to, reason=reason, attach=list(attach or []),
                          package=package, unverified_reason=reason if unverified else None,
                          allow_incomplete=allow_incomplete, send=send)
    Output(json_).emit(result.to_dict(), _render)


def _render(console, d: dict) -> None:
    attached = f", {len(d['attachments'])} attachment{'s' if len(d['attachments']) != 1 else ''}" \
        if d["attachments"] else ""
    console.print(f"Wrote {d['file']} ({d['kind']} letter for {d['request']} to {d['to']}{attached})",
                  markup=False, highlight=False)
    console.print(f"Subject: {d['subject']}", markup=False, highlight=False)
    if d["sent"]:
        console.print(f"Sent through {d['smtp']}", markup=False, highlight=False)

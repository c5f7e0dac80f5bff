"""How every command's --help reads: the command list with each command's whole one-line summary (click
cuts it at ~45 characters or at the first ". ", as in "e.g."), and an Examples section, copied as it is.

Every command is built with `Command` (`@app.command(..., cls=Command, epilog=examples(...))`) and every
group with `Group`. Nothing here imports a command module: the root help uses it too.
"""

from __future__ import annotations

from typer.core import TyperCommand, TyperGroup


def summary(help_text: str | None) -> str:
    """A command's one-line summary: the first paragraph of its help, whole, on one line."""
    first = (help_text or "").strip().split("\n\n", 1)[0]
    return " ".join(first.replace("\b", "").split())


def shortened(text: str, limit: int) -> str:
    """`text` cut at a word boundary to at most `limit` characters, with an ellipsis: what shell completion
    shows beside a command (fish and zsh print one line each)."""
    if len(text) <= limit:
        return text
    cut = text[:limit - 1].rsplit(" ", 1)[0].rstrip(" ,;:(")
    return cut + "…"


def examples(*pairs: tuple[str, str]) -> str:
    """The Examples section of a command's help, from (what it does, the command line) pairs."""
    return "\n".join(f"# {what}\n{line}" if what else line for what, line in pairs)


def format_examples(epilog: str | None, formatter) -> None:
    """The epilog as an Examples section, each line as written (never re-wrapped: they are copied)."""
    if not epilog:
        return
    with formatter.section("Examples"):
        for line in epilog.strip("\n").splitlines():
            formatter.write(f"{'':>{formatter.current_indent}}{line}\n")


def _plain(pieces: list[str]) -> list[str]:
    """Usage pieces with a required argument as `SUBJECT` (typer writes `{SUBJECT}`); optional ones keep
    their brackets."""
    return [p[1:-1] if p.startswith("{") and p.endswith("}") else p for p in pieces]


class Command(TyperCommand):
    """A command: its group's --help lists its whole first paragraph (shell completion a shortened one); its
    usage line names its arguments as their placeholders (`SUBJECT`, `REQUEST_ID`)."""

    def collect_usage_pieces(self, ctx) -> list[str]:
        return _plain(super().collect_usage_pieces(ctx))

    def get_short_help_str(self, limit: int = 45) -> str:
        return shortened(self.short_help or summary(self.help), limit)

    def format_epilog(self, ctx, formatter) -> None:
        format_examples(self.epilog, formatter)


class Group(TyperGroup):
    """A group of commands: lists each with its whole summary; its examples as for `Command`."""

    def get_short_help_str(self, limit: int = 45) -> str:
        return shortened(self.short_help or summary(self.help), limit)

    def summaries(self, ctx) -> list[tuple[str, str]]:
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.short_help or summary(command.help)))
        return rows

    def format_commands(self, ctx, formatter) -> None:
        rows = self.summaries(ctx)
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def format_epilog(self, ctx, formatter) -> None:
        format_examples(self.epilog, formatter)

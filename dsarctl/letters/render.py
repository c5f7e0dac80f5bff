"""Rendering a letter from its Jinja2 templates: the company's (a folder beside the inventory) before the
shipped ones, per language.

A letter of kind K in language L is `L/K.txt.j2` (its first line `Subject: ...`, then a blank line, then the
text) and, optionally, `L/K.html.j2`. Without an HTML template in the folder the text came from, the HTML
part is the text set into `_layout.html.j2` paragraph by paragraph, so a company that rewrites only the
text sends the same words in both parts. HTML is autoescaped; an undefined variable is an error, not a
blank. A template that fails is one line naming its file and line (exit 2).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ..errors import UsageError

SHIPPED = Path(__file__).resolve().parent.parent / "templates" / "letters"


class LetterTemplateError(UsageError):
    """A letter template that cannot be read or rendered: the message names its file and line."""


def company_folder(inventory) -> Path:
    """Where the company's own templates are: `controller.letters`, else `letters/` beside the inventory."""
    return Path(inventory.controller.letters or Path(inventory.path).parent / "letters")


def languages(company: Path) -> list[str]:
    """The languages with templates, the company's and the shipped ones."""
    found = {p.name for base in (company, SHIPPED) if base.is_dir() for p in base.iterdir()
             if p.is_dir() and not p.name.startswith((".", "_"))}
    return sorted(found)


def render(kind: str, lang: str, context: dict[str, Any], company: Path) -> tuple[str, str, str, str]:
    """(subject, text, html, where the text template came from: "company" or "shipped")."""
    from jinja2 import TemplateNotFound

    if not re.fullmatch(r"[A-Za-z]{2,3}([_-][A-Za-z0-9]{2,8})?", lang or ""):
        raise UsageError(f"--lang: '{lang}' is not a language tag (en, de, pt-BR)")
    env = _environment([company / lang, company, SHIPPED / lang, SHIPPED])
    name = f"{kind}.txt.j2"
    try:
        text_template = env.get_template(name)
    except TemplateNotFound:
        raise UsageError(f"no {lang} template for the {kind} letter: add {company / lang / name} "
                         f"(languages with templates: {', '.join(languages(company)) or 'none'})") from None
    except Exception as exc:
        raise _template_error(exc, company / lang / name) from None
    source = "company" if _within(text_template.filename, company) else "shipped"
    rendered = _run(text_template, context)
    subject, text = _split_subject(rendered, text_template.filename)
    html_name = f"{kind}.html.j2"
    own_html = Path(text_template.filename).parent / html_name
    try:
        if own_html.is_file():
            html = _run(env.get_template(html_name), {**context, "subject": subject})
        else:
            layout = env.get_template("_layout.html.j2")
            html = _run(layout, {**context, "subject": subject, "blocks": text_blocks(text)})
    except LetterTemplateError:
        raise
    except Exception as exc:
        raise _template_error(exc, own_html) from None
    return subject, text, html, source


def text_blocks(text: str) -> list[dict[str, Any]]:
    """The text's paragraphs for the HTML layout: {"list": [items]} for lines starting "- ", else
    {"lines": [lines]} (a paragraph's line breaks kept)."""
    blocks = []
    for para in re.split(r"\n\s*\n", text.strip("\n")):
        lines = para.split("\n")
        if all(line.startswith("- ") for line in lines):
            blocks.append({"list": [line[2:] for line in lines]})
        else:
            blocks.append({"lines": lines})
    return blocks


def _environment(paths: list[Path]):
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    from .context import long_date

    env = Environment(
        loader=FileSystemLoader([str(p) for p in paths]),
        autoescape=select_autoescape(enabled_extensions=("html.j2", "html"), default_for_string=False,
                                     default=False),
        undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
    )
    env.filters["longdate"] = long_date
    env.filters["links"] = _links
    return env


def _links(text: str):
    """Escape `text` for HTML and make its http(s) addresses links (the layout's paragraphs)."""
    from markupsafe import Markup, escape

    parts = re.split(r"(https?://[^\s<>()\"']+[^\s<>()\"'.,;:!?])", str(text))
    out = []
    for i, part in enumerate(parts):
        if i % 2:
            out.append(Markup('<a href="{0}">{0}</a>').format(part))
        else:
            out.append(escape(part))
    return Markup("").join(out)


def _run(template, context: dict[str, Any]) -> str:
    try:
        return template.render(context)
    except Exception as exc:
        raise _template_error(exc, Path(template.filename)) from None


def _split_subject(rendered: str, filename: str) -> tuple[str, str]:
    first, _, rest = rendered.lstrip("\n").partition("\n")
    if not first.startswith("Subject:") or not first[8:].strip():
        raise LetterTemplateError(f"{_shown(filename)}:1: a letter's text template starts with a "
                                  "'Subject: ...' line")
    body = re.sub(r"\n[ \t]*(\n[ \t]*)+\n", "\n\n", rest).strip("\n")  # a skipped paragraph leaves one gap
    return " ".join(first[8:].split()), body + "\n"


def _template_error(exc: Exception, fallback: Path) -> LetterTemplateError:
    """One line: FILE:LINE: what is wrong, from a syntax error or from the template frame of a runtime one."""
    from jinja2 import TemplateNotFound, TemplateSyntaxError

    if isinstance(exc, TemplateSyntaxError):
        where = f"{_shown(exc.filename or str(fallback))}:{exc.lineno}"
        return LetterTemplateError(f"{where}: {exc.message}")
    filename, line = str(fallback), None
    tb = exc.__traceback__
    while tb is not None:
        code_file = tb.tb_frame.f_code.co_filename
        if code_file.endswith(".j2"):
            filename, line = code_file, tb.tb_lineno
        tb = tb.tb_next
    what = f"template not found: {exc.name}" if isinstance(exc, TemplateNotFound) else (
        str(exc) if type(exc).__name__ == "UndefinedError" else f"{type(exc).__name__}: {exc}")
    return LetterTemplateError(f"{_shown(filename)}{f':{line}' if line else ''}: {what}")


def _within(filename: str | None, folder: Path) -> bool:
    try:
        Path(filename or "").resolve().relative_to(folder.resolve())
        return True
    except ValueError:
        return False


def _shown(filename: str) -> str:
    """A template's path as the user knows it: relative to the working folder when inside it."""
    path = Path(filename)
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return str(path)

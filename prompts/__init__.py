"""Prompt templates for the agent's roles, the language reference and the few-shot examples.

Templates are Markdown files in this package with `$name` placeholders (string.Template, so
the braces of JSON and code need no escaping; a literal dollar is `$$`).
"""

from __future__ import annotations

import re
from importlib.resources import files
from string import Template

_HERE = files(__name__)
PEOPLE_ONLY = ("<!-- people only -->", "<!-- /people only -->")
_PEOPLE_ONLY = re.compile(f"{re.escape(PEOPLE_ONLY[0])}.*?{re.escape(PEOPLE_ONLY[1])}\n?", re.DOTALL)


def template(name: str) -> str:
    """The raw text of `name` (e.g. "inspector.md")."""
    return _HERE.joinpath(name).read_text(encoding="utf-8")


def render(name: str, **values) -> str:
    """Template `name` with every placeholder filled; a missing value is a KeyError."""
    return Template(template(name)).substitute(values)


def language_reference() -> str:
    """The pdsl language reference: docs/language.md, through a symbolic link in this package."""
    return template("language.md")


def coder_reference() -> str:
    """The reference as the coder reads it: docs/language.md without its sections marked
    `<!-- people only -->` … `<!-- /people only -->` (diagnostic code tables, text encoding,
    tools). The coder meets each diagnostic in full in its own messages, and the reference is
    sent with every coder-family call, so the page stays whole for people and short for models."""
    return without_people_only(language_reference())


def without_people_only(text: str) -> str:
    """`text` without its people-only sections, markers included; a marker left unpaired is a
    ValueError (a section that would reach the model, or swallow the rest of the page)."""
    kept = _PEOPLE_ONLY.sub("", text)
    for marker in PEOPLE_ONLY:
        if marker in kept:
            raise ValueError(f"unpaired {marker!r} in the language reference")
    return kept


def examples() -> list[tuple[str, str]]:
    """The curated few-shot programs (symbolic links to examples/*.pdsl): (file name, text), sorted."""
    folder = _HERE.joinpath("examples")
    return sorted(
        (p.name, p.read_text(encoding="utf-8")) for p in folder.iterdir() if p.name.endswith(".pdsl")
    )

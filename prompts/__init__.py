"""Prompt templates for the agent's roles, the language reference and the few-shot examples.

Templates are Markdown files in this package with `$name` placeholders (string.Template, so
the braces of JSON and code need no escaping; a literal dollar is `$$`).
"""

from __future__ import annotations

from importlib.resources import files
from string import Template

_HERE = files(__name__)


def template(name: str) -> str:
    """The raw text of `name` (e.g. "inspector.md")."""
    return _HERE.joinpath(name).read_text(encoding="utf-8")


def render(name: str, **values) -> str:
    """Template `name` with every placeholder filled; a missing value is a KeyError."""
    return Template(template(name)).substitute(values)


def language_reference() -> str:
    """The pdsl language reference: docs/language.md, through a symbolic link in this package."""
    return template("language.md")


def examples() -> list[tuple[str, str]]:
    """The curated few-shot programs (symbolic links to examples/*.pdsl): (file name, text), sorted."""
    folder = _HERE.joinpath("examples")
    return sorted(
        (p.name, p.read_text(encoding="utf-8")) for p in folder.iterdir() if p.name.endswith(".pdsl")
    )

"""`proto3d vocab`: the part vocabularies shipped with proto3d (or in a TOML file)."""

from __future__ import annotations

import json

import click

from proto3d.cli_conventions import command_conventions


@click.group("vocab")
def vocab_command():
    """List and show part vocabularies: the fixed part labels of a benchmark (see docs/datasets.md).

    \b
    Examples:
      proto3d vocab list
      proto3d vocab show partimagenet
      proto3d vocab show my_vocab.toml --json
    """


@vocab_command.command("list")
@command_conventions
def list_command():
    """Print the shipped vocabularies: name, size and description."""
    from proto3d.vocab import load_vocabulary, shipped_vocabularies

    for name in shipped_vocabularies():
        vocab = load_vocabulary(name)
        click.echo(
            f"{name}\t{len(vocab.parts)} groups, {len(vocab.all_labels())} part classes, "
            f"{len(vocab.categories)} categories\t{vocab.description}"
        )


@vocab_command.command("show")
@command_conventions
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print the vocabulary as one JSON object.")
def show_command(name, as_json):
    """Print vocabulary NAME (a shipped name or a .toml file): each class with its mask id and
    description, then which categories belong to which group."""
    from proto3d.vocab import load_vocabulary

    vocab = load_vocabulary(name)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "name": vocab.name,
                    "description": vocab.description,
                    "allow_other": vocab.allow_other,
                    "classes": vocab.all_labels(),
                    "parts": vocab.parts,
                    "categories": vocab.categories,
                }
            )
        )
        return
    click.echo(f"{vocab.name}: {vocab.description}" if vocab.description else vocab.name)
    click.echo(
        f"a part with no counterpart: {'labelled `other` (ignored in masks)' if vocab.allow_other else 'not allowed'}"
    )
    width = max(map(len, vocab.all_labels()))
    click.echo(f"{'id':>2}  {'class':<{width}}  description")
    descriptions = [text for labels in vocab.parts.values() for text in labels.values()]
    for i, (label, text) in enumerate(zip(vocab.all_labels(), descriptions), start=1):
        click.echo(f"{i:>2}  {label:<{width}}  {text}")
    click.echo("categories:")
    for group in vocab.parts:
        members = [c for c, g in vocab.categories.items() if g == group]
        click.echo(f"  {group}: {', '.join(members) if members else '(only its own name)'}")

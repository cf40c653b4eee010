"""Output folders a command owns: a used folder is refused, and `--overwrite` removes exactly what
an earlier run wrote there.

A command that writes a folder lists the files it writes under "files" in its manifest (paths
relative to the folder; `render`: manifest.json, `sample`: variants.json). The list is written
before the first file, so even a killed run can be cleaned up, and it is all `--overwrite`
ever deletes (with the temporary files of those names a killed run may leave): files a user
put beside them are kept.
"""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath

import click

from proto3d.errors import Proto3dError, diagnostic

OVERWRITE_OPTION = click.option(
    "--overwrite",
    is_flag=True,
    help="Write into a folder that is not empty: first remove the files an earlier run of this command "
    "listed in its manifest there (other files are kept).",
)


def check_unused(out: Path, overwrite: bool) -> None:
    """A usage error (exit 2) when `out` already holds something, unless `overwrite`."""
    if not overwrite and out.is_dir() and any(out.iterdir()):
        raise click.BadParameter(
            f"{out} is not empty; give --overwrite to replace the files an earlier run wrote there "
            "(files it did not write are kept), or choose a new folder",
            param_hint="'-o' / '--out'",
        )


def owned_files(out: Path, manifest: str) -> list[Path]:
    """The files `out/manifest` lists under "files" that lie inside `out` (none if it is missing or unreadable)."""
    try:
        data = json.loads((out / manifest).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    names = data.get("files") if isinstance(data, dict) else None
    return paths_inside(out, names if isinstance(names, list) else [])


def remove_files(out: Path, paths: list[Path]) -> None:
    """Delete these files and the temporary files a killed atomic write of them leaves, then the
    folders inside `out` they leave empty."""
    folders = set()
    for path in paths:
        for victim in [path, *path.parent.glob(f".{_glob_escape(path.name)}.*.tmp")]:
            try:
                if victim.is_file() or victim.is_symlink():
                    victim.unlink()
            except OSError as error:
                raise Proto3dError(
                    diagnostic("E902", f"cannot remove {str(victim)!r}: {error.strerror or error}"),
                    str(victim),
                ) from None
        folders.add(path.parent)
    for folder in sorted(folders, key=lambda f: len(f.parts), reverse=True):
        while folder != out and folder.is_relative_to(out):
            try:
                folder.rmdir()  # only when empty
            except OSError:
                break
            folder = folder.parent


def paths_inside(out: Path, names: list) -> list[Path]:
    """out/name for each name that is a relative path staying inside `out` (no `..`, no absolute path, no link out)."""
    paths = []
    for name in names:
        relative = PurePosixPath(name) if isinstance(name, str) and name else None
        if relative is None or relative.is_absolute() or ".." in relative.parts:
            continue
        path = out.joinpath(*relative.parts)
        if path.parent.resolve().is_relative_to(out.resolve()):
            paths.append(path)
    return paths


def _glob_escape(name: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)

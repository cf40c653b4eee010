"""File writing and file names shared by every stage and tool: atomic writes, JSON, slugs."""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import stat
from pathlib import Path

from proto3d.errors import Diagnostic, Proto3dError


def write_atomic(path: str | os.PathLike, data: bytes | str, *, parents: bool = False) -> Path:
    """Write a temp file in the target folder, then os.replace: readers never see half a file.

    A symbolic link is written through (the file it points to is replaced, the link stays), and a
    file that exists keeps its permissions; a new file gets mode 0o666 less the umask, as any new
    file. Failures become `Proto3dError` E902 and leave no temp file behind.
    """
    path = Path(path)
    target = Path(os.path.realpath(path))
    if isinstance(data, str):
        data = data.encode("utf-8")
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        if parents:
            target.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        if target.exists():
            os.chmod(tmp, stat.S_IMODE(target.stat().st_mode))
        os.replace(tmp, target)
    except BaseException as error:
        with contextlib.suppress(OSError):  # no temp file to remove (e.g. its folder is a file)
            tmp.unlink()
        if isinstance(error, OSError):
            raise Proto3dError(
                Diagnostic(
                    "E902",
                    f"cannot write {str(path)!r}: {error.strerror or error}",
                    hint="check that the folder exists and is writable",
                )
            ) from None
        raise
    return path


def json_text(value, *, indent: int | None = 1) -> str:
    """`value` as JSON text ending in a newline; NumPy arrays and numbers and objects with a
    `to_json()` are written as their plain values."""
    return json.dumps(value, indent=indent, default=jsonable) + "\n"


def jsonable(value):
    """The plain JSON value of what `json` cannot write itself (its `default=`)."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "to_json"):
        return value.to_json()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def write_json(path: str | os.PathLike, value, *, indent: int | None = 1, parents: bool = False) -> Path:
    """Write `json_text(value)` atomically."""
    return write_atomic(path, json_text(value, indent=indent), parents=parents)


def slug(text: str, separator: str = "-", empty: str = "object") -> str:
    """A file-name-safe form of a name: its runs of lower-case ASCII letters and digits joined by
    `separator` ("Office chair!" -> "office-chair"), or `empty` when none is left.

    Agent run folders use the defaults; datasets use "_" and "unnamed" (their folder names are class
    names, and existing datasets resume by name), so both keep the names they always had.
    """
    return re.sub(r"[^a-z0-9]+", separator, text.lower()).strip(separator) or empty

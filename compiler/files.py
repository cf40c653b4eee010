"""Atomic file writes, shared by every stage that writes outputs."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import stat
from pathlib import Path

from proto3d.grammar.diagnostics import Diagnostic, Proto3dError


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


def write_json(path: str | os.PathLike, value, *, indent: int | None = 1, parents: bool = False) -> Path:
    return write_atomic(path, json.dumps(value, indent=indent) + "\n", parents=parents)

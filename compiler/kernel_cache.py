"""Keeps Numba's on-disk kernel cache honest across files.

Numba checks a cached kernel only against the file that defines it, but our kernels also
compile in kernels and constants from other files: the vector and triangle kernels of
geometry.py and the kernel codes of primitives.py. So those files are stamped together, and
when the stamp changes every cached kernel of the compiler is dropped (they rebuild once).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

HERE = Path(__file__).resolve().parent
SHARED = ("geometry.py", "primitives.py")  # the files other kernels compile in
STAMP = "shared-kernels.sha1"


def drop_stale_kernels(root: Path = HERE) -> bool:
    """Remove the cached kernels under `root` when a shared file changed; True if it did.
    A cache folder that cannot be written is left alone (Numba then caches elsewhere or not)."""
    digest = hashlib.sha1()
    for name in SHARED:
        digest.update((root / name).read_bytes())
    stamp = root / "__pycache__" / STAMP
    try:
        if stamp.read_text() == digest.hexdigest():
            return False
    except OSError:
        pass
    try:
        for cached in [*root.glob("__pycache__/*.nb[ic]"), *root.glob("*/__pycache__/*.nb[ic]")]:
            cached.unlink(missing_ok=True)
        stamp.parent.mkdir(exist_ok=True)
        temporary = stamp.with_name(f"{STAMP}.{os.getpid()}")
        temporary.write_text(digest.hexdigest())
        temporary.replace(stamp)
    except OSError:
        return False
    return True

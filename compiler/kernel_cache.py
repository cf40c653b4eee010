"""Keeps Numba's on-disk kernel cache honest across files, and cheap to load from.

Numba checks a cached kernel only against the file that defines it, but our kernels also
compile in kernels and constants from other files: the vector and triangle kernels of
geometry.py and the kernel codes of primitives.py. So those files are stamped together, and
when the stamp changes every cached kernel of the compiler is dropped (they rebuild once).

Before loading any cached kernel Numba readies its whole compiler (imports and registers
every typing and lowering rule it has: ~120 ms, a fifth of a cold `proto3d compile`), though
a cached kernel is machine code that links only against Numba's runtime, its C helpers and
the Python C API. `load_kernels_lightly` makes our kernels load with the runtime alone;
compiling one (a cache miss) still readies the whole compiler, as Numba always does.
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

from numba.core.caching import FunctionCache
from numba.core.dispatcher import Dispatcher
from numba.core.runtime import rtsys

HERE = Path(__file__).resolve().parent
SHARED = ("geometry.py", "primitives.py")  # the files other kernels compile in
STAMP = "shared-kernels.sha1"
NUMBA_PRIVATES = ("_load_overload", "_guard_against_spurious_io_errors")  # what the light load calls


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


class _RuntimeOnlyCache(FunctionCache):
    """Numba's cache of one kernel, loading without readying the compiler: only the runtime
    (NRT) the cached machine code calls is initialised; Numba's C helpers and the Python C API
    are registered when its target context is made, whichever way a kernel loads."""

    def load_overload(self, sig, target_context):
        rtsys.initialize(target_context)
        with self._guard_against_spurious_io_errors():
            return self._load_overload(sig, target_context)


def load_kernels_lightly(package: str) -> int:
    """Let the cached kernels of module `package` and its imported submodules load with the
    runtime alone (a stage calls it once its modules are imported, and a module imported later
    calls it for itself); how many kernels it switched. A Numba whose cache lacks the private
    methods this relies on keeps its own loading: slower, never broken."""
    if not all(hasattr(FunctionCache, name) for name in NUMBA_PRIVATES):
        return 0
    kernels = {
        id(value): value
        for name, module in list(sys.modules.items())
        if name == package or name.startswith(package + ".")
        for value in vars(module).values()
        if isinstance(value, Dispatcher) and type(getattr(value, "_cache", None)) is FunctionCache
    }
    for kernel in kernels.values():
        kernel._cache.__class__ = _RuntimeOnlyCache  # the same cache, one method different
    return len(kernels)

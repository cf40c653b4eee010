"""Cached kernels are dropped exactly when a file other kernels compile in has changed, and load
without readying Numba's compiler."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import textwrap

from proto3d.compiler import compile_text
from proto3d.compiler.kernel_cache import SHARED, drop_stale_kernels


def _tree(root):
    for name in SHARED:
        (root / name).write_text(f"# {name}\n")
    cached = [root / "__pycache__" / "tessellate.box-1.py311.nbi", root / "lints" / "__pycache__" / "x.nbc"]
    for path in cached:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"kernel")
    return cached


def test_kernels_cached_before_any_stamp_are_dropped_once(tmp_path):
    cached = _tree(tmp_path)
    assert drop_stale_kernels(tmp_path) is True
    assert not any(path.exists() for path in cached)
    cached = _tree(tmp_path)
    assert drop_stale_kernels(tmp_path) is False
    assert all(path.exists() for path in cached)


def test_a_changed_shared_file_drops_every_cached_kernel(tmp_path):
    cached = _tree(tmp_path)
    drop_stale_kernels(tmp_path)
    cached = _tree(tmp_path)
    (tmp_path / "geometry.py").write_text("# geometry.py, edited\n")
    other = tmp_path / "__pycache__" / "build.cpython-311.pyc"
    other.write_bytes(b"bytecode")
    assert drop_stale_kernels(tmp_path) is True
    assert not any(path.exists() for path in cached)
    assert other.exists()  # only Numba's files
    assert drop_stale_kernels(tmp_path) is False


def test_the_installed_compiler_is_stamped():
    from proto3d.compiler import kernel_cache

    stamp = kernel_cache.HERE / "__pycache__" / kernel_cache.STAMP
    assert stamp.exists()
    assert drop_stale_kernels() is False


def test_every_cached_kernel_of_every_stage_loads_without_readying_numbas_compiler():
    from numba.core.caching import FunctionCache
    from numba.core.dispatcher import Dispatcher

    import proto3d.dataset.task
    import proto3d.renderer.save  # imported late by the commands that write views
    from proto3d.compiler import build, geometry, lints, tessellate
    from proto3d.compiler.kernel_cache import _RuntimeOnlyCache, load_kernels_lightly

    kernels = {
        id(value): value
        for name, module in list(sys.modules.items())
        if name.startswith("proto3d.")
        for value in vars(module).values()
        if isinstance(value, Dispatcher) and isinstance(value._cache, FunctionCache)
    }
    assert len(kernels) > 100
    assert {type(kernel._cache) for kernel in kernels.values()} == {_RuntimeOnlyCache}
    for kernel in (build._label, tessellate._revolve, geometry.cross, lints.contact._connect):
        assert kernel in kernels.values()
    assert proto3d.renderer.save.split_alpha in kernels.values()
    assert load_kernels_lightly("proto3d") == 0  # every one of them switched on import


def test_a_numba_without_the_private_cache_methods_keeps_its_own_loading(monkeypatch):
    from numba.core.caching import FunctionCache

    from proto3d.compiler import kernel_cache
    from proto3d.renderer import save

    kernel = save.split_alpha
    monkeypatch.setattr(kernel._cache, "__class__", FunctionCache)  # as if never switched
    monkeypatch.setattr(kernel_cache, "NUMBA_PRIVATES", (*kernel_cache.NUMBA_PRIVATES, "_renamed_later"))
    assert kernel_cache.load_kernels_lightly("proto3d.renderer") == 0
    assert type(kernel._cache) is FunctionCache
    monkeypatch.undo()
    monkeypatch.setattr(kernel._cache, "__class__", FunctionCache)
    assert kernel_cache.load_kernels_lightly("proto3d.renderer") == 1
    assert type(kernel._cache) is kernel_cache._RuntimeOnlyCache


def test_a_new_process_loads_the_chairs_kernels_from_the_cache_with_the_same_results():
    """Numba's typing and lowering rules are never installed (its compiler is never readied)."""
    from tests.compiler.test_first_run import CHAIR

    script = textwrap.dedent(f"""
        import hashlib
        from numba.core.registry import cpu_target
        from proto3d.compiler import compile_text
        shape = compile_text({CHAIR!r})
        digest = hashlib.sha1(shape.vertices.tobytes() + shape.faces.tobytes())
        rules = len(cpu_target.typing_context._registries) + len(cpu_target.target_context._registries)
        print(rules, digest.hexdigest(), len(shape.diagnostics))
    """)
    compile_text(CHAIR)  # fills the cache if this session has not yet
    shape = compile_text(CHAIR)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    digest = hashlib.sha1(shape.vertices.tobytes() + shape.faces.tobytes()).hexdigest()
    assert out.split() == ["0", digest, str(len(shape.diagnostics))]

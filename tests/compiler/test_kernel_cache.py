"""Cached kernels are dropped exactly when a file other kernels compile in has changed."""

from __future__ import annotations

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

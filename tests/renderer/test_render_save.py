"""Saving renders: PNG and .npz bytes decode, in Pillow, zipfile and NumPy, to exactly the arrays saved."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
from PIL import Image

from proto3d.renderer import palette, render
from proto3d.renderer.palette import colorize
from proto3d.renderer.render import _count
from proto3d.renderer.save import DEPTH_SCALE, normal_preview, npz_bytes, png_bytes, split_alpha
from tests.helpers.shapes import table


def images(seed=0):
    """Arrays of every kind the renderer writes: noise, flat areas, runs, extreme values, odd sizes."""
    g = np.random.default_rng(seed)
    flat = np.zeros((33, 17), np.uint16)
    flat[5:20, 3:11] = 65535
    flat[22:, :] = 258  # high and low bytes differ
    yield g.integers(0, 256, (31, 45), dtype=np.uint8)
    yield g.integers(0, 256, (20, 7, 3), dtype=np.uint8)
    yield g.integers(0, 256, (9, 40, 4), dtype=np.uint8)
    yield g.integers(0, 65536, (16, 23), dtype=np.uint16)
    yield flat
    yield np.repeat(flat[..., None], 3, axis=2).astype(np.uint8)
    yield g.integers(0, 256, (1, 1, 3), dtype=np.uint8)
    yield np.zeros((5, 1), np.uint16)


def test_png_decodes_to_the_same_array_in_pillow():
    for array in images():
        data = png_bytes(array)
        Image.open(io.BytesIO(data)).verify()  # chunk CRCs and structure
        image = Image.open(io.BytesIO(data))
        assert (
            image.mode
            == {1: "I;16" if array.dtype == np.uint16 else "L", 3: "RGB", 4: "RGBA"}[
                array.shape[2] if array.ndim == 3 else 1
            ]
        )
        np.testing.assert_array_equal(np.array(image).astype(array.dtype), array)


def test_png_takes_views_big_endian_arrays_and_images():
    rgba = np.random.default_rng(1).integers(0, 256, (12, 10, 4), dtype=np.uint8)
    assert np.array_equal(np.array(Image.open(io.BytesIO(png_bytes(rgba[..., :3])))), rgba[..., :3])
    ids = np.arange(12 * 10, dtype=np.int32).reshape(12, 10) * 500
    assert np.array_equal(np.array(Image.open(io.BytesIO(png_bytes(ids.astype(">u2"))))), ids)
    sheet = Image.fromarray(rgba[..., :3])
    assert np.array_equal(np.array(Image.open(io.BytesIO(png_bytes(sheet)))), rgba[..., :3])


def test_npz_is_read_by_numpy_and_zipfile_exactly():
    g = np.random.default_rng(2)
    normal = g.standard_normal((40, 30, 3)).astype(np.float32)
    normal[:10] = 0
    arrays = {
        "depth": np.where(g.random((40, 30)) < 0.5, 0, g.random((40, 30))).astype(np.float32),
        "normal": normal,
        "part": g.integers(0, 4, (40, 30)).astype(np.uint16),
        "primitive": g.integers(0, 1 << 30, (40, 30)).astype(np.int32),
        "transposed": np.arange(12, dtype=np.int64).reshape(3, 4).T,  # not C-contiguous
        "scalar": np.float64(2.5),
        "empty": np.zeros((0, 3), np.float32),
    }
    data = npz_bytes(arrays)
    assert zipfile.ZipFile(io.BytesIO(data)).testzip() is None  # every member's CRC-32 checks
    loaded = np.load(io.BytesIO(data))
    assert list(loaded.keys()) == list(arrays)
    for name, array in arrays.items():
        assert loaded[name].dtype == array.dtype and loaded[name].shape == np.shape(array)
        np.testing.assert_array_equal(loaded[name], array)


def test_preview_alpha_palette_and_counts_match_the_numpy_formulas():
    g = np.random.default_rng(3)
    # normals just around the rounding points (n + 1) * 127.5 = k + 0.5, and past +-1
    halves = (np.arange(256, dtype=np.float32) + np.float32(0.5)) / np.float32(127.5) - np.float32(1)
    normal = np.concatenate(
        [
            g.uniform(-1.01, 1.01, 3000 * 3).astype(np.float32),
            halves,
            np.nextafter(halves, np.float32(2)),
            np.nextafter(halves, np.float32(-2)),
            np.zeros(2),
        ]
    )
    normal = normal[: len(normal) // 3 * 3].reshape(-1, 1, 3)
    face = g.integers(0, 3, normal.shape[:2]).astype(np.int32)
    expected = np.clip(np.where(face[..., None] > 0, np.round((normal + 1) * 127.5), 0), 0, 255).astype(
        np.uint8
    )
    np.testing.assert_array_equal(normal_preview(normal, face), expected)

    rgba = g.integers(0, 256, (17, 9, 4), dtype=np.uint8)
    rgb, opaque = split_alpha(rgba)
    assert rgb.flags.c_contiguous and np.array_equal(rgb, rgba[..., :3]) and not opaque
    rgba[..., 3] = 255
    assert split_alpha(rgba)[1]

    for ids in (
        g.integers(0, 30, (50, 41)).astype(np.uint16),
        np.repeat(g.integers(0, 30, (50, 3)), 14, axis=1).astype(np.int32),
    ):
        np.testing.assert_array_equal(
            colorize(ids, 29), np.vstack([[255, 255, 255], palette(29)]).astype(np.uint8)[ids]
        )
        np.testing.assert_array_equal(_count(ids, 31), np.bincount(ids.ravel(), minlength=31))
        with pytest.raises(IndexError):
            colorize(ids, 2)
        with pytest.raises(IndexError):
            _count(ids, 3)


def test_saved_images_decode_to_the_buffers(tmp_path):
    shape = table()
    renders = render(shape, views=["iso", "front"], size=96)
    renders.save(tmp_path)
    for v in renders.views:

        def png(suffix, name=v.name):
            return np.array(Image.open(tmp_path / f"{name}_{suffix}.png"))

        np.testing.assert_array_equal(png("rgb"), v.rgb[..., :3])
        np.testing.assert_array_equal(png("depth"), np.clip(np.round(v.depth * DEPTH_SCALE), 0, 0xFFFF))
        normal = np.where(v.face[..., None] > 0, np.round((v.normal + 1) * 127.5), 0)
        np.testing.assert_array_equal(png("normal"), np.clip(normal, 0, 255))
        np.testing.assert_array_equal(png("part"), colorize(v.part, len(shape.parts)))
        np.testing.assert_array_equal(png("instance"), colorize(v.instance, len(shape.instances)))
        np.testing.assert_array_equal(png("primitive_id"), v.primitive)
    transparent = render(shape, views=["iso"], size=64, passes=["rgb"], background=(0, 0, 0, 0))
    transparent.save(tmp_path / "alpha")
    np.testing.assert_array_equal(
        np.array(Image.open(tmp_path / "alpha" / "iso_rgb.png")), transparent.views[0].rgb
    )


def test_view_file_names_lists_every_file_a_view_is_saved_as(tmp_path):
    """The render command's manifest lists these before the files exist, so that a killed run can be cleaned."""
    from proto3d.renderer import ALL_PASSES
    from proto3d.renderer.save import view_file_names

    renders = render(table(), views=["iso"], size=48)
    for passes in (ALL_PASSES, ("rgb",), ("depth", "primitive")):
        written = {p.name for p in renders.save(tmp_path / "+".join(passes), passes)} - {
            "cameras.json",
            "visibility.json",
        }
        assert written == set(view_file_names("iso", passes)), passes

"""Renderer: ID buffers against ray casting, depth reprojection, cameras, outputs, errors."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest
from PIL import Image

from proto3d.renderer import (
    Camera,
    RenderError,
    contact_sheet,
    look_at,
    named_view,
    orbit,
    palette,
    raster,
    render,
)
from proto3d.renderer.camera import intrinsics
from tests.helpers.shapes import boxes, table


@pytest.fixture(scope="module")
def shape():
    return table()


@pytest.fixture(scope="module")
def renders(shape):
    return render(shape, views=("front", "left", "back", "right", "top", "iso"), size=160)


def rays(camera, us, vs):
    """World origin and directions (scaled to camera z = 1) through pixels (u, v)."""
    pix = np.stack([us, vs, np.ones_like(us)], axis=1).astype(float)
    return camera.position, (pix @ np.linalg.inv(camera.K).T) @ camera.world_to_camera[:3, :3]


def intersect(origin, dirs, tri, eps=1e-6):
    """Möller–Trumbore, broadcasting rays (..., 3) against triangles (..., 3, 3): camera z of the hit or inf."""
    a, e1, e2 = tri[..., 0, :], tri[..., 1, :] - tri[..., 0, :], tri[..., 2, :] - tri[..., 0, :]
    p = np.cross(dirs, e2)
    det = np.einsum("...k,...k->...", p, e1)
    det = np.where(np.abs(det) < 1e-12, np.nan, det)
    s = origin - a
    u = np.einsum("...k,...k->...", p, s) / det
    q = np.cross(s, e1)
    v = np.einsum("...k,...k->...", dirs, q) / det
    t = np.einsum("...k,...k->...", e2, q) / det
    inside = (u >= -eps) & (v >= -eps) & (u + v <= 1 + eps) & (t > 0)
    return np.where(inside, t, np.inf)


def ray_hits(shape, camera, us, vs):
    """Nearest triangle hit along each pixel's ray: (face index or -1, camera z)."""
    origin, dirs = rays(camera, us, vs)
    t = intersect(origin, dirs[:, None, :], shape.vertices[shape.faces].astype(float)[None])
    face = np.argmin(t, axis=1)
    z = t[np.arange(len(dirs)), face]
    return np.where(np.isfinite(z), face, -1), z


@pytest.mark.parametrize("view", ["front", "left", "iso", "top"])
def test_id_buffers_agree_with_ray_casting(shape, renders, view):
    v = renders.view(view)
    h, w = v.face.shape
    vs, us = np.mgrid[0:h:3, 0:w:3].reshape(2, -1)
    face, z = ray_hits(shape, v.camera, us.astype(float), vs.astype(float))
    drawn = v.face[vs, us] - 1
    # background where no ray hits, and vice versa (pixel-centre sampling, allow a sliver at edges)
    assert np.mean((face >= 0) == (drawn >= 0)) > 0.995
    both = (face >= 0) & (drawn >= 0)
    assert both.sum() > 100
    # the drawn part/instance is the nearest hit; ties only where faces share an edge
    assert np.mean(shape.instance_id[face[both]] == shape.instance_id[drawn[both]]) > 0.995
    assert np.mean(v.part[vs, us][both] == shape.part_id[face[both]] + 1) > 0.995
    np.testing.assert_allclose(v.depth[vs, us][both], z[both], rtol=1e-4, atol=1e-4)
    # every drawn face lies on its pixel's ray, give or take half a pixel at the face's edges
    tri = shape.vertices[shape.faces[drawn[both]]].astype(float)
    hit = np.full(both.sum(), np.inf)
    for du in (0, -0.5, 0.5):
        for dv in (0, -0.5, 0.5):
            origin, dirs = rays(v.camera, us[both] + du, vs[both] + dv)
            hit = np.minimum(hit, intersect(origin, dirs, tri))
    assert np.mean(np.isfinite(hit)) > 0.995


def test_depth_and_camera_json_reproject_onto_the_mesh(shape, renders, tmp_path):
    renders.save(tmp_path, passes=["depth", "part"])
    cameras = json.loads((tmp_path / "cameras.json").read_text())["views"]
    for data in cameras:
        camera = Camera.from_json(data)
        depth = np.load(tmp_path / f"{camera.name}.npz")["depth"]
        vs, us = np.nonzero(depth)
        points = camera.unproject(us.astype(float), vs.astype(float), depth[vs, us])
        # each point lies on the surface of some box: inside the union of the boxes' bounds, on a face plane
        faces = renders.view(camera.name).face[vs, us] - 1
        tri = shape.vertices[shape.faces[faces]].astype(float)
        normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
        normal /= np.linalg.norm(normal, axis=1, keepdims=True)
        distance = np.abs(np.einsum("nk,nk->n", points - tri[:, 0], normal))
        pixel = depth[vs, us] / camera.K[0, 0]  # one pixel, in metres, at that depth
        assert np.all(distance <= pixel), camera.name
        # and back: projecting the points gives the pixels they came from
        uvz = camera.project(points)
        assert np.abs(uvz[:, 0] - us).max() < 0.01 and np.abs(uvz[:, 1] - vs).max() < 0.01


def test_named_views_look_from_the_right_side(shape, renders):
    lo, hi = shape.bbox
    pos = {v.name: v.camera.position for v in renders.views}
    assert pos["front"][1] < lo[1] and pos["back"][1] > hi[1]
    assert pos["left"][0] < lo[0] and pos["right"][0] > hi[0]
    assert pos["top"][2] > hi[2] and pos["iso"][0] > hi[0] and pos["iso"][1] < lo[1] and pos["iso"][2] > hi[2]

    # leg.0 stands at x = -0.45, y = -0.25 (front left): left half of the front view, right half of the left view
    def column(view, instance):
        ys, xs = np.nonzero(renders.view(view).instance == instance + 1)
        return xs.mean() / renders.view(view).face.shape[1]

    assert column("front", 1) < 0.5 and column("left", 1) > 0.5 and column("back", 1) > 0.5
    # seen from above, the back (+Y) is up and the right (+X) is right
    marks = boxes(
        [
            ("back_right", (0.4, 0.4, 0.05), (0.1, 0.1, 0.1), (1, 0, 0)),
            ("front_left", (-0.4, -0.4, 0.05), (0.1, 0.1, 0.1), (0, 1, 0)),
        ]
    )
    top = render(marks, ["top"], size=64, passes=["part"]).views[0]
    ys, xs = np.nonzero(top.part == 1)
    assert ys.mean() < 32 and xs.mean() > 32
    # framing: the shape fills the image without touching its border
    for v in renders.views:
        ys, xs = np.nonzero(v.face)
        h, w = v.face.shape
        assert ys.min() > 0 and xs.min() > 0 and ys.max() < h - 1 and xs.max() < w - 1
        assert max(ys.max() - ys.min(), xs.max() - xs.min()) > 0.75 * w, v.name


def test_visible_counts_and_hidden_parts(shape, renders):
    counts = renders.visible_pixels()
    for v in renders.views:
        assert sum(counts[v.name]["parts"].values()) == np.count_nonzero(v.face)
        assert sum(counts[v.name]["instances"].values()) == np.count_nonzero(v.face)
        assert counts[v.name]["parts"]["hidden"] == 0
    assert renders.invisible_parts() == ["hidden"]
    assert renders.invisible_instances() == ["hidden"]
    assert counts["top"]["parts"]["top"] > 0 and counts["front"]["instances"]["leg.0"] > 0


def test_pixel_query_maps_back_to_source(shape, renders):
    v = renders.view("front")
    ys, xs = np.nonzero(v.instance == 3)  # leg.1, instance id 2
    info = renders.at("front", int(xs[0]), int(ys[0]))
    assert (info.part, info.instance, info.kind, info.line) == ("leg", "leg.1", "box", 3)
    assert info.part_id == 1 and info.instance_id == 2 and info.primitive_id == 2
    assert info.depth == pytest.approx(float(v.depth[ys[0], xs[0]]))
    assert renders.at(0, 0, 0) is None
    assert json.loads(json.dumps(info.to_json()))["line"] == 3


def test_rendering_is_deterministic(shape):
    a = render(shape, views=["iso", "front"], size=96)
    b = render(shape, views=["iso", "front"], size=96)
    for va, vb in zip(a.views, b.views):
        for name in ("rgb", "depth", "normal", "part", "instance", "primitive", "face"):
            np.testing.assert_array_equal(getattr(va, name), getattr(vb, name))
    for antialias in ("msaa", "none"):
        c = render(shape, views=["iso"], size=96, antialias=antialias)
        np.testing.assert_array_equal(
            c.views[0].rgb, render(shape, views=["iso"], size=96, antialias=antialias).views[0].rgb
        )


def test_normals_are_the_box_face_normals(shape, renders):
    v = renders.view("iso")
    drawn = v.face[v.face > 0] - 1
    expected = shape.normals[shape.faces[drawn, 0]]
    np.testing.assert_allclose(v.normal[v.face > 0], expected, atol=1e-5)
    assert np.all(v.normal[v.face == 0] == 0) and np.all(v.depth[v.face == 0] == 0)


def test_rgb_shows_part_colours_and_is_antialiased(shape, renders):
    v = renders.view("front")
    assert v.rgb.shape == (*v.face.shape, 4) and v.rgb.dtype == np.uint8
    corner = v.rgb[0, 0]
    assert tuple(corner) == (255, 255, 255, 255)
    legs = v.rgb[v.part == 2][:, :3].astype(int)
    top = v.rgb[v.part == 1][:, :3].astype(int)
    assert legs.mean() < top.mean()  # the legs are darker wood
    # multisampling: some pixels are neither background nor a lit face value (edge blends)
    values = {tuple(c) for c in v.rgb.reshape(-1, 4)[:, :3]}
    assert len(values) > 20


@pytest.mark.parametrize("antialias", ["fxaa", "msaa"])
def test_antialiasing_changes_only_edges(shape, antialias):
    smooth, sharp = (
        render(shape, ["iso"], size=96, passes=["rgb"], antialias=a).views[0] for a in (antialias, "none")
    )
    np.testing.assert_array_equal(smooth.face, sharp.face)
    inside = (
        (sharp.face > 0)
        & (np.roll(sharp.face, 1, 0) == sharp.face)
        & (np.roll(sharp.face, -1, 0) == sharp.face)
    )
    inside &= (np.roll(sharp.face, 1, 1) == sharp.face) & (np.roll(sharp.face, -1, 1) == sharp.face)
    assert np.abs(smooth.rgb[inside].astype(int) - sharp.rgb[inside]).max() <= 2
    changed = np.any(smooth.rgb != sharp.rgb, axis=-1)
    assert changed.any()
    # every change lies within a pixel of a silhouette or a change of face
    near_edge = np.zeros_like(changed)
    for axis in (0, 1):
        for shift in (1, -1):
            near_edge |= np.roll(sharp.face, shift, axis) != sharp.face
    assert not np.any(changed & ~near_edge)
    assert np.all(smooth.rgb[~near_edge & (sharp.face == 0)] == 255)


def test_without_antialiasing_each_flat_triangle_has_one_colour(shape):
    sharp = render(shape, ["iso"], size=96, passes=["rgb"], antialias="none").views[0]
    assert np.all(sharp.rgb[sharp.face == 0] == 255)
    for f in np.unique(sharp.face[sharp.face > 0]):
        colours = sharp.rgb[sharp.face == f].astype(int)
        assert np.all(colours.max(axis=0) - colours.min(axis=0) <= 1)
    clear = render(shape, ["iso"], size=64, passes=["rgb"], antialias="none", background=(0, 0, 1, 0)).views[
        0
    ]
    assert np.all(clear.rgb[clear.face == 0] == [0, 0, 255, 0]) and np.all(
        clear.rgb[clear.face > 0][:, 3] == 255
    )
    # msaa with one sample is the same single-sample image
    np.testing.assert_array_equal(
        render(shape, ["iso"], size=96, passes=["rgb"], antialias="msaa", samples=1).views[0].rgb, sharp.rgb
    )


@pytest.mark.parametrize("antialias", ["fxaa", "msaa"])
def test_antialiased_silhouettes_over_a_transparent_background(shape, antialias):
    """Edge pixels blend coverage into alpha, keeping the shape's colour (no dark or background fringe)."""
    clear, opaque = (
        render(shape, ["iso"], size=96, passes=["rgb"], antialias=antialias, background=bg).views[0]
        for bg in ((0, 0, 1, 0), (1, 1, 1, 1))
    )
    alpha = clear.rgb[..., 3]
    assert np.all(alpha[clear.face > 0] > 0)
    partial = (alpha > 0) & (alpha < 255)
    assert partial.sum() > 20
    assert np.all(alpha[(clear.face == 0) & ~partial] == 0)
    # a partly covered pixel has the colour of the shape, not a blend with the transparent blue
    blue_cast = clear.rgb[partial][:, 2].astype(int) - clear.rgb[partial][:, :2].astype(int).mean(axis=1)
    assert np.median(blue_cast) < 40
    # over opaque white, the same pixels are blends with white
    assert np.all(opaque.rgb[..., 3] == 255)


def test_passes_select_what_is_rendered(shape):
    r = render(shape, views=["front"], size=64, passes=["part"])
    v = r.views[0]
    assert v.rgb is None and v.depth is None and v.normal is None and v.part.any()
    assert r.passes == ("part",)


def test_transparent_background(shape, tmp_path):
    r = render(shape, views=["iso"], size=64, passes=["rgb"], background=(0, 0, 0, 0))
    v = r.views[0]
    assert v.rgb[0, 0, 3] == 0 and np.all(v.rgb[v.face > 0][:, 3] > 0)
    interior = (
        (v.face > 0)
        & np.roll(v.face > 0, 1, 0)
        & np.roll(v.face > 0, -1, 0)
        & np.roll(v.face > 0, 1, 1)
        & np.roll(v.face > 0, -1, 1)
    )
    assert np.all(v.rgb[interior][:, 3] == 255)
    r.save(tmp_path)
    assert Image.open(tmp_path / "iso_rgb.png").mode == "RGBA"


def test_save_writes_lossless_buffers(shape, renders, tmp_path):
    paths = renders.save(tmp_path)
    assert all(p.exists() for p in paths) and not list(tmp_path.glob(".*tmp"))
    v = renders.view("left")
    part_png = np.array(Image.open(tmp_path / "left_part_id.png"))
    np.testing.assert_array_equal(part_png, v.part)
    np.testing.assert_array_equal(np.array(Image.open(tmp_path / "left_instance_id.png")), v.instance)
    np.testing.assert_array_equal(np.array(Image.open(tmp_path / "left_primitive_id.png")), v.primitive)
    depth_mm = np.array(Image.open(tmp_path / "left_depth.png")).astype(float)
    np.testing.assert_allclose(depth_mm / 1000, v.depth, atol=0.0006)
    data = np.load(tmp_path / "left.npz")
    for name in ("depth", "normal", "part", "instance", "primitive", "face"):
        np.testing.assert_array_equal(data[name], getattr(v, name))
    colours = np.array(Image.open(tmp_path / "left_part.png"))
    np.testing.assert_array_equal(colours[v.part == 2][0], palette(3)[1])
    assert Image.open(tmp_path / "left_rgb.png").mode == "RGB"
    vis = json.loads((tmp_path / "visibility.json").read_text())
    assert vis["invisible_parts"] == ["hidden"] and vis["views"]["left"] == renders.visible_pixels()["left"]
    assert [p["label"] for p in vis["parts"]] == ["top", "leg", "hidden"]


def test_orbit_views(shape):
    cameras = orbit(8, 20.0, shape.bbox, 64)
    r = render(shape, cameras)
    assert [v.name for v in r.views] == [f"orbit_{k:03d}" for k in range(8)]
    center = sum(shape.bbox) / 2
    for cam in cameras:
        d = cam.position - center
        assert np.degrees(np.arcsin(d[2] / np.linalg.norm(d))) == pytest.approx(20.0)
    azimuths = [
        np.degrees(np.arctan2(c.position[0] - center[0], -(c.position[1] - center[1]))) % 360 for c in cameras
    ]
    np.testing.assert_allclose(azimuths, np.arange(8) * 45.0, atol=1e-6)


def test_explicit_camera_and_render_from_another_thread(shape):
    camera = look_at("mine", [2.0, -2.0, 1.5], [0, 0, 0.4], intrinsics(64), 64)
    results = []
    thread = threading.Thread(target=lambda: results.append(render(shape, [camera], passes=["part"])))
    thread.start()
    thread.join()
    assert results[0].views[0].name == "mine" and results[0].views[0].part.any()


def test_contact_sheet_lists_hidden_instances_of_seen_parts():
    # leg.1 stands inside a box drawn around it; leg.0 is in the open
    shape = boxes(
        [
            ("leg", (0, 0, 0.5), (0.1, 0.1, 1), (1, 0, 0)),
            ("leg", (1, 0, 0.5), (0.1, 0.1, 1), (1, 0, 0)),
            ("crate", (1, 0, 0.6), (0.3, 0.3, 1.2), (0, 0, 1)),
        ]
    )
    r = render(shape, ["front", "iso"], size=64, passes=["rgb", "part"])
    sheet = contact_sheet(shape, r, cell=96)
    assert sheet.info["invisible"] == [] and sheet.info["invisible_instances"] == ["leg.1"]


def test_contact_sheet_legend_lists_every_part(shape, renders):
    sheet = contact_sheet(shape, renders, cell=128)
    assert sheet.mode == "RGB"
    legend = sheet.info["legend"]
    assert [e["label"] for e in legend] == [p.label for p in shape.parts]
    assert [e["instances"] for e in legend] == [1, 4, 1]
    assert sheet.info["invisible"] == ["hidden"] and sheet.info["invisible_instances"] == []
    pixels = np.array(sheet)
    for entry in legend:
        x0, y0, x1, y1 = entry["box"]
        inner = pixels[y0 + 3 : y1 - 2, x0 + 3 : x1 - 2].reshape(-1, 3)
        assert np.all(inner == [int(entry["color"][i : i + 2], 16) for i in (1, 3, 5)])
    # every visible part's palette colour appears in the grid
    for i, entry in enumerate(legend[:2]):
        assert np.any(np.all(pixels[:, : entry["box"][0] - 12] == palette(3)[i], axis=-1))


# --- errors ---------------------------------------------------------------------------


def code(excinfo) -> str:
    return excinfo.value.diagnostics[0].code


@pytest.mark.parametrize("size", [0, -5, 8, 10**6, 1.5, "512", True, float("nan"), None])
def test_bad_sizes(shape, size):
    with pytest.raises(RenderError) as e:
        render(shape, ["front"], size=size)
    assert code(e) == "R003" and "pixels" in str(e.value)


def test_unknown_view_suggests_the_nearest(shape):
    with pytest.raises(RenderError) as e:
        render(shape, ["front", "isometric"])
    assert code(e) == "R002" and "iso" in e.value.diagnostics[0].hint
    with pytest.raises(RenderError) as e:
        render(shape, "frnot")
    assert "front" in e.value.diagnostics[0].hint


@pytest.mark.parametrize(
    "n, elevation",
    [(0, 10), (-3, 10), (10**9, 10), (2.5, 10), (8, float("nan")), (8, 91), (8, float("inf")), (8, "up")],
)
def test_bad_orbits(shape, n, elevation):
    with pytest.raises(RenderError) as e:
        orbit(n, elevation, shape.bbox, 64)
    assert code(e) == "R005"


@pytest.mark.parametrize(
    "data",
    [
        None,
        "camera",
        {"width": 64},
        {"name": "x", "width": 64, "height": 64, "K": [[1, 0, 0]], "world_to_camera": np.eye(4).tolist()},
        {
            "name": "x",
            "width": 64,
            "height": 64,
            "K": [[float("nan"), 0, 32], [0, 50, 32], [0, 0, 1]],
            "world_to_camera": np.eye(4).tolist(),
        },
        {
            "name": "x",
            "width": 64,
            "height": 64,
            "K": [[-50, 0, 32], [0, 50, 32], [0, 0, 1]],
            "world_to_camera": np.eye(4).tolist(),
        },
        {
            "name": "x",
            "width": 64,
            "height": 64,
            "K": intrinsics(64).tolist(),
            "world_to_camera": (2 * np.eye(4)).tolist(),
        },
        {
            "name": "x",
            "width": 64,
            "height": 64,
            "K": intrinsics(64).tolist(),
            "world_to_camera": np.diag([1, 1, -1, 1]).tolist(),
        },
        {
            "name": "x",
            "width": 64,
            "height": 10**5,
            "K": intrinsics(64).tolist(),
            "world_to_camera": np.eye(4).tolist(),
        },
        {
            "name": "../../etc",
            "width": 64,
            "height": 64,
            "K": intrinsics(64).tolist(),
            "world_to_camera": np.eye(4).tolist(),
        },
        {"name": "x", "width": 64, "height": 64, "K": "K", "world_to_camera": [[1, 2], "a"]},
    ],
)
def test_hostile_camera_json(data):
    with pytest.raises(RenderError) as e:
        Camera.from_json(data)
    assert code(e) in ("R003", "R004")


def test_camera_names_are_plain(shape):
    for name in ("../x", "a/b", "", "x" * 65, 7, "a b"):
        with pytest.raises(RenderError) as e:
            Camera(name, intrinsics(32), np.eye(4), 32, 32)
        assert code(e) == "R004"


def test_camera_json_round_trip(renders):
    for v in renders.views:
        back = Camera.from_json(json.loads(json.dumps(v.camera.to_json())))
        np.testing.assert_array_equal(back.K, v.camera.K)
        np.testing.assert_array_equal(back.world_to_camera, v.camera.world_to_camera)


def test_blank_render_is_an_error(shape):
    away = look_at("away", [0, -3, 0.4], [0, -6, 0.4], intrinsics(64), 64)
    with pytest.raises(RenderError) as e:
        render(shape, [away])
    assert code(e) == "R007" and "away" in str(e.value)
    sideways = look_at(
        "sideways", [0, -3, 0.4], [5, -3, 0.4], intrinsics(64), 64
    )  # shape in front of no pixel
    with pytest.raises(RenderError):
        render(shape, [sideways])


def test_other_bad_options(shape):
    with pytest.raises(RenderError) as e:
        render(shape, ["front"], passes=["rgb", "colour"])
    assert code(e) == "R008" and "rgb, depth" in e.value.diagnostics[0].expected
    for background in [(2, 0, 0), "white", (0, 0), (float("nan"),) * 3]:
        with pytest.raises(RenderError):
            render(shape, ["front"], background=background)
    for samples in (0, 17, 2.5, True, "4"):
        with pytest.raises(RenderError) as e:
            render(shape, ["front"], samples=samples)
        assert code(e) == "R010"
    for antialias in ("FXAA", "smaa", None, 4):
        with pytest.raises(RenderError) as e:
            render(shape, ["front"], antialias=antialias)
        assert code(e) == "R010"
    with pytest.raises(RenderError):
        render(shape, [])
    with pytest.raises(RenderError):
        render(shape, ["front", "front"])
    r = render(shape, ["front"], size=32, passes=["part"])
    for x, y in [(-1, 0), (32, 0), (0, 99), (1.5, 2), ("a", 0)]:
        with pytest.raises(RenderError) as e:
            r.at("front", x, y)
        assert code(e) == "R009"
    with pytest.raises(RenderError):
        r.at("iso", 0, 0)


def test_empty_and_malformed_shapes(shape):
    empty = boxes([("a", (0, 0, 0.5), (1, 1, 1), (1, 0, 0))])
    empty.faces = empty.faces[:0]
    with pytest.raises(RenderError) as e:
        render(empty, ["front"])
    assert code(e) == "R006"
    broken = boxes([("a", (0, 0, 0.5), (1, 1, 1), (1, 0, 0))])
    broken.faces = broken.faces + 1000
    with pytest.raises(RenderError) as e:
        render(broken, ["front"])
    assert code(e) == "R006"


def test_missing_egl_names_the_packages(monkeypatch):
    import moderngl

    def fail(**kwargs):
        raise Exception("libEGL.so.1: cannot open shared object file")

    monkeypatch.setattr(moderngl, "create_standalone_context", fail)
    with pytest.raises(RenderError) as e:
        raster._create.__wrapped__()
    message = e.value.format()
    assert (
        code(e) == "R001" and "libegl1 libgl1-mesa-dri libegl-mesa0" in message and "libEGL.so.1" in message
    )


def test_views_of_different_sizes_in_one_call(shape):
    small, large = (look_at(f"s{n}", [2.0, -2.0, 1.5], [0, 0, 0.4], intrinsics(n), n) for n in (32, 80))
    r = render(shape, [small, large, named_view("front", shape.bbox, 48)])
    assert [v.face.shape for v in r.views] == [(32, 32), (80, 80), (48, 48)]
    assert all(v.rgb.shape[:2] == v.face.shape for v in r.views)


def test_a_forked_child_gets_a_clear_error_not_a_hang(shape):
    """Mesa cannot make a context in a child forked after the parent rendered: say so, with the fix."""
    import multiprocessing

    render(shape, ["front"], size=32)  # the parent has a context
    with multiprocessing.get_context("fork").Pool(1) as pool:
        code_, hint = pool.apply(_render_in_child, (shape,))
    assert code_ == "R011" and "spawn" in hint
    with multiprocessing.get_context("spawn").Pool(1) as pool:  # the fix the hint gives works
        assert pool.apply(_render_in_child, (shape,)) == ("", "")


def _render_in_child(shape):
    try:
        render(shape, ["front"], size=32)
    except RenderError as error:
        return error.diagnostics[0].code, error.diagnostics[0].hint
    return "", ""


def test_render_each_gives_the_same_views_holding_at_most_two(shape, renders):
    """The streamed views equal the in-memory ones, and a view is freed once the caller drops it:
    the iterator itself keeps only the view being drawn and the one being smoothed."""
    import gc
    import weakref

    from proto3d.renderer import render_each

    names = [v.name for v in renders.views]
    seen = []
    for view in render_each(shape, names, size=160):
        kept = renders.view(view.name)
        for name in ("rgb", "depth", "normal", "face", "part", "instance", "primitive"):
            np.testing.assert_array_equal(getattr(view, name), getattr(kept, name))
        seen.append(weakref.ref(view))
        del view
        gc.collect()
        assert sum(ref() is not None for ref in seen) <= 2
    assert len(seen) == len(names)


def test_render_each_checks_everything_before_drawing(shape):
    from proto3d.renderer import render_each

    with pytest.raises(RenderError) as err:
        render_each(shape, ["front", "frnt"])
    assert err.value.diagnostics[0].code == "R002"
    with pytest.raises(RenderError) as err:
        render_each(shape, orbit(2, 20.0, shape.bbox, 2048), memory_limit=300 << 20)
    assert (err.value.diagnostics[0].code, err.value.diagnostics[0].message) == (
        "R012",
        "2 views at 2048x2048 streamed need about 432 MB of memory; the limit is 300 MB",
    )

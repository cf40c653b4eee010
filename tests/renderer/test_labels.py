"""Part labels and the inspector's per-view images: anchors on their own part, boxes that never overlap,
captions read from the camera."""

from __future__ import annotations

import numpy as np
import pytest

from proto3d.compiler import compile_text
from proto3d.renderer import SheetBuilder, labels, named_view, palette, render
from proto3d.renderer.sheet import _font, inspector_image, view_caption

FONT = _font(14)


def place_all(ids: np.ndarray, names: list[str]) -> list[labels.Placed]:
    found = labels.anchors(ids, names)
    return labels.place(found, [labels.box_size(a.label, FONT) for a in found], ids > 0)


def assert_sound(placed: list[labels.Placed], ids: np.ndarray) -> None:
    """Each leader ends on a pixel of its own part; boxes lie inside the image and never overlap."""
    h, w = ids.shape
    for p in placed:
        assert ids[p.anchor.y, p.anchor.x] == p.anchor.part + 1, p.anchor.label
        left, top, right, bottom = p.box
        assert 0 <= left < right <= w and 0 <= top < bottom <= h
    for i, a in enumerate(placed):
        for b in placed[i + 1 :]:
            apart = (
                a.box[2] <= b.box[0] or b.box[2] <= a.box[0] or a.box[3] <= b.box[1] or b.box[3] <= a.box[1]
            )
            assert apart, (a.anchor.label, a.box, b.anchor.label, b.box)


def test_a_ring_is_anchored_on_the_ring_not_in_its_hole():
    ys, xs = np.mgrid[:100, :100]
    r = np.hypot(xs - 50, ys - 50)
    ids = np.where((r > 20) & (r < 30), 1, 0).astype(np.uint16)
    (anchor,) = labels.anchors(ids, ["rim"])
    assert ids[anchor.y, anchor.x] == 1 and 20 < np.hypot(anchor.x - 50, anchor.y - 50) < 30
    assert anchor.pixels == int((ids == 1).sum())
    # an interior pixel: its four neighbours are the ring too
    assert all(ids[anchor.y + dy, anchor.x + dx] == 1 for dx, dy in ((1, 0), (-1, 0), (0, 1), (0, -1)))


def test_the_anchor_is_the_part_pixel_nearest_the_visible_centroid():
    ids = np.zeros((40, 60), np.uint16)
    ids[10:20, 5:15] = 1  # centroid (9.5, 14.5)
    ids[25:35, 40:44] = 2  # centroid (41.5, 29.5)
    found = labels.anchors(ids, ["seat", "leg"])
    assert [(a.label, a.x, a.y, a.pixels) for a in found] == [("seat", 9, 14, 100), ("leg", 41, 29, 40)]


def test_crowded_parts_get_boxes_that_never_overlap_and_avoid_other_anchors():
    ids = np.zeros((320, 320), np.uint16)
    names = [f"part_{k}" for k in range(24)]
    for k in range(24):  # a 6 x 4 grid of small squares, packed in the middle
        y, x = 120 + (k // 6) * 20, 100 + (k % 6) * 20
        ids[y : y + 12, x : x + 12] = k + 1
    placed = place_all(ids, names)
    assert sorted(p.anchor.label for p in placed) == sorted(names)
    assert_sound(placed, ids)
    anchors = {(p.anchor.x, p.anchor.y) for p in placed}
    for p in placed:
        left, top, right, bottom = p.box
        assert not any(left <= x < right and top <= y < bottom for x, y in anchors)


def test_a_label_that_cannot_fit_is_left_out_rather_than_overlapping():
    ids = np.zeros((20, 30), np.uint16)
    ids[5:15, 5:10], ids[5:15, 20:25] = 1, 2
    placed = place_all(ids, ["a_long_label_name", "another_long_one"])
    assert len(placed) <= 1
    assert_sound(placed, ids)


@pytest.fixture(scope="module")
def microscope():
    """Ten parts close together: the case where labels used to collide."""
    return compile_text(
        """shape "stack"
part base { box(size=[0.3, 0.2, 0.04], at=[0, 0, 0], align="bottom") }
part arm { box(size=[0.04, 0.04, 0.4], at=[0, 0.08, 0.04], align="bottom") }
part stage { box(size=[0.16, 0.14, 0.02], at=[0, 0, 0.18], align="bottom") }
part clip { for x in [-0.05, 0.05] { box(size=[0.01, 0.05, 0.005], at=[x, 0, 0.2], align="bottom") } }
part knob { symmetric("x") cylinder(r=0.02, h=0.02, at=[0.03, 0.08, 0.2], rot=[0, 90, 0]) }
part head { box(size=[0.08, 0.1, 0.06], at=[0, 0.03, 0.44], align="bottom") }
part eyepiece { cylinder(r=0.012, h=0.08, at=[0, -0.01, 0.5], align="bottom", rot=[-30, 0, 0]) }
part nosepiece { cylinder(r=0.03, h=0.02, at=[0, 0.0, 0.42], align="bottom") }
part objective { for x in [-0.012, 0.012] { cylinder(r=0.006, h=0.04, at=[x, 0, 0.38], align="bottom") } }
part lamp { cylinder(r=0.02, h=0.02, at=[0, 0, 0.04], align="bottom") }
"""
    )


def test_inspector_images_label_every_visible_part_on_its_own_pixels(microscope):
    renders = render(microscope, views=("front", "left", "back", "top", "iso"), size=512)
    for view in renders.views:
        image = inspector_image(microscope, view)
        assert image.width == 1024 and image.height > 512 and image.mode == "RGB"
        header = image.height - 512
        shown = image.info["labels"]
        visible = {microscope.parts[k - 1].label for k in np.unique(view.part) if k}
        assert {s["label"] for s in shown} == visible, view.name
        pixels = np.array(image)
        for s in shown:
            x, y = s["anchor"]
            assert view.part[y, x] == s["part"] + 1
            # the anchor dot is drawn there, on the labelled half of the image
            assert tuple(pixels[header + y, 512 + x]) == (255, 255, 255)
        placed = [
            labels.Placed(labels.Anchor(s["part"], s["label"], *s["anchor"], 0), s["box"]) for s in shown
        ]
        assert_sound(placed, view.part)
        bare = inspector_image(microscope, view, caption="")  # the agent sends the caption as text
        assert bare.size == (1024, 512) and (np.array(bare) == pixels[header:]).all()


def test_captions_say_where_the_camera_is_and_where_the_front_points():
    bbox = (np.array([-0.5, -0.3, 0.0]), np.array([0.5, 0.3, 0.8]))
    captions = {name: view_caption(named_view(name, bbox, 64)) for name in ("front", "left", "top", "iso")}
    assert captions == {
        "front": "view `front`, seen from the front: the object's front (-Y) faces the camera; "
        "+X points right; up (+Z) points up",
        "left": "view `left`, seen from the left: the object's front (-Y) points right; "
        "+X faces away from the camera; up (+Z) points up",
        "top": "view `top`, seen from directly above: the object's front (-Y) points down; "
        "+X points right; up (+Z) faces the camera",
        "iso": "view `iso`, seen from the front-right, 30° above: the object's front (-Y) points "
        "left-down and towards the camera; +X points right-down and towards the camera; "
        "up (+Z) points up and towards the camera",
    }


def test_the_contact_sheet_labels_its_thumbnails_the_same_way(microscope):
    renders = render(microscope, views=("front", "iso"), size=512)
    builder = SheetBuilder(microscope, cell=240)
    for view in renders.views:
        builder.add(view)
    colors = palette(len(microscope.parts))
    for _, _, mask, placed in builder.cells:
        pixels = np.array(mask)
        ids = np.zeros(pixels.shape[:2], np.uint16)  # the thumbnail's part ids, read back from its colours
        for k, color in enumerate(colors):
            ids[(pixels == color).all(axis=2)] = k + 1
        assert len(placed) >= 8
        assert_sound(placed, ids)
    assert builder.image().width > 2 * 240

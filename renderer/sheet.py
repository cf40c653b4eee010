"""What a multimodal model (or a person) sees of a shape: per-view inspector images and a contact sheet.

`inspector_image` is one view at full size, shaded RGB beside the part-colour mask with each
part's name in a box joined by a leader line to the part's visible centroid, under a caption
saying where the camera looks from and where the object's front is: the agent's inspector gets
one such image per view, so each view keeps its 512 px after the model's own downscaling.
`contact_sheet` puts every view (both halves, labelled the same way) on one page beside a
legend of colour, label, instance count and visible pixels, and lists the parts no view shows:
the overview a person reads in report.html and `proto3d render --sheet`.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from proto3d.compiler.shape import CompiledShape
from proto3d.renderer import labels
from proto3d.renderer.camera import Camera
from proto3d.renderer.palette import colorize, hex_color, palette
from proto3d.renderer.render import PixelCounts, Renders, View
from proto3d.renderer.save import split_alpha

PAD = 12
GAP = 6
LEGEND_WIDTH = 320
INK = (20, 20, 20)
MUTED = (110, 110, 110)
ALERT = (190, 0, 40)


def contact_sheet(
    shape: CompiledShape, renders: Renders, cell: int = 320, columns: int = 2, title: str | None = None
) -> Image.Image:
    """One RGB image: a grid of views (RGB | labelled part colours) and a legend on the right.

    `image.info["legend"]` lists what the legend shows ({label, color, instances, pixels,
    swatch box}), `image.info["invisible"]` the parts no view shows and
    `image.info["invisible_instances"]` the unseen instances of parts that are seen.
    """
    sheet = SheetBuilder(shape, cell, columns, title)
    for view in renders.views:
        sheet.add(view)
    return sheet.image()


class SheetBuilder:
    """The contact sheet made one view at a time, for views streamed to disk: it keeps each
    view's two thumbnails and label anchors (`sheet_bytes`), never the view's buffers."""

    def __init__(
        self, shape: CompiledShape, cell: int = 320, columns: int = 2, title: str | None = None
    ) -> None:
        self.shape, self.cell, self.columns, self.title = shape, cell, columns, title
        self.counts = PixelCounts(shape)
        self.cells: list[tuple[str, Image.Image | None, Image.Image, list[labels.Placed]]] = []

    def add(self, view: View) -> None:
        """Shrink the view to its cell and find where each visible part's label goes."""
        shape, cell = self.shape, self.cell
        self.counts.add(view)
        h, w = view.part.shape
        scale = cell / max(h, w)
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        rgb = None
        if view.rgb is not None:
            rgb = _on_white(view.rgb).resize(size, Image.LANCZOS)
        ids = np.asarray(Image.fromarray(view.part.astype(np.int32)).resize(size, Image.NEAREST))
        mask = Image.fromarray(colorize(ids, len(shape.parts)))
        found = labels.anchors(ids, [p.label for p in shape.parts])
        small = _font(13)
        placed = labels.place(found, [labels.box_size(a.label, small) for a in found], ids > 0)
        self.cells.append((view.name, rgb, mask, placed))

    def image(self) -> Image.Image:
        shape, cell = self.shape, self.cell
        font, small, big = _font(15), _font(13), _font(20)
        columns = max(1, min(self.columns, len(self.cells)))
        rows = -(-len(self.cells) // columns)
        header = 24
        block_w, block_h = 2 * cell + GAP, cell + header
        grid_w = columns * block_w + (columns - 1) * PAD
        title_h = 34
        colors = palette(len(shape.parts))
        totals = self.counts.part_totals()
        invisible = self.counts.invisible_parts()
        hidden_instances = [
            shape.instance_name(i)
            for i, n in enumerate(self.counts.instance_totals())
            if n == 0 and shape.parts[shape.instances[i].part_id].label not in invisible
        ]

        legend_lines = len(shape.parts) + 5 + len(invisible) + len(hidden_instances)
        height = max(title_h + rows * (block_h + PAD), title_h + 26 + legend_lines * 22) + PAD
        sheet = Image.new("RGB", (PAD + grid_w + PAD + LEGEND_WIDTH + PAD, height), "white")
        draw = ImageDraw.Draw(sheet)
        n_tri = len(shape.faces)
        draw.text(
            (PAD, PAD - 2),
            self.title
            or f"{shape.name}: {len(shape.parts)} parts, {len(shape.instances)} instances, {n_tri} triangles",
            fill=INK,
            font=big,
        )

        for k, (name, rgb, mask, placed) in enumerate(self.cells):
            x0 = PAD + (k % columns) * (block_w + PAD)
            y0 = title_h + (k // columns) * (block_h + PAD)
            draw.text((x0, y0 + 2), f"view `{name}`", fill=INK, font=font)
            if rgb is not None:
                sheet.paste(rgb, (x0, y0 + header))
            mx = x0 + cell + GAP
            labels.draw(mask, placed, colors, small)
            sheet.paste(mask, (mx, y0 + header))
            draw.rectangle(
                [x0, y0 + header, x0 + 2 * cell + GAP - 1, y0 + header + cell - 1], outline=(225, 225, 225)
            )

        lx = PAD + grid_w + PAD
        y = title_h
        draw.text((lx, y), "parts (colour, label, instances, visible px)", fill=INK, font=font)
        y += 26
        legend = []
        for i, part in enumerate(shape.parts):
            box = (lx, y + 2, lx + 16, y + 18)
            draw.rectangle(box, fill=tuple(int(c) for c in colors[i]), outline=INK)
            legend.append(
                {
                    "label": part.label,
                    "color": hex_color(colors[i]),
                    "instances": len(part.instance_ids),
                    "pixels": int(totals[i]),
                    "box": box,
                }
            )
            count = len(part.instance_ids)
            text = f"{part.label}" + (f" x{count}" if count > 1 else "") + f"  {int(totals[i])} px"
            draw.text((lx + 24, y + 2), text, fill=INK if totals[i] else ALERT, font=small)
            y += 22
        y += 10
        if invisible:
            draw.text((lx, y), "not visible from any view:", fill=ALERT, font=font)
            for label in invisible:
                y += 22
                draw.text((lx + 10, y), label, fill=ALERT, font=small)
        else:
            draw.text((lx, y), "every part is visible in some view", fill=MUTED, font=small)
        if hidden_instances:
            y += 32
            draw.text((lx, y), "instances not visible from any view:", fill=ALERT, font=font)
            for name in hidden_instances:
                y += 22
                draw.text((lx + 10, y), name, fill=ALERT, font=small)
        sheet.info.update(legend=legend, invisible=invisible, invisible_instances=hidden_instances)
        return sheet


def view_caption(camera: Camera) -> str:
    """Where `camera` looks from and where the object's front (-Y), +X and +Z point in its image,
    read from the camera itself, so a caption is right for any view."""
    R = camera.world_to_camera[:3, :3]
    return (
        f"view `{camera.name}`, seen from {_seen_from(-R[2])}: the object's front (-Y) {_image_words(R @ [0, -1, 0])}; "
        f"+X {_image_words(R @ [1, 0, 0])}; up (+Z) {_image_words(R @ [0, 0, 1])}"
    )


def inspector_image(shape: CompiledShape, view: View, caption: str | None = None) -> Image.Image:
    """One view for the inspector: shaded RGB | part colours with boxed names and leader lines,
    under its caption (`view_caption` unless given; "" = none, for a caption sent as text, which
    keeps a 512-px view within two 512-px tiles). `image.info["labels"]` lists each label's part,
    box and anchor."""
    h, w = view.part.shape
    font, small = _font(16), _font(14)
    text = view_caption(view.camera) if caption is None else caption
    lines = _wrap(text, font, 2 * w - 2 * GAP) if text else []
    header = 8 + 20 * len(lines) if lines else 0
    image = Image.new("RGB", (2 * w, h + header), "white")
    canvas = ImageDraw.Draw(image)
    for i, line in enumerate(lines):
        canvas.text((GAP, 4 + 20 * i), line, fill=INK, font=font)
    if view.rgb is not None:
        image.paste(_on_white(view.rgb), (0, header))
    mask = Image.fromarray(colorize(view.part, len(shape.parts)))
    found = labels.anchors(view.part, [p.label for p in shape.parts])
    placed = labels.place(found, [labels.box_size(a.label, small) for a in found], view.part > 0)
    labels.draw(mask, placed, palette(len(shape.parts)), small)
    image.paste(mask, (w, header))
    canvas.line([(w, header), (w, header + h - 1)], fill=(200, 200, 200))
    image.info["labels"] = [
        {"label": p.anchor.label, "part": p.anchor.part, "box": p.box, "anchor": (p.anchor.x, p.anchor.y)}
        for p in placed
    ]
    return image


def sheet_bytes(views: int, cell: int = 320, columns: int = 2) -> int:
    """About the bytes a sheet of `views` holds: two RGB thumbnails a view, then the sheet itself."""
    rows = -(-views // max(1, min(columns, views)))
    return (
        views * 2 * cell * cell * 3
        + rows * (cell + 24 + PAD) * (columns * (2 * cell + GAP + PAD) + LEGEND_WIDTH + 2 * PAD) * 3
    )


def _on_white(rgba: np.ndarray) -> Image.Image:
    """An (H, W, 4) render composited over white, as RGB; an opaque one (the default background)
    is its colour as it is, without the compositing (a quarter of the time)."""
    rgb, opaque = split_alpha(rgba)
    if opaque:
        return Image.fromarray(rgb)
    shaded = Image.fromarray(rgba).convert("RGBA")
    return Image.alpha_composite(Image.new("RGBA", shaded.size, "white"), shaded).convert("RGB")


def _seen_from(v) -> str:
    """Where a camera looking along -v stands: the sides it faces (weights over 0.3), its elevation."""
    elevation = float(np.degrees(np.arcsin(np.clip(v[2], -1, 1))))
    if abs(elevation) > 85:
        return "directly above" if elevation > 0 else "directly below"
    names = [(v[1], "front", "back"), (v[0], "left", "right")]
    sides = [positive if value > 0 else negative for value, negative, positive in names if abs(value) > 0.3]
    height = f"{abs(elevation):.0f}° {'above' if elevation > 0 else 'below'}" if abs(elevation) > 5 else ""
    return ", ".join(filter(None, ["the " + "-".join(sides) if sides else "", height]))


def _image_words(v) -> str:
    """Where a direction (camera axes: x right, y down, z forward) points in the image."""
    if v[2] < -0.9:
        return "faces the camera"
    if v[2] > 0.9:
        return "faces away from the camera"
    weights = sorted([(v[1], "up", "down"), (v[0], "left", "right")], key=lambda t: -abs(t[0]))
    side = [positive if value > 0 else negative for value, negative, positive in weights if abs(value) > 0.3]
    depth = " and towards the camera" if v[2] < -0.3 else " and away from the camera" if v[2] > 0.3 else ""
    return "points " + "-".join(side) + depth


def _wrap(text: str, font, width: int) -> list[str]:
    lines: list[str] = []
    for word in text.split(" "):
        if lines and font.getlength(lines[-1] + " " + word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 or no FreeType: the fixed bitmap font
        return ImageFont.load_default()

"""The inspector's contact sheet: what a multimodal model needs to judge a shape in one image.

Each view appears twice, shaded RGB beside a part-colour mask with part names written at
the visible centre of each part; a legend maps colour to label, instance count and visible
pixels, and lists the parts no view shows.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from proto3d.compiler.shape import CompiledShape
from proto3d.renderer.palette import colorize, hex_color, palette
from proto3d.renderer.render import PixelCounts, Renders, View

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
        self.cells: list[tuple[str, Image.Image | None, Image.Image, list, tuple[int, int]]] = []

    def add(self, view: View) -> None:
        """Shrink the view to its cell and find where each visible part's label goes."""
        shape, cell = self.shape, self.cell
        _, instance_counts = self.counts.add(view)
        h, w = view.part.shape
        scale = cell / max(h, w)
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        rgb = None
        if view.rgb is not None:
            image = Image.fromarray(view.rgb).convert("RGBA")
            rgb = (
                Image.alpha_composite(Image.new("RGBA", image.size, "white"), image)
                .convert("RGB")
                .resize(size, Image.LANCZOS)
            )
        mask = Image.fromarray(colorize(view.part, len(shape.parts))).resize(size, Image.NEAREST)
        anchors = []  # (label, x, y) in the cell, at the visible pixel nearest the centroid of the part's most visible instance
        for part in shape.parts:
            best_count, best = max(((instance_counts[i], i) for i in part.instance_ids), default=(0, -1))
            if best_count == 0:
                continue
            ys, xs = np.nonzero(view.instance == best + 1)
            k = np.argmin((ys - ys.mean()) ** 2 + (xs - xs.mean()) ** 2)
            anchors.append((part.label, (xs[k] + 0.5) * scale, (ys[k] + 0.5) * scale))
        self.cells.append((view.name, rgb, mask, anchors, size))

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

        for k, (name, rgb, mask, anchors, size) in enumerate(self.cells):
            x0 = PAD + (k % columns) * (block_w + PAD)
            y0 = title_h + (k // columns) * (block_h + PAD)
            draw.text((x0, y0 + 2), f"view `{name}`", fill=INK, font=font)
            if rgb is not None:
                sheet.paste(rgb, (x0, y0 + header))
            mx = x0 + cell + GAP
            sheet.paste(mask, (mx, y0 + header))
            draw.rectangle(
                [x0, y0 + header, x0 + 2 * cell + GAP - 1, y0 + header + cell - 1], outline=(225, 225, 225)
            )
            _label_parts(draw, anchors, small, (mx, y0 + header), size)

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


def sheet_bytes(views: int, cell: int = 320, columns: int = 2) -> int:
    """About the bytes a sheet of `views` holds: two RGB thumbnails a view, then the sheet itself."""
    rows = -(-views // max(1, min(columns, views)))
    return (
        views * 2 * cell * cell * 3
        + rows * (cell + 24 + PAD) * (columns * (2 * cell + GAP + PAD) + LEGEND_WIDTH + 2 * PAD) * 3
    )


def _label_parts(draw, anchors, font, origin, size) -> None:
    """Write each visible part's label at its anchor, stepping away from labels already written."""
    placed: list[tuple[int, int, int, int]] = []
    for label, x, y in anchors:
        ax, ay = origin[0] + x, origin[1] + y
        left, top, right, bottom = draw.textbbox((0, 0), label, font=font, stroke_width=2)
        tw, th = right - left, bottom - top
        x = int(min(max(ax - tw / 2, origin[0]), origin[0] + size[0] - tw))
        y = int(min(max(ay - th - 4, origin[1]), origin[1] + size[1] - th))
        for _ in range(6):  # step away from labels already written
            box = (x, y, x + tw, y + th)
            if not any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3] for b in placed):
                break
            y = int(min(y + th + 2, origin[1] + size[1] - th))
        placed.append((x, y, x + tw, y + th))
        draw.ellipse([ax - 3, ay - 3, ax + 3, ay + 3], fill="white", outline=INK)
        draw.text((x - left, y - top), label, fill=INK, font=font, stroke_width=2, stroke_fill="white")


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 or no FreeType: the fixed bitmap font
        return ImageFont.load_default()

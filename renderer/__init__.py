"""The renderer stage: headless ModernGL (EGL) views of a `CompiledShape` with exact ID buffers.

renders = render(shape, views=("front", "iso"), size=512)
renders.at("front", 256, 300)   # -> PixelInfo(part="seat", instance="seat", line=8, ...)
renders.save("out/")
contact_sheet(shape, renders).save("sheet.png")
inspector_image(shape, renders.views[0]).save("front.png")  # one view, captioned and labelled
for view in render_each(shape, orbit(360, 20.0, shape.bbox, 2048)):  # one at a time: many or large views
    ...
"""

from proto3d.compiler.kernel_cache import load_kernels_lightly
from proto3d.renderer.camera import MAX_SIZE, MIN_SIZE, VIEWS, Camera, look_at, named_view, orbit
from proto3d.renderer.errors import RenderError
from proto3d.renderer.palette import palette
from proto3d.renderer.render import (
    ALL_PASSES,
    ANTIALIAS,
    DEFAULT_VIEWS,
    MEMORY_LIMIT,
    PixelCounts,
    PixelInfo,
    Renders,
    View,
    render,
    render_each,
)
from proto3d.renderer.sheet import SheetBuilder, contact_sheet, inspector_image, view_caption

__all__ = [
    "ALL_PASSES",
    "ANTIALIAS",
    "DEFAULT_VIEWS",
    "MAX_SIZE",
    "MEMORY_LIMIT",
    "MIN_SIZE",
    "VIEWS",
    "Camera",
    "PixelCounts",
    "PixelInfo",
    "RenderError",
    "Renders",
    "SheetBuilder",
    "View",
    "contact_sheet",
    "inspector_image",
    "look_at",
    "named_view",
    "orbit",
    "palette",
    "render",
    "render_each",
    "view_caption",
]

load_kernels_lightly(__name__)  # the renderer's cached kernels load without readying Numba's compiler

"""The renderer stage: headless ModernGL (EGL) views of a `CompiledShape` with exact ID buffers.

    renders = render(shape, views=("front", "iso"), size=512)
    renders.at("front", 256, 300)   # -> PixelInfo(part="seat", instance="seat", line=8, ...)
    renders.save("out/")
    contact_sheet(shape, renders).save("sheet.png")
"""
from proto3d.renderer.camera import MAX_SIZE, MIN_SIZE, VIEWS, Camera, look_at, named_view, orbit
from proto3d.renderer.errors import RenderError
from proto3d.renderer.palette import palette
from proto3d.renderer.render import ALL_PASSES, ANTIALIAS, DEFAULT_VIEWS, PixelInfo, Renders, View, render
from proto3d.renderer.sheet import contact_sheet

__all__ = [
    "ALL_PASSES", "ANTIALIAS", "DEFAULT_VIEWS", "MAX_SIZE", "MIN_SIZE", "VIEWS", "Camera", "PixelInfo", "RenderError",
    "Renders", "View", "contact_sheet", "look_at", "named_view", "orbit", "palette", "render",
]

"""Stage 2: syntax tree → part-labelled mesh (`CompiledShape`), lints and exports."""

from proto3d.compiler.kernel_cache import drop_stale_kernels, load_kernels_lightly

drop_stale_kernels()  # before any cached kernel loads

from proto3d.compiler.anchors import moved_anchors
from proto3d.compiler.build import check, compile_program, compile_text
from proto3d.compiler.export import export, parts_manifest
from proto3d.compiler.shape import AnchorRead, CompiledShape, Instance, Part, Primitive
from proto3d.limits import Limits

load_kernels_lightly(__name__)

__all__ = [
    "compile_text",
    "compile_program",
    "check",
    "moved_anchors",
    "export",
    "parts_manifest",
    "Limits",
    "CompiledShape",
    "Part",
    "Instance",
    "Primitive",
    "AnchorRead",
]

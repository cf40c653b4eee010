"""Renderer diagnostics: every failure a user, a model or a machine can cause, as an R0xx code."""

from __future__ import annotations

from proto3d.errors import Diagnostic, Proto3dError

NO_CONTEXT = "R001"  # no OpenGL context (missing EGL / Mesa)
UNKNOWN_VIEW = "R002"
BAD_SIZE = "R003"
BAD_CAMERA = "R004"
BAD_ORBIT = "R005"
EMPTY_SHAPE = "R006"
BLANK_RENDER = "R007"
UNKNOWN_PASS = "R008"
BAD_PIXEL = "R009"
BAD_OPTION = "R010"
FORKED = "R011"  # a forked child of a process that already rendered
OVER_MEMORY = "R012"  # a request whose buffers would not fit the memory limit
OUT_OF_MEMORY = "R013"  # the machine ran out of memory while rendering or saving


class RenderError(Proto3dError):
    """A `Proto3dError` raised by the renderer; `.diagnostics[0].code` is an R0xx code."""


def render_error(code: str, message: str, *, expected: str = "", hint: str = "") -> RenderError:
    return RenderError(Diagnostic(code, message, expected=expected, hint=hint))

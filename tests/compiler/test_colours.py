"""Colours read the way PIL reads them, whether read here ("#rgb", "#rrggbb") or by PIL."""

from __future__ import annotations

import subprocess
import sys

from hypothesis import given
from hypothesis import strategies as st
from PIL import ImageColor

from proto3d.compiler.values import _rgb

HEX_DIGITS = "0123456789abcdefABCDEF"


def _pil(text: str):
    try:
        return ImageColor.getrgb(text)
    except ValueError:
        return "unknown"


def _ours(text: str):
    try:
        return _rgb(text)
    except ValueError:
        return "unknown"


@given(st.text(alphabet=HEX_DIGITS + "#xg ", max_size=10).map(lambda digits: "#" + digits))
def test_hex_colours_read_as_pil_reads_them(text):
    assert _ours(text) == _pil(text)


def test_every_form_reads_as_pil_reads_it():
    for text in ["#8b5a2b", "#8B5A2B", "#fff", "#FfF", "#ffff", "#ffffff80", "#12345", "#", "red", "Wheat",
                 "rgb(10, 20, 30)", "hsl(120, 100%, 50%)", "blurple", "#ggg", "８"]:  # fmt: skip
        assert _ours(text) == _pil(text)
    assert _rgb("#8b5a2b") == (139, 90, 43)
    assert _rgb("#f0a") == (255, 0, 170)


def test_a_program_with_hex_colours_compiles_without_importing_pil():
    script = (
        "import sys\n"
        "from proto3d.compiler import compile_text\n"
        "shape = compile_text('part a color \"#8b5a2b\" { box(size=[1, 1, 1], at=[0, 0, 0.5]) }')\n"
        "print('PIL' in sys.modules, shape.parts[0].color)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert out.split(maxsplit=1) == ["False", f"{(139 / 255, 90 / 255, 43 / 255)}\n"]

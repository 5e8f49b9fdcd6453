"""The one compiled loop of the transform: clipped row products, in one read of the stack.

Written by hand (with numba) because numpy needs four passes over a 3 MB stack for what
this does in one: clip every value, multiply groups of rows, and flag non-finite input.
Its output equals numpy's `clip` then `multiply` in the same order bit for bit
(tests/data/test_transform.py), so the transform's result does not depend on it.
"""

from __future__ import annotations

import numba
import numpy as np


def _compile(fn):
    """njit with an on-disk cache where one can be written (a read-only install or HOME
    makes numba refuse caching at decoration time: compile per process instead)."""
    options = {"nogil": True, "boundscheck": False}
    try:
        return numba.njit(cache=True, **options)(fn)
    except RuntimeError:
        return numba.njit(**options)(fn)


def _clipped_row_products(stack, k, lo, hi, out):  # noqa: ANN001 - numba-typed
    c, h, w = stack.shape
    zero = np.float32(0.0)
    flag = np.empty(w, np.float32)  # 0 for finite inputs, NaN once a NaN or +-Inf is seen
    for ci in range(c):
        for i in range(h // k):
            o = out[ci, i]
            row = stack[ci, i * k]
            for x in range(w):  # one row at a time: loops over x vectorize
                o[x] = min(max(row[x], lo), hi)
                flag[x] = row[x] * zero
            for j in range(1, k):
                row = stack[ci, i * k + j]
                for x in range(w):
                    o[x] *= min(max(row[x], lo), hi)
                    flag[x] += row[x] * zero
            for x in range(w):
                o[x] += flag[x]
    return out


_kernel = _compile(_clipped_row_products)


def clipped_row_products(stack: np.ndarray, k: int, lo: np.float32, hi: np.float32) -> np.ndarray:
    """(C, H, W) float32 -> (C, H // k, W): out[c, i, x] = product over j < k of
    clip(stack[c, i*k + j, x], lo, hi), float32, multiplied in order of j; NaN wherever one
    of those k inputs is NaN or infinite."""
    c, h, w = stack.shape
    out = np.empty((c, h // k, w), np.float32)
    stack = np.ascontiguousarray(stack, dtype=np.float32)
    return _kernel(stack, k, np.float32(lo), np.float32(hi), out)


def warm_up() -> None:
    """Compile (or load from the cache) now, e.g. in a parent before it forks workers."""
    clipped_row_products(np.ones((1, 4, 8), np.float32), 4, np.float32(0.5), np.float32(2.0))

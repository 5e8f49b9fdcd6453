"""The one compiled loop of the transform: block products of clipped values, in one read.

Written by hand (with numba) because numpy needs several passes over a 3 MB stack for what
this does in one: clip every value, multiply the values of each output pixel's block (so
that one log per block replaces one per value), and flag non-finite input. Its output
equals numpy's `clip`, then `multiply` in float64 in the same order, bit for bit
(tests/data/test_transform.py), so the transform's result does not depend on it.
"""

from __future__ import annotations

import numba
import numpy as np

from stemdl.common.infra.signals import Terminated, signals_deferred

# values multiplied into one float64: a product of 40 values in [e^-17, e^8.5] stays a
# normal float64 (e^-680 .. e^340); more could underflow
MAX_FACTORS = 40


def _compile(fn):
    """njit with an on-disk cache where one can be written (a read-only install or HOME
    makes numba refuse caching at decoration time: compile per process instead)."""
    options = {"nogil": True, "boundscheck": False}
    try:
        return numba.njit(cache=True, **options)(fn)
    except RuntimeError:
        return numba.njit(**options)(fn)


def _block_products(stack, fy, fx, k, m, lo, hi, out):  # noqa: ANN001 - numba-typed
    c, h, w = stack.shape
    gx = (fx + m - 1) // m  # column groups per block
    zero = np.float32(0.0)
    rows = np.empty(w, np.float64)  # clipped values of k rows multiplied, per column
    flag = np.empty(w, np.float32)  # 0 for finite inputs, NaN once a NaN or +-Inf is seen
    for ci in range(c):
        for i in range(h // k):
            y = i // (fy // k)
            r = i - y * (fy // k)
            row = stack[ci, i * k]
            for x in range(w):  # one row at a time: loops over x vectorize
                rows[x] = np.float64(min(max(row[x], lo), hi))
                flag[x] = row[x] * zero
            for j in range(1, k):
                row = stack[ci, i * k + j]
                for x in range(w):
                    rows[x] *= min(max(row[x], lo), hi)
                    flag[x] += row[x] * zero
            for x in range(w):
                rows[x] += flag[x]
            if fx == 4 and gx == 1:  # the recipe's 512 -> 128: a constant stride vectorizes
                o = out[ci, y, r]
                for x in range(w // 4):
                    o[x] = rows[4 * x] * rows[4 * x + 1] * rows[4 * x + 2] * rows[4 * x + 3]
                continue
            for g in range(gx):
                o = out[ci, y, r * gx + g]
                first, last = g * m, min(fx, g * m + m)
                for x in range(w // fx):
                    p = rows[x * fx + first]
                    for j in range(first + 1, last):
                        p *= rows[x * fx + j]
                    o[x] = p
    return out


_kernel = _compile(_block_products)


def block_products(stack: np.ndarray, size: int, k: int, lo: np.float32,
                   hi: np.float32) -> np.ndarray:
    """(C, H, W) float32, H and W multiples of size -> (C, size, G, size) float64: for each
    output pixel, the clipped values clip(x, lo, hi) of its (H/size x W/size) block
    multiplied in float64 in G partial products: each of k consecutive rows (down the rows
    first, in row order) and up to MAX_FACTORS / k consecutive columns (then across, in
    column order). NaN wherever one of a product's inputs is NaN or infinite."""
    warm_up()  # the first call compiles, signals held back
    return _products(stack, size, k, lo, hi)


def _products(stack: np.ndarray, size: int, k: int, lo: np.float32, hi: np.float32,
              ) -> np.ndarray:
    c, h, w = stack.shape
    fy, fx = h // size, w // size
    m = max(1, MAX_FACTORS // k)
    groups = (fy // k) * -(-fx // m)
    out = np.empty((c, size, groups, size), np.float64)
    stack = np.ascontiguousarray(stack, dtype=np.float32)
    try:
        return _kernel(stack, fy, fx, k, m, np.float32(lo), np.float32(hi), out)
    except SystemError as err:
        # A Ctrl-C or SIGTERM whose handler raised while numba's dispatcher ran Python code
        # (its type checks, a cache load) comes out as "CPUDispatcher(...) returned a
        # result with an exception set", the stop as its cause (seen in 2 of 25 Ctrl-C
        # early in `stemdl preprocess`): raise the stop itself, which the command handles.
        if isinstance(err.__cause__, KeyboardInterrupt | Terminated):
            raise err.__cause__ from None
        raise


_compiled = False


def warm_up() -> None:
    """Compile (or load from the cache) now, e.g. in a parent before it forks workers.

    SIGINT/SIGTERM are held back meanwhile: one arriving inside numba's compiler callbacks
    is swallowed (ctypes ignores a callback's exception) and the command ran on to the end
    (seen: `stemdl preprocess` under SIGTERM wrote everything and exited 0)."""
    global _compiled
    if _compiled:
        return
    with signals_deferred():
        _products(np.ones((1, 4, 8), np.float32), 2, 2, np.float32(0.5), np.float32(2.0))
    _compiled = True

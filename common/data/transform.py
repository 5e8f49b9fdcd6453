"""The documented transform, and what the networks are fed from each layout.

One definition for preprocessing (`stemdl preprocess`) and for the training input of both
implementations, so training never imports the preprocessing pool.

Transform, per pattern (workload.LOG_FLOOR/LOG_SCALE/CLIP_MAX):
    y = clip((max(log(x), -17) + 17) * 10, 0, 255), then area-resize to size x size.
- x == 0 gives log = -inf and x < 0 gives NaN; both are floored to -17 (np.fmax), i.e.
  zero or negative intensity is treated as "no intensity" (output 0).
- Resize: when H and W are multiples of size it is a block mean (4x4 for 512 -> 128),
  computed as the log of each block's product (see `transform_stack`), within 1e-4 of
  the float64 result on the 0..255 scale. Otherwise it is an area
  resize (each output pixel the area-weighted mean of the input pixels it covers, as
  OpenCV's INTER_AREA does for shrinking), computed as Wy @ img @ Wx.T with small
  overlap matrices: two matrix products, so no extra dependency.

Preprocessed layouts (npz, packed) hold the documented transform's output in [0, 255];
a raw stack gets that transform here (log scale, area-resize to at most 128 px), so a
network trained on raw, npz or packed data sees the same values, on the scale of the
preprocessed data. Any further normalisation is a recipe's choice (ORNL divides by 255;
STFC, as upstream, does not).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from stemdl.common.data.layouts import RAW
from stemdl.common.workload import CLIP_MAX, INPUT_IMAGE_SIZE, LOG_FLOOR, LOG_SCALE


def input_size(layout: str, image_size: int) -> int:
    """Side of the network input for stacks of `image_size` px in `layout`."""
    return min(image_size, INPUT_IMAGE_SIZE) if layout == RAW else image_size


def reader_input_size(reader: Any) -> int:
    """Side of the network input for a reader's stacks (raw stacks are reduced to 128)."""
    return input_size(reader.layout, int(reader.image_shape()[-1]))


def model_input(stacks: np.ndarray, layout: str) -> np.ndarray:
    """float32 input in [0, 255] of one stack (3, H, W) or a batch (N, 3, H, W) of `layout`."""
    stacks = np.asarray(stacks, dtype=np.float32)
    if layout == RAW:
        size = input_size(layout, stacks.shape[-1])
        if stacks.ndim == 4:
            stacks = np.stack([transform_stack(s, size) for s in stacks])
        else:
            stacks = transform_stack(stacks, size)
    return stacks


# --- the transform ------------------------------------------------------------
def log_scale(stack: np.ndarray) -> np.ndarray:
    """clip((max(log(x), -17) + 17) * 10, 0, 255) in float32, elementwise.

    max(log x, -17) + 17 >= 0 always, so clip(10 log x + 170, 0, 255) is the same value;
    negative inputs (log -> NaN) map to 0, like zero intensity.
    """
    out = np.empty(stack.shape, np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        np.log(stack, out=out, dtype=np.float32)
    out *= np.float32(LOG_SCALE)
    out += np.float32(-LOG_FLOOR * LOG_SCALE)
    np.clip(out, np.float32(0.0), np.float32(CLIP_MAX), out=out)
    np.nan_to_num(out, copy=False, nan=0.0)
    return out


def _area_weights(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) matrix: overlap of input pixel j with output pixel i, rows sum to 1."""
    edges = np.arange(n_out + 1, dtype=np.float64) * (n_in / n_out)
    left = np.maximum(edges[:-1, None], np.arange(n_in)[None, :])
    right = np.minimum(edges[1:, None], np.arange(1, n_in + 1)[None, :])
    weights = np.clip(right - left, 0.0, None)
    return weights / weights.sum(axis=1, keepdims=True)


def area_resize(stack: np.ndarray, size: int) -> np.ndarray:
    """(C, H, W) -> (C, size, size) float32 by area averaging (exact block mean if H, W
    are multiples of size)."""
    c, h, w = stack.shape
    if h % size == 0 and w % size == 0:
        # strided adds in float64: ~6x faster than reshape(...).mean(axis=(2, 4)) and the
        # result equals the float64 block mean rounded once to float32
        fy, fx = h // size, w // size
        cols = stack[..., 0::fx].astype(np.float64)
        for k in range(1, fx):
            cols += stack[..., k::fx]
        cols = cols.reshape(c, size, fy, size)
        summed = cols[:, :, 0, :].copy()
        for k in range(1, fy):
            summed += cols[:, :, k, :]
        summed *= 1.0 / (fy * fx)
        return summed.astype(np.float32)
    wy, wx = _area_weights(h, size), _area_weights(w, size)
    return np.stack([wy @ img.astype(np.float64) @ wx.T for img in stack]).astype(np.float32)


# Per-pixel log values are clipped to [LOG_FLOOR, LOG_FLOOR + CLIP_MAX / LOG_SCALE]; clipping
# x to exp() of those bounds before the log gives the same values (log is monotonic).
_LOG_HI = LOG_FLOOR + CLIP_MAX / LOG_SCALE


def _float32_outside(x: float, direction: float) -> np.float32:
    """The float32 nearest to x on the side of `direction` (-1 below, +1 above)."""
    near = np.float32(x)
    if (float(near) - x) * direction < 0:
        near = np.nextafter(near, np.float32(direction * np.inf))
    return near


# just outside the exact bounds, so that a block of clipped values maps to exactly 0 or 255
# (rounded to nearest, e^-17 lies above it and gives 2e-7)
_X_LO, _X_HI = _float32_outside(np.exp(LOG_FLOOR), -1.0), _float32_outside(np.exp(_LOG_HI), 1.0)


def _rows_per_product(fy: int) -> int:
    """Rows of a block in one partial product: up to 4 (each product takes MAX_FACTORS / k
    columns, at least 10), a divisor of the block's height."""
    return next(k for k in (4, 3, 2, 1) if fy % k == 0)


class NonFiniteInput(ValueError):
    """A stack holds NaN or +-Inf where the caller asked for finite input only."""


def _block_transform(stack: np.ndarray, size: int) -> np.ndarray:
    """The documented transform for H, W multiples of size, in float32 (see transform_stack);
    NaN in the output where an input value was NaN or infinite."""
    from stemdl.common.data.kernels import block_products  # numba: 0.3 s to import

    c, h, w = stack.shape
    fy, fx = h // size, w // size
    # (c, size, groups, size): each block's clipped values multiplied in a few partial
    # products (a sum of logs is the log of their product), in one compiled read
    prod = block_products(stack, size, _rows_per_product(fy), _X_LO, _X_HI)
    np.log(prod, out=prod)
    small = prod[:, :, 0] if prod.shape[2] == 1 else prod.sum(axis=2)
    small *= LOG_SCALE / (fy * fx)
    small += -LOG_FLOOR * LOG_SCALE
    np.clip(small, 0.0, CLIP_MAX, out=small)
    return small.astype(np.float32)


def _all_finite(stack: np.ndarray) -> bool:
    """min and max both finite (both propagate NaN): 2 reductions, no bool array."""
    return bool(np.isfinite(stack.max()) and np.isfinite(stack.min()))


def transform_stack(stack: np.ndarray, size: int, *, strict: bool = False) -> np.ndarray:
    """The documented preprocessing of one (3, H, W) stack -> float32 (3, size, size).

    When H and W are multiples of size (512 -> 128): clip x to [e^-17, e^8.5] and multiply
    each block's values in float64 in one compiled pass (`kernels.block_products`), one
    log per product (one per block at 512 -> 128), sum, scale. The result matches the
    float64 reference within 1e-4 on the 0..255 scale (tests/data/test_transform.py).
    ``strict``: NaN or +-Inf input raises NonFiniteInput (on the block path the same pass
    detects it); otherwise NaN counts as zero intensity, as in `log_scale`.
    """
    c, h, w = stack.shape
    if h % size == 0 and w % size == 0:
        small = _block_transform(stack, size)
        if not np.isnan(small).any():
            return small
        if strict:
            raise NonFiniteInput("the stack holds NaN or Inf values")
        return _block_transform(np.nan_to_num(stack, nan=0.0), size)
    if strict and not _all_finite(stack):
        raise NonFiniteInput("the stack holds NaN or Inf values")
    return area_resize(log_scale(stack), size)

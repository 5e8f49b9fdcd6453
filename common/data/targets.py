"""The density task's target maps, made from the raw potential by `stemdl preprocess`
(the target's transform, as `transform.py` is the patterns'; common/tasks/density reads it).

potential (A, M, M) in eV*Angstrom (one map per zone axis, the central half of the
supercell) -> (A, S, S) float32: area-resized to S, blurred by a Gaussian of BLUR_PX
(scipy), for `patterson` replaced by its autocorrelation, then z-scored per map (mean 0,
std at least 1/sqrt(S*S) so that a flat map stays finite).
"""

from __future__ import annotations

import numpy as np

from stemdl.common.cli.errors import StemdlError
from stemdl.common.data.transform import area_resize

TARGET_KINDS = ("potential", "patterson")  # preprocess --target
DEFAULT_TARGET = "potential"  # ORNL's definition; patterson: the shift-invariant variant
BLUR_PX = 1.2  # Gaussian sigma in output pixels (ORNL's target blur)


def check_kind(kind: str) -> str:
    if kind not in TARGET_KINDS:
        raise StemdlError(f"--target: unknown target '{kind}' (choose from {', '.join(TARGET_KINDS)})")
    return kind


def zscore(maps: np.ndarray) -> np.ndarray:
    """Per map (last two axes): mean 0, std 1 (std floored at 1/sqrt(pixels))."""
    maps = np.asarray(maps, np.float64)
    pixels = maps.shape[-1] * maps.shape[-2]
    mean = maps.mean(axis=(-2, -1), keepdims=True)
    std = np.maximum(maps.std(axis=(-2, -1), keepdims=True), 1.0 / np.sqrt(pixels))
    return (maps - mean) / std


def patterson(maps: np.ndarray) -> np.ndarray:
    """Autocorrelation of each map (mean removed), zero shift at the centre: the same
    for every registration of the structure in the window (the Patterson map)."""
    v = np.asarray(maps, np.float64)
    v = v - v.mean(axis=(-2, -1), keepdims=True)
    power = np.abs(np.fft.fft2(v)) ** 2
    auto = np.fft.ifft2(power).real / (v.shape[-1] * v.shape[-2])
    return np.fft.fftshift(auto, axes=(-2, -1))


def target_maps(potential: np.ndarray, size: int, kind: str) -> np.ndarray:
    """The z-scored target maps (A, size, size) float32 of one sample's potential maps."""
    from scipy.ndimage import gaussian_filter

    check_kind(kind)
    maps = np.asarray(potential, np.float32)
    if maps.ndim != 3 or min(maps.shape) < 1:
        raise ValueError(f"potential maps must be (A, M, M), got shape {maps.shape}")
    small = area_resize(maps, size).astype(np.float64)
    small = gaussian_filter(small, sigma=(0, BLUR_PX, BLUR_PX), mode="reflect")
    if kind == "patterson":
        small = patterson(small)
    return zscore(small).astype(np.float32)

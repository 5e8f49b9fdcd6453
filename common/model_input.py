"""What the networks are fed from each layout: one definition for both implementations.

Preprocessed layouts (npz, packed) hold the documented transform's output in [0, 255];
a raw stack gets that transform here (log scale, area-resize to at most 128 px), so a
network trained on raw, npz or packed data sees the same values, on the scale of the
preprocessed data. Any further normalisation is a recipe's choice (ORNL divides by 255;
STFC, as upstream, does not).
"""

from __future__ import annotations

import numpy as np

from stemdl.common.layouts import RAW
from stemdl.common.preprocess import transform_stack
from stemdl.common.workload import INPUT_IMAGE_SIZE


def input_size(layout: str, image_size: int) -> int:
    """Side of the network input for stacks of `image_size` px in `layout`."""
    return min(image_size, INPUT_IMAGE_SIZE) if layout == RAW else image_size


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

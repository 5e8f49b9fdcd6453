"""staging=device for Lightning: a staged share's arrays in accelerator memory, normalized
once there, so a training step's input is one gather on the device (no loader process, no
host copy). The staging itself (what, when, how much) is common/data/staging.py's."""

from __future__ import annotations

import numpy as np
import torch

from stemdl.common.data.normalize import InputNorm
from stemdl.common.data.staging import STAGED_LAYOUT, ArrayReader

CHUNK = 1024  # samples normalized and copied per transfer (bounded host memory)


class DeviceArrays:
    """An ArrayReader moved to `device`: `batch(indices)` gives (input, label or target maps)
    tensors there; labels() and materials() stay on the host for the metrics and checks."""

    layout = STAGED_LAYOUT

    def __init__(self, share: ArrayReader, device: torch.device | str, norm: InputNorm | None) -> None:
        self.split, self.n = share.split, share.n
        self._labels, self._materials, self._kind = share.labels(), share.materials(), share.target_kind()
        self._shape = share.image_shape()
        self.stacks = _to_device(share.stacks, device, norm)
        self.targets = None if share.targets is None else _to_device(share.targets, device, None)
        self.label_tensor = torch.as_tensor(share.labels(), dtype=torch.int64, device=device)
        self.slots = torch.as_tensor(share._where, dtype=torch.int64, device=device)

    def __len__(self) -> int:
        return self.n

    def batch(self, indices: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.as_tensor(np.asarray(indices, np.int64), device=self.slots.device)
        rows = self.slots[idx]
        if self.targets is not None:
            return self.stacks[rows], self.targets[rows]
        return self.stacks[rows], self.label_tensor[idx]

    def labels(self) -> np.ndarray:
        return self._labels.copy()

    def materials(self) -> list[str]:
        return list(self._materials)

    def image_shape(self) -> tuple[int, int, int]:
        return self._shape

    def target_kind(self) -> str | None:
        return self._kind


def _to_device(arrays: np.ndarray, device: torch.device | str, norm: InputNorm | None) -> torch.Tensor:
    out = torch.empty(arrays.shape, dtype=torch.float32, device=device)
    for lo in range(0, len(arrays), CHUNK):
        chunk = arrays[lo:lo + CHUNK]
        chunk = norm.apply(chunk) if norm is not None else np.ascontiguousarray(chunk, np.float32)
        out[lo:lo + len(chunk)] = torch.from_numpy(chunk).to(device, non_blocking=False)
    return out


def device_free_bytes(device: torch.device) -> int:
    """Free accelerator memory (bytes) of `device`."""
    free, _total = torch.cuda.mem_get_info(device)
    return int(free)


def to_device(staged: dict[str, ArrayReader], device: torch.device, norm: InputNorm | None
              ) -> dict[str, DeviceArrays]:
    """The staged shares moved to `device`; a one-line error before any copy when they
    would not fit its free memory."""
    from stemdl.common.cli.errors import StemdlError
    from stemdl.common.data.staging import HEADROOM

    need = sum(r.nbytes() for r in staged.values())
    free = device_free_bytes(device) if device.type == "cuda" else None
    if free is not None and need > HEADROOM * free:
        raise StemdlError(f"config key 'staging': device needs {need / 2**30:.2f} GiB on "
                          f"{device}, {free / 2**30:.2f} GiB is free; use staging=memory or "
                          "fewer samples (train_samples)")
    return {split: DeviceArrays(r, device, norm) for split, r in staged.items()}

"""Diagnostic: what input normalization does to held-out F1 (plain PyTorch, no Lightning).

    python tools/diag_input_norm.py DATA --epochs 20 --variants none,standardize,none+bnfix

Trains the repository's ResNet-18 (stemdl.stfc.resnet) with Adam on DATA's train split and
prints the val macro F1 after every epoch for each variant:
  none         0..255 input, as upstream feeds it
  unit         x / 255
  standardize  per-channel (x - mean) / std of the training split (common/data/normalize.py)
  none+bnfix   0..255 input, but the BatchNorm running statistics are recomputed on the
               training split (cumulative average, train mode, no gradient) before each
               evaluation: isolates how much of the gap is the running statistics.
Then the last-third mean and the largest change between consecutive epochs there.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
from torch import nn

from stemdl.common.data.normalize import compute_norm
from stemdl.common.data.splits import open_split
from stemdl.common.data.transform import model_input
from stemdl.common.tasks.classify.metric import ConfusionMatrix
from stemdl.stfc.resnet import build_resnet


def load(reader) -> tuple[np.ndarray, np.ndarray]:
    x = np.stack([model_input(reader[i].stack, reader.layout) for i in range(len(reader))])
    return x.astype(np.float32), np.asarray(reader.labels(), np.int64)


def bn_recalibrate(model: nn.Module, x: torch.Tensor, batch: int) -> None:
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None  # cumulative average
    model.train()
    with torch.no_grad():
        for i in range(0, len(x), batch):
            model(x[i:i + batch])


def f1_of(model: nn.Module, x: torch.Tensor, y: np.ndarray) -> float:
    model.eval()
    cm = ConfusionMatrix()
    with torch.no_grad():
        for i in range(0, len(x), 128):
            cm.update(y[i:i + 128], model(x[i:i + 128]).argmax(1).numpy())
    return cm.macro_f1()


def run(variant: str, data: str, epochs: int, seed: int, batch: int, lr: float) -> list[float]:
    train_r, val_r = open_split(data, "train"), open_split(data, "val")
    xt, yt = load(train_r)
    xv, yv = load(val_r)
    mode = variant.split("+")[0]
    norm = compute_norm(mode, train_r, seed=seed)
    xt_t, xv_t = torch.from_numpy(norm.apply(xt)), torch.from_numpy(norm.apply(xv))
    torch.manual_seed(seed)
    model = build_resnet(18, xt.shape[1])
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    rng = np.random.default_rng(seed)
    curve = []
    for epoch in range(epochs):
        model.train()
        order = rng.permutation(len(xt_t))
        for i in range(0, len(order) - batch + 1, batch):
            idx = order[i:i + batch]
            opt.zero_grad()
            loss = loss_fn(model(xt_t[idx]), torch.from_numpy(yt[idx]))
            loss.backward()
            opt.step()
        eval_model = model
        if variant.endswith("+bnfix"):
            import copy
            eval_model = copy.deepcopy(model)
            bn_recalibrate(eval_model, xt_t, batch)
        curve.append(f1_of(eval_model, xv_t, yv))
        print(f"{variant} epoch {epoch + 1}: val macro F1 {curve[-1]:.3f}", flush=True)
    return curve


def summary(curve: list[float]) -> dict[str, float]:
    third = curve[-max(2, len(curve) // 3):]
    return {"last_third_mean": float(np.mean(third)),
            "last_third_max_step": float(np.max(np.abs(np.diff(third)))),
            "final": curve[-1]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("data")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--variants", default="none,standardize,none+bnfix")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--json")
    args = p.parse_args()
    out = {}
    for variant in args.variants.split(","):
        t0 = time.perf_counter()
        curve = run(variant, args.data, args.epochs, args.seed, args.batch, args.lr)
        out[variant] = {"curve": [round(v, 4) for v in curve], **summary(curve),
                        "seconds": round(time.perf_counter() - t0, 1)}
        print(variant, json.dumps({k: v for k, v in out[variant].items() if k != "curve"}))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(out, fh, indent=1)


if __name__ == "__main__":
    main()

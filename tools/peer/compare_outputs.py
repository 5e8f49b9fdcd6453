#!/usr/bin/env python3
"""Compare the 128 px outputs of the upstream ORNL preprocessor with ours (npz and packed).

Upstream names its outputs sample-{i + offset}.npz, i = position in its index: files of a
split folder in sorted(Path.glob('*.h5')) order, groups in h5py iteration order, splits in
the order train, test, dev with running offsets. Ours names them
sample-{rank}-{material}_{energy}.npz (npz) or writes rows in natural name order per file
(packed part-{file stem}-0000.h5). This script rebuilds both mappings from the raw files,
and for every sample (or --limit per split) compares:
  - upstream vs ours-npz, upstream vs ours-packed, ours-npz vs ours-packed: max |diff|
  - each against an independent float64 reference of the documented transform
    (block mean 4x4 of clip((max(log x, -17) + 17) * 10, 0, 255))
  - labels (upstream label vs ours label vs the raw space_group attribute)

usage: compare_outputs.py RAW_SPLIT_DIR UP_OUT OURS_NPZ_OUT OURS_PACKED_OUT [--limit K]
"""
from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import h5py
import numpy as np


def natural_key(text):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", text)]


def reference(stack: np.ndarray, size: int = 128) -> np.ndarray:
    x = stack.astype(np.float64)
    with np.errstate(divide="ignore"):
        y = np.clip((np.maximum(np.log(x), -17.0) + 17.0) * 10.0, 0.0, 255.0)
    c, h, w = y.shape
    return y.reshape(c, size, h // size, size, w // size).mean(axis=(2, 4))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("raw_split")
    ap.add_argument("up")
    ap.add_argument("ours_npz")
    ap.add_argument("ours_packed")
    ap.add_argument("--limit", type=int, default=0, help="samples per split (0 = all)")
    a = ap.parse_args()
    raw, up, onpz, opk = map(Path, (a.raw_split, a.up, a.ours_npz, a.ours_packed))
    stats = {k: 0.0 for k in ("up_vs_npz", "up_vs_packed", "npz_vs_packed", "up_vs_ref",
                              "npz_vs_ref", "packed_vs_ref")}
    n = 0
    label_mismatch = []
    missing = []
    dtypes = set()
    offset = 0
    for split in ("train", "test", "dev"):
        files = sorted((raw / split).glob("*.h5"))
        index = 0
        for fpath in files:
            rank = re.match(r"batch_[a-z]+_(\d+)\.h5", fpath.name).group(1)
            with h5py.File(fpath, "r") as f:
                up_order = list(f.keys())  # upstream: h5py iteration order
                nat = sorted(f.keys(), key=natural_key)  # ours: natural order
                pk_path = opk / split / f"part-{fpath.stem}-0000.h5"
                pk = h5py.File(pk_path, "r") if pk_path.exists() else None
                for gname in up_order:
                    i = index
                    index += 1
                    if a.limit and i >= a.limit:
                        continue
                    m, e = re.match(r"sample_([^_]+)_([^_]+)$", gname).groups()
                    raw_label = int(f[gname].attrs["space_group"])
                    stack = f[gname]["cbed_stack"][()]
                    up_file = up / split / f"sample-{i + offset}.npz"
                    ours_file = onpz / split / f"sample-{rank}-{m}_{e}.npz"
                    if not up_file.exists() or not ours_file.exists() or pk is None:
                        missing.append(str(up_file if not up_file.exists() else ours_file))
                        continue
                    u = np.load(up_file)
                    o = np.load(ours_file)
                    row = nat.index(gname)
                    p_img = pk["images"][row]
                    p_lab = int(pk["labels"][row])
                    ref = reference(stack)
                    ud, od = u["data"], o["data"]
                    dtypes.add((str(ud.dtype), str(od.dtype), str(p_img.dtype), ud.shape, od.shape))
                    stats["up_vs_npz"] = max(stats["up_vs_npz"], float(np.abs(ud.astype(np.float64) - od).max()))
                    stats["up_vs_packed"] = max(stats["up_vs_packed"], float(np.abs(ud.astype(np.float64) - p_img).max()))
                    stats["npz_vs_packed"] = max(stats["npz_vs_packed"], float(np.abs(od.astype(np.float64) - p_img).max()))
                    stats["up_vs_ref"] = max(stats["up_vs_ref"], float(np.abs(ud - ref).max()))
                    stats["npz_vs_ref"] = max(stats["npz_vs_ref"], float(np.abs(od - ref).max()))
                    stats["packed_vs_ref"] = max(stats["packed_vs_ref"], float(np.abs(p_img - ref).max()))
                    labels = (int(u["label"][0]), int(o["label"][0]), p_lab, raw_label)
                    if len(set(labels)) != 1:
                        label_mismatch.append((split, gname, labels))
                    n += 1
                if pk is not None:
                    pk.close()
        offset += index
    print(json.dumps({"compared": n, "max_abs_diff": stats, "label_mismatches": len(label_mismatch),
                      "label_mismatch_examples": label_mismatch[:5], "missing": len(missing),
                      "missing_examples": missing[:5],
                      "dtypes_shapes": [list(map(str, d)) for d in dtypes]}, indent=1))


if __name__ == "__main__":
    main()

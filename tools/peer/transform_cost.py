#!/usr/bin/env python3
"""Per-sample cost of the 512 -> 128 px transform alone, one process, data in memory.

--impl ours      stemdl.common.preprocess.transform_stack (run with $PROJECT/.venv/bin/python)
--impl upstream  upstream HDF5Dataset.xform, imported at run time from the extracted mirror
                 $PEER_DIR/upstream/.../ornl/preprocess/hdf5_helper.py (run with $REF_VENV)
--impl read      h5py read of one cbed_stack from the (page-cached) raw file, for scale
Prints ms per sample (median and min over K samples, after 3 warm-up calls).

usage: transform_cost.py RAW_H5_FILE --impl ours|upstream|read [--k 60]
"""
import argparse
import os
import statistics as st
import sys
import time

import h5py
import numpy as np

ap = argparse.ArgumentParser()
ap.add_argument("h5")
ap.add_argument("--impl", required=True, choices=["ours", "upstream", "read"])
ap.add_argument("--k", type=int, default=60)
a = ap.parse_args()

with h5py.File(a.h5, "r") as f:
    names = list(f)[: a.k]
    stacks = [f[n]["cbed_stack"][()] for n in names]

if a.impl == "ours":
    from stemdl.common.preprocess import transform_stack
    work = np.empty(stacks[0].shape, np.float32)
    def fn(s):
        return transform_stack(s, 128, work)
elif a.impl == "upstream":
    sys.path.insert(0, os.path.expandvars("$PEER_DIR/upstream/benchmarks/stemdl/ornl/preprocess"))
    import warnings
    warnings.simplefilter("ignore")
    from hdf5_helper import HDF5Dataset
    ds = object.__new__(HDF5Dataset)  # only the transform methods are used
    fn = ds.xform
else:
    f = h5py.File(a.h5, "r")
    buf = np.empty(stacks[0].shape, np.float32)
    fn = None

times = []
for i, s in enumerate(stacks):
    t0 = time.perf_counter()
    if fn is None:
        f[names[i]]["cbed_stack"].read_direct(buf)
    else:
        fn(s)
    times.append(time.perf_counter() - t0)
times = times[3:]
print(f"{a.impl}: {1e3 * st.median(times):.2f} ms/sample median, {1e3 * min(times):.2f} min, "
      f"n={len(times)}")

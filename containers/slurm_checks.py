"""Checks `containers/slurm-smoke.sh` makes on what its SLURM jobs wrote.

    python slurm_checks.py samples RAW_A RAW_B   # the same samples (any rank split of the files)
    python slurm_checks.py files DIR_A DIR_B     # the same files, byte for byte (sha256)
    python slurm_checks.py mllog LOG             # ranks, epochs and validation F1 of an MLPerf log

`samples` and `files` print one line and exit 1 on a difference; `mllog` prints one JSON
object. Run with the project's venv (numpy, h5py, mlperf-logging's log format).
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections import Counter
from pathlib import Path

import h5py
import numpy as np


def _digest_attr(value) -> str:
    if isinstance(value, np.ndarray):
        return f"{value.dtype}{value.shape}{value.tobytes().hex()}"
    if isinstance(value, bytes | np.bytes_):
        return bytes(value).hex()
    return repr(value)


def sample_digests(raw: Path) -> Counter[str]:
    """One digest per sample: split, group name, attributes and the stack's bytes."""
    digests: Counter[str] = Counter()
    for path in sorted(raw.glob("batch_*.h5")):
        split = path.stem.split("_")[1]
        with h5py.File(path, "r") as handle:
            for name in handle:
                group = handle[name]
                h = hashlib.sha256(f"{split}/{name}".encode())
                for key in sorted(group.attrs):
                    h.update(f"{key}={_digest_attr(group.attrs[key])}".encode())
                data = np.ascontiguousarray(group["cbed_stack"][()])
                h.update(f"{data.dtype}{data.shape}".encode() + data.tobytes())
                digests[h.hexdigest()] += 1
    return digests


def file_digests(folder: Path) -> dict[str, str]:
    """sha256 of every file under folder, by relative path."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*")) if p.is_file()
    }


def compare_samples(a: Path, b: Path) -> int:
    da, db = sample_digests(a), sample_digests(b)
    if not da:
        print(f"no samples in {a}")
        return 1
    if da == db:
        print(f"same {sum(da.values())} samples ({len(list(a.glob('batch_*.h5')))} vs "
              f"{len(list(b.glob('batch_*.h5')))} files)")
        return 0
    print(f"samples differ: {sum((da - db).values())} only in {a}, {sum((db - da).values())} only in {b}")
    return 1


def compare_files(a: Path, b: Path) -> int:
    da, db = file_digests(a), file_digests(b)
    if not da:
        print(f"no files in {a}")
        return 1
    if da == db:
        print(f"same {len(da)} files (sha256)")
        return 0
    missing, extra = sorted(set(da) - set(db)), sorted(set(db) - set(da))
    changed = sorted(k for k in set(da) & set(db) if da[k] != db[k])
    print(f"files differ: {len(missing)} missing, {len(extra)} extra, {len(changed)} changed "
          f"(e.g. {(missing + extra + changed)[:3]})")
    return 1


def mllog_summary(path: Path) -> dict:
    """What the smoke test checks in an MLPerf log."""
    events = []
    for line in path.read_text().splitlines():
        if line.startswith(":::MLLOG "):
            events.append(json.loads(line[len(":::MLLOG "):]))
    first = {}
    for e in events:
        first.setdefault(e["key"], e["value"])
    evals = [(e.get("metadata", {}).get("epoch_num"), e["value"])
             for e in events if e["key"] == "eval_macro_f1"]
    epochs = [e.get("metadata", {}).get("epoch_num") for e in events if e["key"] == "epoch_start"]
    stops = [e.get("metadata", {}).get("status") for e in events if e["key"] == "run_stop"]
    nodes, per_node = first.get("number_of_nodes"), first.get("accelerators_per_node")
    ranks = first.get("stemdl_world_size")  # a CPU run logs 0 accelerators: ranks are logged apart
    if not isinstance(ranks, int) and isinstance(nodes, int) and isinstance(per_node, int):
        ranks = nodes * per_node
    return {
        "ranks": ranks,
        "number_of_nodes": nodes,
        "accelerators_per_node": per_node,
        "global_batch_size": first.get("global_batch_size"),
        "eval_samples": first.get("eval_samples"),
        "run_starts": sum(e["key"] == "run_start" for e in events),
        "run_stops": stops,
        "epochs": epochs,
        "duplicated_epochs": sorted(k for k, n in Counter(epochs).items() if n > 1),
        "last_eval_macro_f1": evals[-1][1] if evals else None,
        "eval_epochs": [epoch for epoch, _ in evals],
    }


def main(argv: list[str]) -> int:
    if len(argv) == 3 and argv[0] == "samples":
        return compare_samples(Path(argv[1]), Path(argv[2]))
    if len(argv) == 3 and argv[0] == "files":
        return compare_files(Path(argv[1]), Path(argv[2]))
    if len(argv) == 2 and argv[0] == "mllog":
        print(json.dumps(mllog_summary(Path(argv[1]))))
        return 0
    print(__doc__.strip().splitlines()[2:5], file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

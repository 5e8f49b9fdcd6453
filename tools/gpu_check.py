"""The GPU check's runs and report (tools/gpu_check.sh installs, then runs this).

Each case is one `stemdl train stfc` process (its own CUDA context, as a user's run), on
data it makes itself: synthetic stacks (`data_source=synthetic`), or a packed folder of
random stacks written here, staged on the device. Steady samples/s is the mean of the
epochs after the first (the first holds cuDNN's autotuning and torch.compile's compilation);
the first-step time, the staging time and the peak GPU memory come from results.json; the
MLPerf log is run through `stemdl compliance` (a synthetic run must be refused as a result).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path

GPU_CASES = [  # (name, train settings)
    ("synthetic b256", ["data_source=synthetic", "staging=device", "batch_size=256"]),
    ("packed device b256", ["staging=device", "batch_size=256"]),
    ("packed device b32", ["staging=device", "batch_size=32"]),
    ("packed device b256 compile", ["staging=device", "batch_size=256", "compile=true"]),
    ("packed in place b256 8 workers", ["staging=none", "batch_size=256", "num_workers=8"]),
]
# the CPU dry run: three of the cases, tiny (ResNet-18, 32 px, 32 samples), staged in memory
DRY_CASES = [
    ("synthetic memory b8", ["data_source=synthetic", "staging=memory", "batch_size=8"]),
    ("packed memory b4", ["staging=memory", "batch_size=4"]),
    ("packed in place b8 1 worker", ["staging=none", "batch_size=8", "num_workers=1"]),
]


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="tools/gpu_check.sh", description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path("gpu-check-out"), help="folder for data and runs")
    p.add_argument("--steps", type=int, default=40, help="training steps per epoch (batch 256)")
    p.add_argument("--epochs", type=int, default=3, help="epochs per case (the first is warm-up)")
    p.add_argument("--dry-run", action="store_true", help="on the CPU, tiny: checks the plumbing")
    args = p.parse_args(argv)
    if not 1 <= args.steps <= 10_000 or not 2 <= args.epochs <= 20:
        p.error("--steps must be 1..10000 and --epochs 2..20")
    return args


def make_packed(folder: Path, train: int, val: int, size: int) -> Path:
    """A packed folder of seeded random stacks (what `stemdl preprocess` writes), once."""
    from stemdl.common.data.layouts import PACKED_MANIFEST
    from stemdl.common.data.packed import manifest, write_part
    from stemdl.common.data.staging import synthetic_readers

    if (folder / PACKED_MANIFEST).exists():
        return folder
    readers = synthetic_readers(train, val, seed=3, size=size)
    for split, reader in readers.items():
        write_part(folder / split / "part-0.h5", reader.stacks, reader.labels(), reader.materials())
    (folder / PACKED_MANIFEST).write_text(json.dumps(manifest(size)))
    return folder


def run_case(name: str, settings: list[str], common: list[str], data: Path, run_dir: Path,
             timeout: float) -> dict:
    """One `stemdl train stfc` of a case; its figures from results.json and compliance."""
    argv = [sys.executable, "-m", "stemdl", "train", "stfc", f"run_dir={run_dir}", *common, *settings]
    if "data_source=synthetic" not in settings:
        argv.append(f"data_dir={data}")
    start = time.monotonic()
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    row: dict = {"case": name, "exit": proc.returncode, "wall_s": time.monotonic() - start}
    results = run_dir / "results.json"
    if proc.returncode != 0 or not results.exists():
        row["error"] = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        return row
    r = json.loads(results.read_text())
    rates = [e["train_samples_per_s"] for e in r["epochs"][1:] if e.get("train_samples_per_s")]
    row.update(steady=sum(rates) / len(rates) if rates else None,
               first_step_s=r["startup"].get("first_step_s"), staging_s=r["startup"].get("staging_s"),
               peak_gib=(r["hardware"].get("accelerator_peak_memory_bytes") or 0) / 2**30,
               device=r.get("device"))
    check = subprocess.run([sys.executable, "-m", "stemdl", "compliance", str(run_dir / "mlperf.log")],
                           capture_output=True, text=True)
    synthetic = "data_source=synthetic" in settings
    row["compliance"] = ("refused (synthetic), as it must be" if synthetic and check.returncode == 1
                         else "PASS" if check.returncode == 0 else f"FAIL (exit {check.returncode})")
    return row


def main(argv: list[str]) -> int:
    args = parse(argv)
    missing = [m for m in ("torch", "pytorch_lightning", "torchmetrics", "h5py", "numba", "yaml")
               if importlib.util.find_spec(m) is None]
    if missing:
        print(f"gpu_check: this Python ({sys.executable}) lacks {', '.join(missing)}: use one "
              "with PyTorch and Lightning (PYTHON=...)", file=sys.stderr)
        return 2
    import torch

    if not args.dry_run and not torch.cuda.is_available():
        print("gpu_check: torch sees no CUDA device (torch.cuda.is_available() is False)", file=sys.stderr)
        return 2
    batch = 8 if args.dry_run else 256
    train = batch * (2 if args.dry_run else args.steps)
    val = 16 if args.dry_run else 1024
    args.out.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    data = make_packed(args.out / "packed", train, val, 32 if args.dry_run else 128)
    print(f"gpu_check: packed data ({train} + {val} stacks) ready in {time.monotonic() - t0:.1f} s",
          flush=True)
    common = ["division=open", "progress=false", "tensorboard=false", f"epochs={args.epochs}",
              f"train_samples={train}", f"eval_samples={val}", "precision=bf16-mixed",
              "channels_last=true", "num_workers=0", "max_inference_batches=2"]
    if args.dry_run:
        common += ["resnet=18", "accelerator=cpu"]
    else:
        common += ["resnet=50", "accelerator=gpu", "devices=1"]
    cases = DRY_CASES if args.dry_run else GPU_CASES
    rows = []
    for i, (name, settings) in enumerate(cases):
        row = run_case(name, settings, common, data, args.out / f"run-{i}", timeout=900)
        rows.append(row)
        print(f"gpu_check: {_line(row)}", flush=True)
    print(report(rows, "CPU dry run (tiny: ResNet-18, 32 px)" if args.dry_run else rows[0].get("device")))
    (args.out / "gpu-check.json").write_text(json.dumps(rows, indent=2) + "\n")
    return 0 if all(r["exit"] == 0 for r in rows) else 1


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _line(row: dict) -> str:
    if "error" in row:
        return f"{row['case']}: exit {row['exit']}: {row['error']}"
    return (f"{row['case']}: {_fmt(row['steady'], ',.0f')} samples/s steady, first step "
            f"{_fmt(row['first_step_s'], '.1f')} s, peak {row['peak_gib']:.1f} GiB, "
            f"compliance {row['compliance']}")


def report(rows: list[dict], device: str | None) -> str:
    """The table, and the two ratios the issue's targets are about."""
    lines = [f"GPU check on {device}", "| case | steady samples/s | first step s | staging s | "
             "peak GiB | compliance |", "|---|---|---|---|---|---|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['case']} | failed: {r['error']} | | | | |")
            continue
        lines.append(f"| {r['case']} | {_fmt(r['steady'], ',.0f')} | {_fmt(r['first_step_s'], '.1f')} "
                     f"| {_fmt(r['staging_s'], '.1f')} | {r['peak_gib']:.1f} | {r['compliance']} |")
    by = {r["case"]: r.get("steady") for r in rows}
    base = next((k for k in by if k.startswith("synthetic")), None)
    for name, value in by.items():
        if base and by[base] and value and name != base:
            lines.append(f"{name} / {base}: {value / by[base]:.2f}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Print the newest pytest-benchmark results as one table: `python -m tests.benchmarks.report`.

Reads the newest ``.benchmarks/**/*.json`` (or the file given as argument) and prints,
per benchmark: mean time, samples/s and MB/s (from ``extra_info["samples"]`` and
``extra_info["bytes"]``, both per call) and the speed ratio against a baseline measured
in the same run, with its target. A benchmark names its baselines in ``extra_info`` as
``"baseline": "<test name>"`` with ``"target": ">= 5x"``, and/or as
``"baselines": {"<test name>": "<target>"}`` (one row each). The ratio is this
benchmark's speed over the baseline's (samples/s if both give samples, else time).
Targets of the form ">= Nx" / "<= Nx" are checked and marked ok/MISS.

A benchmark that interleaves its baselines within each round (so load from other jobs
hits both alike) gives ``"interleaved": {"<what>": {"ratios": [...], "target": ">= 2x"}}``;
those are printed per round with their median, checked against the target, after the
table, with the load average each benchmark saw (``extra_info["loadavg"]``).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path


def newest_json(root: Path = Path(".benchmarks")) -> Path | None:
    files = sorted(root.rglob("*.json"), key=lambda p: p.stat().st_mtime)
    return files[-1] if files else None


def _short(name: str) -> str:
    return name.split("::")[-1]


def _speed(bench: dict) -> float | None:
    mean = bench.get("stats", {}).get("mean")
    samples = (bench.get("extra_info") or {}).get("samples")
    if not mean or not isinstance(samples, int | float):
        return None
    return samples / mean


def _ratio(bench: dict, base: dict) -> float | None:
    mine, theirs = _speed(bench), _speed(base)
    if mine and theirs:
        return mine / theirs
    a, b = bench.get("stats", {}).get("mean"), base.get("stats", {}).get("mean")
    return b / a if a and b else None


def _check(ratio: float | None, target: str) -> str:
    match = re.fullmatch(r"\s*(>=|<=|>|<)\s*([0-9.]+)\s*x?\s*", target or "")
    if ratio is None or not match:
        return ""
    op, value = match[1], float(match[2])
    ok = {">=": ratio >= value, "<=": ratio <= value, ">": ratio > value, "<": ratio < value}[op]
    return "ok" if ok else "MISS"


def _fmt_time(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def rows(data: dict) -> list[list[str]]:
    benches = data.get("benchmarks", [])
    by_name: dict[str, dict] = {}
    for b in benches:
        by_name.setdefault(b.get("name", ""), b)
        by_name.setdefault(_short(b.get("fullname", "")), b)
        by_name.setdefault(b.get("name", "").split("[")[0], b)
    table = []
    for b in benches:
        extra = b.get("extra_info") or {}
        mean = b.get("stats", {}).get("mean")
        speed = _speed(b)
        nbytes = extra.get("bytes")
        mbps = f"{nbytes / mean / 1e6:.1f}" if mean and isinstance(nbytes, int | float) else "-"
        baselines = dict(extra.get("baselines") or {})
        if extra.get("baseline"):
            baselines.setdefault(extra["baseline"], extra.get("target", ""))
        base_cols = [["-", "-", "-", ""]]
        if baselines:
            base_cols = []
            for base_name, target in baselines.items():
                base = by_name.get(base_name)
                ratio = _ratio(b, base) if base else None
                base_cols.append([base_name, f"{ratio:.2f}x" if ratio else "missing",
                                  target or "-", _check(ratio, target)])
        for i, cols in enumerate(base_cols):
            head = [b.get("name", "?"), _fmt_time(mean), f"{speed:.1f}" if speed else "-",
                    mbps] if i == 0 else ["", "", "", ""]
            table.append(head + cols)
    return table


def render(table: list[list[str]]) -> str:
    header = ["benchmark", "mean", "samples/s", "MB/s", "vs baseline", "ratio", "target", ""]
    widths = [max(len(r[i]) for r in [header, *table]) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(header, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths).rstrip())
    for r in table:
        lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    return "\n".join(lines)


def interleaved_lines(data: dict) -> list[str]:
    """Per-round ratios (ours / baseline speed) of benchmarks that interleave baselines."""
    lines = []
    for b in data.get("benchmarks", []):
        extra = b.get("extra_info") or {}
        for what, entry in (extra.get("interleaved") or {}).items():
            ratios = [r for r in entry.get("ratios", []) if isinstance(r, int | float)]
            if not ratios:
                continue
            median = sorted(ratios)[len(ratios) // 2] if len(ratios) % 2 else (
                sum(sorted(ratios)[len(ratios) // 2 - 1 : len(ratios) // 2 + 1]) / 2)
            target = entry.get("target", "")
            lines.append(f"  {b.get('name', '?')}  {what}: "
                         f"{' '.join(f'{r:.2f}' for r in ratios)}  median {median:.2f}x  "
                         f"target {target or '-'} {_check(median, target)}".rstrip())
        startup = extra.get("startup")
        if isinstance(startup, dict) and startup:
            lines.append(f"    one-off seconds in {b.get('name', '?')}: " + ", ".join(
                f"{k} {v:.1f}" for k, v in startup.items() if isinstance(v, int | float)))
        load = extra.get("loadavg")
        if load and extra.get("interleaved"):
            lines.append(f"    load average during {b.get('name', '?')}: "
                         f"{', '.join(f'{x:.1f}' for x in load)}")
    return lines


def loader_lines(data: dict) -> list[str]:
    """The loader-rate table (test_bench_loader): samples/s per loader core of each input
    path, and the loader cores one GPU at `gpu_rate` samples/s would need."""
    lines: list[str] = []
    for b in data.get("benchmarks", []):
        extra = b.get("extra_info") or {}
        table, gpu = extra.get("loader"), extra.get("gpu_rate")
        if not table:
            continue
        lines.append(f"| pipeline | data | loader cores | samples/s (rounds) | per core | "
                     f"cores for one GPU at {gpu:,} samples/s |")
        lines.append("|---|---|---|---|---|---|")
        for r in table:
            rounds = " ".join(f"{x:,.0f}" for x in r["rates"])
            lines.append(f"| {r['pipeline']} | {r['data']} | {r['cores']} | {r['samples_per_s']:,.0f} "
                         f"({rounds}) | {r['per_core']:,.0f} | {r['cores_for_gpu']:.1f} |")
        lines.append("staging: device gathers each batch on the GPU itself: no loader core at "
                     "any rate (its row here is that gather on the CPU)")
    return lines


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    path = Path(argv[0]) if argv else newest_json()
    if path is None or not path.is_file():
        print("no benchmark results: run `make bench` (pytest --benchmark-autosave) first",
              file=sys.stderr)
        return 2
    data = json.loads(path.read_text())
    machine = data.get("machine_info", {})
    print(f"results: {path}  ({data.get('datetime', '?')}, {machine.get('node', '?')}, "
          f"{machine.get('cpu', {}).get('brand_raw', '?')})")
    print(render(rows(data)))
    extra = interleaved_lines(data)
    if extra:
        print("\ninterleaved rounds (ratio of speeds, ours / baseline, per round):")
        print("\n".join(extra))
    loader = loader_lines(data)
    if loader:
        print("\nloader rates (samples/s delivered; per loader process or thread):")
        print("\n".join(loader))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

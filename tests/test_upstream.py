"""Upstream command lines and configs, run VERBATIM on tiny data (issue 11).

- ORNL: `run.sh` of mlcommons/science benchmarks/stemdl/ornl runs
  `sgcl_runner.py --train-dir $DATA_DIR/train --val-dir $DATA_DIR/test`, where those
  folders hold sample-*.npz files; here the same arguments go to `stemdl train ornl`.
- STFC: the upstream stemdlConfig.yaml (configs/stfc/stemdlConfig.yaml) with the CPU
  values `gpu: 0`, `accelerators_per_node: 0`; its ~/sciml_bench/... paths resolve under
  a HOME that holds tiny data.
Each runs to a complete MLPerf log that passes `stemdl compliance`.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
CLASSES = (12, 63, 141, 225)
SIZE = 32  # small images so the default recipes (ResNet-50) run in about a minute
RUN_SH = "stemdl train ornl --train-dir $DATA_DIR/train --val-dir $DATA_DIR/test"


def write_npz_split(folder: Path, count: int, seed: int) -> None:
    """`count` separable samples (a bright quadrant per class), 2 per material."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    h = SIZE // 2
    for i in range(count):
        k = i % len(CLASSES)
        stack = rng.random((3, SIZE, SIZE), dtype=np.float32) * 20.0
        r, c = divmod(k, 2)
        stack[:, r * h + 2:(r + 1) * h - 2, c * h + 2:(c + 1) * h - 2] += 200.0
        np.savez(folder / f"sample-{i}.npz", data=stack, label=np.array([CLASSES[k]]),
                 material=np.array([f"{folder.name}-m{i // 2}"]))


def _env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TF_CPP_MIN_LOG_LEVEL": "2",
           "PYTHONUNBUFFERED": "1", **extra}
    for key in ("STEMDL_RUN_DIR", "SLURM_JOB_ID", "LSB_JOBID"):
        env.pop(key, None)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def _compliance(log: Path, env: dict[str, str]) -> None:
    proc = subprocess.run([sys.executable, "-m", "stemdl", "compliance", str(log)],
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "PASS" in proc.stdout


def _only_run(cwd: Path, impl: str) -> Path:
    runs = sorted((cwd / "runs").glob(f"{impl}-*"))
    assert len(runs) == 1, runs
    return runs[0]


@pytest.mark.slow
def test_ornl_run_sh_command_line_verbatim(tmp_path: Path) -> None:
    pytest.importorskip("tensorflow", reason="the ornl extra: pip install 'stemdl-bench[ornl-cpu]'")
    data = tmp_path / "data"
    write_npz_split(data / "train", 32, seed=0)  # one global batch of 32: one step per epoch
    write_npz_split(data / "test", 16, seed=1)
    cwd = tmp_path / "job"
    cwd.mkdir()
    env = _env(DATA_DIR=str(data))
    proc = subprocess.run(["bash", "-c", RUN_SH], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    run_dir = _only_run(cwd, "ornl")
    assert f"ornl: run folder {Path('runs') / run_dir.name}" in proc.stdout  # printed at start
    result = json.loads((run_dir / "results.json").read_text())
    assert result["config"]["resnet"] == 50 and result["config"]["epochs"] == 10
    assert len(result["epochs"]) == 10
    # a fresh process: TensorFlow's pools take the resolved num_threads (stemdl.ornl.threads)
    threads = result["config"]["num_threads"]
    assert threads >= 1 and result["hardware"]["intra_op_threads"] == threads
    assert result["hardware"]["inter_op_threads"] == min(2, threads)
    log = (run_dir / "mlperf.log").read_text()
    assert '"key": "run_stop"' in log
    assert '"key": "accelerators_per_node", "value": 0' in log  # a CPU run
    _compliance(run_dir / "mlperf.log", env)


@pytest.mark.slow
def test_stfc_upstream_config_with_cpu_values(tmp_path: Path) -> None:
    pytest.importorskip("pytorch_lightning", reason="the stfc extra: pip install 'stemdl-bench[stfc]'")
    home = tmp_path / "home"
    ds = home / "sciml_bench" / "datasets" / "stemdl_ds1a"
    for split, count, seed in (("training", 48, 0), ("validation", 16, 1), ("testing", 8, 2),
                               ("inference", 8, 3)):
        write_npz_split(ds / split, count, seed)
    text = (REPO / "configs" / "stfc" / "stemdlConfig.yaml").read_text()
    assert "gpu: 1" in text and "accelerators_per_node: 6" in text
    text = text.replace("gpu: 1", "gpu: 0").replace("accelerators_per_node: 6",
                                                     "accelerators_per_node: 0")
    config = tmp_path / "stemdlConfig.yaml"
    config.write_text(text)
    cwd = tmp_path / "job"
    cwd.mkdir()
    env = _env(HOME=str(home))
    proc = subprocess.run(shlex.split(f"stemdl train stfc --config {config}"), cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    run_dir = _only_run(cwd, "stfc")
    # the three files the config names go where it names them (./: the job's folder), as
    # upstream wrote them; the run folder keeps everything else; the start line says both
    start = proc.stdout.splitlines()[0]
    assert start.startswith(f"stfc: run folder {Path('runs') / run_dir.name}")
    for key, name in (("log_file", "stemdlLog"), ("mlperf_log", "mlperf_stemdl.log"),
                      ("model_file", "stemdlModel.h5")):
        assert (cwd / name).is_file() and not (run_dir / name).exists(), name
        assert f"{key} {cwd / name}" in start
    assert (run_dir / "results.json").is_file() and (run_dir / "checkpoints" / "last.ckpt").is_file()
    log = (cwd / "mlperf_stemdl.log").read_text()
    assert '"key": "run_stop"' in log
    assert '"key": "accelerators_per_node", "value": 0' in log
    _compliance(cwd / "mlperf_stemdl.log", env)
    # compare finds the log the run wrote outside its folder
    assert json.loads((run_dir / "results.json").read_text())["mlperf_log"] == str(cwd / "mlperf_stemdl.log")

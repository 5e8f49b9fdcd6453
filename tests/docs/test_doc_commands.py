"""Every `stemdl ...` command line in README.md and docs/*.md runs, the way doctests do.

Commands are taken from the fenced and indented code blocks: `\\` continuations joined,
comments stripped, `&&`/`;`/`|` chains split, and of each piece the `stemdl` part kept
(also inside `srun ... stemdl ...` and `apptainer exec IMG stemdl ...`). Each runs through
`stemdl.cli.main` in a fresh working folder, its placeholders and example paths mapped to
tiny data made here (PATHS below), and must exit 0. A synopsis with `[optional]` parts runs
twice: without them, and with them (first alternative of `a|b`).

Commands that would run long get `--dry-run` (every training, and simulation): the config,
data, run folder and resume checks of the real run, without training. A folder a command
reads a finished run from (`--resume`, `evaluate`) holds a real run trained here for one
batch with the same settings; compliance/compare/score read runs written by the real
RunRecorder. A documented command that stops working fails here, naming doc and line; a
new placeholder must be added to PATHS (an unmapped one fails).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from stemdl.cli import main
from stemdl.compliance.package import build_package
from tests.compare.fixtures import make_run
from tests.data.fixtures import write_raw_folder
from tests.learning.synthetic_density import write_synthetic_density
from tests.stfc.conftest import write_separable

REPO = Path(__file__).resolve().parents[2]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
WRAPPERS = {"srun", "apptainer", "singularity", "mpirun", "mpiexec", "jsrun", "time", "env"}
LONG = {"train", "simulate"}  # run with --dry-run
ENV = {"DATA_DIR": "{npz_ornl}", "USER": "user", "PWD": "{ws}", "SLURM_JOB_ID": "4242",
       "SLURM_JOB_NUM_NODES": "1", "DATA": "/data", "OUT": "/out", "IMAGE": "stemdl.sif"}
# a doc's placeholder or example path -> the test data (longest match first; a path below
# one maps below its target). Values: names of Workspace fields, or literal arguments.
PATHS = {
    "/data/stemdl-npz": "npz", "/data/stemdl-raw": "raw", "/scratch/stemdl-packed": "packed",
    "/data": "npz", "/out": "{cwd}/out", "D": "npz", "DATA": "npz", "DIR": "npz",
    "RAW": "raw", "OUT": "{cwd}/OUT", "out/": "sim", "FILE": "{repo}/configs/stfc/default.yaml",
    "configs/stfc/default.yaml": "{repo}/configs/stfc/default.yaml",
    "configs/ornl/ornl.yaml": "{repo}/configs/ornl/ornl.yaml",
    "stemdlConfig.yaml": "{repo}/configs/stfc/stemdlConfig.yaml",
    "RUN": "run_a", "RUN_DIR": "run_a", "RUN_DIR...": "run_b", "MORE_LOGS_OR_RUN_DIRS...": "run_b",
    "demo-out/runs/stfc": "run_a", "demo-out/runs/ornl": "run_b",
    "/scratch/study/raw": "raw", "/scratch/study/data": "packed",
    "runs/stfc-study": "run_a", "runs/ornl-study": "run_b",
    "study-out/raw": "raw", "study-out/data": "{ws}/packed64",
    "study-out/runs/stfc": "run_a", "study-out/runs/ornl": "run_b",
    "demo-out/configs/stfc.yaml": "{repo}/configs/stfc/default.yaml",
    "demo-out/configs/ornl.yaml": "{repo}/configs/ornl/ornl.yaml",
    # docs/DENSITY.md: raw data with potentials, its preprocessed targets, finished runs
    "/scratch/density/raw": "density_raw", "/scratch/density/data": "density",
    "DENSITY_DATA": "density", "runs/density-stfc": "run_a", "runs/density-ornl": "run_b",
    # docs/COMPLIANCE.md's submission: a new package folder, one written from SEED_RUNS...
    "NEW_PACKAGE": "{cwd}/package", "PACKAGE": "{ws}/package", "ORG": "example-org",
    "SYSTEM": "cpu-box",
}
PACKAGE_RUNS = 5  # finished runs of one implementation with distinct seeds (SEED_RUNS...)
# a training command's own output folder is a new folder (the runs above are read by the
# compare/evaluate lines): `run_dir=X` and `--run-dir X` of `stemdl train` map to cwd/X
RUN_DIR_FLAGS = ("--run-dir", "--log-dir")
# whole words replaced by several: `RUN...` (some runs); `...` in an ORNL line (the data
# options the line leaves out); `k=v` (an override)
# runs/x of docs/ORNL.md is trained with these settings; `...` stands for them, so that
# `--run-dir runs/x ... --resume` continues it with the same settings (a checkpoint of
# other settings is refused)
ORNL_RUN_SETTINGS = ["--resnet", "18", "--batch-size", "32", "--warmup-epochs", "1",
                     "train_samples=32", "eval_samples=8", "num_workers=1"]
WORDS = {"RUN...": ["{run_a}", "{run_b}"],
         "SEED_RUNS...": [f"{{ws}}/seed-runs/{n}" for n in range(PACKAGE_RUNS)], "...": ["--data-dir", "{npz}", *ORNL_RUN_SETTINGS],
         "k=v": ["data_dir={npz}"]}
PLACEHOLDER = re.compile(r"^[A-Z][A-Z_]{1,}(\.\.\.)?$")


@dataclass(frozen=True)
class DocCommand:
    doc: str
    line: int
    text: str  # as written (continuations joined)
    argv: tuple[str, ...]  # after `stemdl`, placeholders not yet mapped

    @property
    def id(self) -> str:
        return f"{self.doc}:{self.line}:{' '.join(self.argv)[:60]}"


def code_blocks(text: str) -> list[tuple[int, list[str]]]:
    """(first line number, lines) of each fenced block and each indented block."""
    blocks: list[tuple[int, list[str]]] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        if lines[i].lstrip().startswith("```"):
            j = i + 1
            while j < len(lines) and not lines[j].lstrip().startswith("```"):
                j += 1
            blocks.append((i + 2, lines[i + 1:j]))
            i = j + 1
        elif lines[i].startswith("    ") and (i == 0 or not lines[i - 1].strip()):
            j = i
            while j < len(lines) and (lines[j].startswith("    ") or not lines[j].strip()):
                j += 1
            blocks.append((i + 1, [line[4:] for line in lines[i:j]]))
            i = j
        else:
            i += 1
    return blocks


def _expand_optional(text: str) -> list[str]:
    """A synopsis `a [b] [c|d]` -> ["a", "a b c"]; other text -> [text]."""
    if not re.search(r"\[[^\[\]]*\]", text):
        return [text]
    minimal = re.sub(r"\s*\[[^\[\]]*\]", "", text)
    full = re.sub(r"\[([^\[\]]*)\]", lambda m: re.sub(r"(\S+?)\|\S+", r"\1", m.group(1)), text)
    return [minimal, full]


def stemdl_commands(path: Path) -> list[DocCommand]:
    """Every `stemdl` command line of one document."""
    out = []
    for start, lines in code_blocks(path.read_text()):
        k = 0
        while k < len(lines):
            number, text = start + k, lines[k]
            while text.rstrip().endswith("\\") and k + 1 < len(lines):
                k += 1
                text = text.rstrip()[:-1] + " " + lines[k].strip()
            k += 1
            try:
                words = shlex.split(text, comments=True)
            except ValueError:
                continue  # not shell (a diagram, an output sample)
            pieces, piece = [], []
            for word in words:
                if word in ("&&", "||", ";", "|"):
                    pieces.append(piece)
                    piece = []
                else:
                    piece.append(word)
            pieces.append(piece)
            for piece in pieces:
                if not piece or "=" in piece[0]:
                    continue
                head = Path(piece[0]).name
                if head != "stemdl" and head not in WRAPPERS:
                    continue
                at = next((i for i, w in enumerate(piece) if Path(w).name == "stemdl"), None)
                if at is None:
                    continue
                joined = shlex.join(piece)
                srun_n = re.search(r"\bsrun\b.*?(?:-n|--ntasks)[ =](\d+)", shlex.join(piece[:at]))
                for variant in _expand_optional(" ".join(piece[at + 1:])):
                    argv = tuple(shlex.split(variant))
                    if srun_n:
                        argv = ("@srun", srun_n.group(1), *argv)
                    out.append(DocCommand(path.name, number, joined, argv))
    return out


ALL = [c for doc in DOCS for c in stemdl_commands(doc)]


def test_the_docs_hold_the_commands_this_test_runs():
    """The extraction finds the documented commands (a broken extractor would test nothing)."""
    texts = {" ".join(c.argv) for c in ALL}
    assert len(ALL) >= 25
    for expected in ("simulate OUT --preset tiny", "inspect /data/stemdl-npz",
                     "train ornl --train-dir D/training --val-dir D/validation --run-dir runs/x "
                     "--epochs 30 --batch-size 32 --base-lr 1e-3 --wd 5e-5 --warmup-epochs 5 "
                     "--seed 1", "compliance RUN_DIR/mlperf.log",
                     "compliance RUN_DIR/mlperf.log MORE_LOGS_OR_RUN_DIRS... --division auto "
                     "--ruleset 1.0.0 -v", "train stfc data_dir=/data run_dir=/out/run",
                     "check-package PACKAGE", "compare RUN... --csv runs.csv"):
        assert expected in texts, expected
    assert any(c.argv[:2] == ("@srun", "64") for c in ALL)  # `srun -n 64 stemdl ...`


# -- the data the commands run on --------------------------------------------------------
@dataclass
class Workspace:
    ws: Path
    npz: Path  # MLCommons names, materials recorded, 128 training samples of 4 classes
    npz_ornl: Path  # the same in ORNL names (train/dev/test), upstream run.sh's DATA_DIR
    raw: Path  # raw layout, 128 px (the preprocessor's output size)
    packed: Path  # `stemdl preprocess RAW PACKED --format packed` of raw
    sim: Path  # raw layout whose sample_0_0 `stemdl show` draws
    home: Path  # HOME holding upstream stemdlConfig.yaml's ~/sciml_bench/... folders
    run_a: Path  # finished runs by the real RunRecorder (success, compliant), for
    run_b: Path  # compliance / compare / score
    stfc_run: Path | None = None  # trained here on demand: runs/r1 of docs/STFC.md
    ornl_run: Path | None = None  # runs/x of docs/ORNL.md
    density_raw: Path | None = None  # raw layout with potentials (synthetic maps), 128 px
    density: Path | None = None  # `stemdl preprocess` of it: packed, potential targets


NPZ_COUNTS = {"training": 128, "validation": 21, "testing": 12, "inference": 8}


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Workspace:
    ws = tmp_path_factory.mktemp("docs")
    npz = write_separable(ws / "npz", NPZ_COUNTS)
    npz_ornl = ws / "npz-ornl"
    for ours, theirs in (("training", "train"), ("validation", "dev"), ("testing", "test")):
        shutil.copytree(npz / ours, npz_ornl / theirs)
    raw = ws / "raw"
    write_raw_folder(raw, materials={"train": 16, "dev": 2, "test": 2}, size=128)
    packed = ws / "packed"
    assert main(["preprocess", str(raw), str(packed), "--format", "packed", "--no-progress"]) == 0
    # the reduced study of docs/SIMULATION.md trains on 64 px packed data
    assert main(["preprocess", str(raw), str(ws / "packed64"), "--format", "packed", "--size",
                 "64", "--no-progress"]) == 0
    sim = ws / "sim"
    write_raw_folder(sim, materials={"train": 2, "dev": 2, "test": 2}, energies=1, size=32)
    home = ws / "home"
    write_separable(home / "sciml_bench" / "datasets" / "stemdl_ds1a", NPZ_COUNTS)
    run_a, run_b = ws / "runs" / "stfc", ws / "runs" / "ornl"
    make_run(run_a, "stfc", [2, 5, 8], seed=0)
    make_run(run_b, "ornl", [4, 8], seed=1)
    seed_runs = [ws / "seed-runs" / str(n) for n in range(PACKAGE_RUNS)]
    for n, run in enumerate(seed_runs):
        make_run(run, "stfc", [2, 5, 8], seed=n)
    build_package(seed_runs, ws / "package", "example-org", "cpu-box")
    density_raw = write_synthetic_density(ws / "density-raw", train=16, val=8, size=128)
    density = ws / "density"
    assert main(["preprocess", str(density_raw), str(density), "--format", "packed",
                 "--target", "potential", "--workers", "4", "--no-progress"]) == 0
    return Workspace(ws, npz, npz_ornl, raw, packed, sim, home, run_a, run_b,
                     density_raw=density_raw, density=density)


def _trained_stfc(w: Workspace) -> Path:
    """runs/r1: docs/STFC.md's first command, trained for one batch (same fingerprint as
    the `--resume` line: only epochs and caps differ)."""
    if w.stfc_run is None:
        run = w.ws / "trained" / "r1"
        assert main(["train", "stfc", "--config", str(REPO / "configs/stfc/default.yaml"),
                     f"data_dir={w.npz}", f"run_dir={run}", "epochs=1", "limit_train_batches=1",
                     "max_inference_batches=1", "num_workers=0", "progress=false",
                     "tensorboard=false"]) == 0
        w.stfc_run = run
    return w.stfc_run


def _trained_ornl(w: Workspace) -> Path:
    """runs/x of docs/ORNL.md: a one-epoch ResNet-18 run on the tiny data."""
    if w.ornl_run is None:
        run = w.ws / "trained" / "x"
        assert main(["train", "ornl", "--data-dir", str(w.npz), "--run-dir", str(run),
                     "--epochs", "1", *ORNL_RUN_SETTINGS]) == 0
        w.ornl_run = run
    return w.ornl_run


def map_argv(cmd: DocCommand, w: Workspace, cwd: Path) -> list[str]:
    """The documented argv with placeholders and example paths replaced by the test data."""
    fields = {"ws": w.ws, "cwd": cwd, "repo": REPO, **{k: getattr(w, k) for k in (
        "npz", "npz_ornl", "raw", "packed", "sim", "run_a", "run_b", "density_raw",
        "density")}}

    def target(name: str) -> str:
        return str(fields[name]) if name in fields else name.format(**fields)

    training = "train" in cmd.argv[:3] and "--resume" not in cmd.argv  # a resume reads a run

    def one(word: str, output: bool = False) -> str:
        if output and training and "$" not in word and "{" not in word:
            return str(cwd / word)
        key, eq, value = word.partition("=")
        if eq and re.fullmatch(r"[a-z_]+", key):
            return f"{key}={one(value, output=key == 'run_dir')}"
        word = re.sub(r"\$\{?(\w+)\}?", lambda m: ENV.get(m.group(1), m.group(0)), word)
        word = word.format(**fields) if "{" in word else word
        for name in sorted(PATHS, key=len, reverse=True):
            base = name.rstrip("/")
            if word == name or word == base or word.startswith(base + "/"):
                return target(PATHS[name]) + word[len(base):].replace("//", "/")
        return word

    argv: list[str] = []
    for i, word in enumerate(cmd.argv):
        if word in WORDS:
            argv.extend(one(x.format(**fields)) for x in WORDS[word])
        else:
            argv.append(one(word, output=i > 0 and cmd.argv[i - 1] in RUN_DIR_FLAGS))
    return argv


@pytest.mark.parametrize("cmd", ALL, ids=[c.id for c in ALL])
def test_documented_command_runs(cmd: DocCommand, workspace: Workspace, tmp_path, monkeypatch,
                                 capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("STEMDL_RUN_DIR", raising=False)
    monkeypatch.setenv("HOME", str(workspace.home))  # upstream's ~/sciml_bench/... paths
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setattr(os, "cpu_count", lambda: 16)  # the HPC lines name 16 workers
    argv = list(cmd.argv)
    if argv[0] == "@srun":  # `srun -n N stemdl ...`: rank 0 of N, as srun would set
        monkeypatch.setenv("SLURM_NTASKS", argv[1])
        monkeypatch.setenv("SLURM_PROCID", "0")
        cmd = DocCommand(cmd.doc, cmd.line, cmd.text, tuple(argv[2:]))
    argv = map_argv(cmd, workspace, tmp_path)
    unmapped = [w for w in argv if PLACEHOLDER.match(w)]
    assert not unmapped, f"{cmd.doc}:{cmd.line}: add {unmapped} to PATHS ({cmd.text})"
    if argv[0] in LONG and "--dry-run" not in argv:
        argv.append("--dry-run")
    if argv[0] == "simulate":  # `out/` elsewhere is data simulated earlier: a fresh OUT here
        argv[1] = str(tmp_path / "sim-out")
    reads_run = "--resume" in argv or argv[0] == "evaluate"
    if reads_run:
        trained = _trained_stfc(workspace) if argv[1] == "stfc" else _trained_ornl(workspace)
        for i, word in enumerate(argv):  # runs/r1, runs/x: the run trained above
            for name in ("runs/r1", "runs/x"):
                if word == name or word.startswith(name + "/"):
                    argv[i] = str(trained) + word[len(name):]
                elif word.endswith("=" + name):
                    argv[i] = word[:-len(name)] + str(trained)
    if "--plot" in argv:  # such a line runs from the repository root, where its folder is
        plot = Path(argv[argv.index("--plot") + 1])
        if not plot.is_absolute() and (REPO / plot.parent).is_dir():
            (tmp_path / plot.parent).mkdir(parents=True, exist_ok=True)
    capsys.readouterr()
    try:
        code = main(argv)
    except SystemExit as exit_:  # --help
        code = exit_.code
    out, err = capsys.readouterr()
    assert code == 0, (f"{cmd.doc}:{cmd.line}: `stemdl {' '.join(cmd.argv)}` exited {code} "
                       f"(ran: stemdl {shlex.join(argv)})\n{err[-2000:]}")
    assert "Traceback" not in err
    if "--dry-run" in argv and argv[0] == "train":
        assert "dry run: config, data and run folder checked" in out
        if "--resume" in argv:
            assert "(resume from " in out


def test_a_broken_command_fails_here(workspace, tmp_path, monkeypatch):
    """The check has teeth: a documented line that no longer works is a failure."""
    monkeypatch.chdir(tmp_path)
    bad = DocCommand("X.md", 1, "", ("train", "ornl", "--train-dirs", "D/training"))
    assert main([*map_argv(bad, workspace, tmp_path), "--dry-run"]) == 2
    typo = DocCommand("X.md", 1, "", ("inspect", "NEW_PLACEHOLDER"))
    assert [w for w in map_argv(typo, workspace, tmp_path) if PLACEHOLDER.match(w)]
    doc = _doc(tmp_path, "```\nmake x && srun -n 2 stemdl a \\\n    b  # c\n"
                         "apptainer exec I.sif stemdl d [--e f|g]\npython -m stemdl h\n```\n")
    assert [c.argv for c in stemdl_commands(doc)] == [  # continuation, comment, chain, wrapper
        ("@srun", "2", "a", "b"), ("d",), ("d", "--e", "f")]


def _doc(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "doc.md"
    path.write_text(text)
    return path


@pytest.mark.parametrize("impl", ["stfc", "ornl"])
def test_cpu_runs_log_zero_accelerators(workspace, impl):
    """docs/COMPLIANCE.md: `accelerators_per_node` is 0 for CPU-only runs (both recipes)."""
    import json

    from stemdl.common.run.results import CPU_DEVICE, RunResult

    run = _trained_stfc(workspace) if impl == "stfc" else _trained_ornl(workspace)
    result = RunResult.read(run)
    logged = [json.loads(line.split(":::MLLOG ", 1)[1]) for line in
              (run / result.mlperf_log).read_text().splitlines() if ":::MLLOG " in line]
    value = next(r["value"] for r in logged if r["key"] == "accelerators_per_node")
    assert value == 0 if result.device == CPU_DEVICE else value >= 1

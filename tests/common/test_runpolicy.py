"""The run policy both implementations call (common/run/runpolicy.py, common/infra/ranks.py): one
rule each, where stfc/ and ornl/ once had two different ones."""

from __future__ import annotations

import numpy as np
import pytest

from stemdl.common.cli.errors import StemdlError
from stemdl.common.infra.ranks import launch_rank
from stemdl.common.run.runpolicy import (
    check_global_batch,
    check_same_settings,
    inference_split,
    time_batches,
    weights_bytes,
    write_predictions,
)


def test_one_batch_rule_for_both():
    check_global_batch(8, 4, 32)  # exactly one global batch fits
    with pytest.raises(StemdlError, match=r"^config key 'batch_size': global batch 40 "
                       r"\(8 x 5 replicas\) is larger than the 32 training samples$"):
        check_global_batch(8, 5, 32)
    with pytest.raises(StemdlError, match="global batch 64 is larger than the 48 training"):
        check_global_batch(64, 1, 48)


def test_a_checkpoint_of_other_or_unrecorded_settings_is_refused(tmp_path):
    check_same_settings(tmp_path, {"seed": 1, "resnet": 18}, {"seed": 1, "resnet": 18})
    check_same_settings(tmp_path, {"seed": 1}, {"seed": 1, "task": "classify"})  # older: fewer keys
    with pytest.raises(StemdlError, match=r"stale checkpoint \(seed: 1 in checkpoint, 2 now\)"):
        check_same_settings(tmp_path, {"seed": 1}, {"seed": 2})
    with pytest.raises(StemdlError, match=r"stale checkpoint \(no settings recorded\)"):
        check_same_settings(tmp_path, None, {"seed": 2})


def test_model_size_is_the_weights_bytes():
    assert weights_bytes([((3, 4), 4), ((10,), 8), ((), 4)]) == 48 + 80 + 4


def test_inference_is_timed_on_inference_else_test_else_skipped_with_a_note(capsys):
    assert inference_split({"train": 1, "test": 1, "inference": 1}) == "inference"
    assert inference_split({"train": 1, "test": 1}) == "test"
    assert capsys.readouterr().err == ""
    assert inference_split({"train": 1, "val": 1}) is None
    assert "no inference or test data; inference timing is skipped" in capsys.readouterr().err


def test_the_predictions_file_is_atomic_with_indices(tmp_path):
    path = write_predictions(tmp_path, "val", 1, [1, 3], np.array([5, 6]), np.array([5, 7]))
    assert path == tmp_path / "predictions" / "val-rank1.npz"
    data = np.load(path)
    assert data["indices"].tolist() == [1, 3] and data["preds"].tolist() == [5, 7]
    assert [p.name for p in path.parent.iterdir()] == ["val-rank1.npz"]  # no temporary left


def test_latency_is_timed_per_batch_and_sees_every_output():
    seen = []
    meter = time_batches(iter([[1, 2], [3]]), lambda b: sum(b), size=len,
                         each=lambda b, out: seen.append(out), max_batches=5)
    assert seen == [3, 3] and meter.samples == 3 and meter.summary()["batches"] == 2
    assert time_batches(iter([[1], [2], [3]]), sum, size=len, max_batches=2).samples == 2


@pytest.mark.parametrize(("env", "devices", "rank"), [
    ({}, 1, 0),
    ({"SLURM_PROCID": "5"}, 1, 5),
    ({"RANK": "3", "SLURM_PROCID": "1"}, 1, 3),  # torchrun's per-process rank inside srun
    ({"LOCAL_RANK": "1", "NODE_RANK": "1"}, 2, 3),  # Lightning's own children
    ({"OMPI_COMM_WORLD_RANK": "2", "PMI_RANK": "7"}, 1, 2),
    ({"SLURM_PROCID": "2(x3)"}, 1, 2),
    ({"TF_CONFIG": '{"cluster": {"chief": ["a"], "worker": ["b", "c"]}, '
                   '"task": {"type": "worker", "index": 1}}', "SLURM_PROCID": "0"}, 1, 2),
    ({"TF_CONFIG": '{"task": {"type": "chief", "index": 0}}', "RANK": "4"}, 1, 0),
])
def test_one_rank_precedence_for_both_implementations(env, devices, rank):
    assert launch_rank(devices, env) == rank


def test_bad_launcher_variables_are_one_line():
    with pytest.raises(StemdlError, match="RANK='x' is not an integer"):
        launch_rank(1, {"RANK": "x"})
    with pytest.raises(StemdlError, match="TF_CONFIG is not valid JSON"):
        launch_rank(1, {"TF_CONFIG": "{"})


def test_the_evaluation_batch_is_bounded_by_the_largest_evaluation_split(capsys):
    from stemdl.common.run.runpolicy import bounded_eval_batch

    readers = {"train": range(100), "val": range(12), "test": range(8)}
    assert bounded_eval_batch(None, 8, readers) is None and bounded_eval_batch(12, 8, readers) == 12
    assert capsys.readouterr().err == ""
    assert bounded_eval_batch(2**31, 8, readers) == 12
    assert "eval_batch_size 2147483648 is larger than the largest evaluation split (12 samples)" \
        in capsys.readouterr().err
    assert bounded_eval_batch(None, 64, readers) == 12  # batch_size's, when eval_batch_size is unset

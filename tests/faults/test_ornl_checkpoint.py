"""A damaged ORNL checkpoint on --resume: one line naming it, never a traceback (issue 13
item 6: a truncated checkpoint once raised IndexError)."""

from __future__ import annotations

import shutil

import pytest

from stemdl.common.cli.errors import StemdlError

pytest.importorskip("tensorflow", reason="the ornl extra: pip install 'stemdl-bench[ornl-cpu]'")


def _checkpointer(run_dir):
    import keras

    from stemdl.ornl.checkpoint import Checkpointer

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    optimizer = keras.optimizers.AdamW(1e-3)
    optimizer.build(model.trainable_variables)
    return Checkpointer(run_dir, model, optimizer)


@pytest.mark.parametrize(("victim", "keep", "message"), [
    ("ckpt-2.data-00000-of-00001", 0.5, "corrupt or incompatible checkpoint (Read less bytes"),
    ("ckpt-2.data-00000-of-00001", 0.0, "corrupt or incompatible checkpoint"),
    ("ckpt-2.index", 0.5, "corrupt or incompatible checkpoint"),
    ("checkpoint", 0.0, "no readable checkpoint in"),
    ("checkpoint", 0.5, "no readable checkpoint in"),
])
def test_truncated_checkpoint_is_one_line(tmp_path, victim, keep, message):
    original = tmp_path / "original"
    saver = _checkpointer(original)
    saver.save(1)
    saver.save(2)
    assert _checkpointer(original).restore() == 2
    run_dir = tmp_path / "run"
    shutil.copytree(original, run_dir)
    path = run_dir / "checkpoints" / victim
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(StemdlError) as err:
        _checkpointer(run_dir).restore()
    assert message in str(err.value) and "\n" not in str(err.value)

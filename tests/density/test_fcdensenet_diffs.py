"""ORNL's FC-DenseNet in both frameworks: parameter counts equal the spec's (232 M at
ORNL's settings), and with the torch weights copied into Keras both compute the same maps.

As tests/density/test_unet_diffs.py: the BatchNorm statistics are calibrated on a batch
and perturbed, so epsilon and momentum count. Measured: max |map difference| 8.3e-7 on
maps reaching 1.24 (growth 4, 3x3, 16 px) and 4.8e-7 of 1.25 (growth 3, 5x5, 24 px, 12
scan patterns in).
"""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

torch = pytest.importorskip("torch", reason="needs the stfc extra: pip install -e '.[stfc]'")
keras = pytest.importorskip("keras", reason="needs the ornl-cpu extra: pip install -e '.[ornl-cpu]'")

from stemdl.common.cli.errors import StemdlError  # noqa: E402
from stemdl.common.tasks.density.fcdensenet import (  # noqa: E402
    fcdensenet_spec,
    trainable_parameter_count,
)
from stemdl.ornl.fcdensenet import build_fcdensenet  # noqa: E402
from stemdl.stfc.fcdensenet import FCDenseNet  # noqa: E402
from tests.test_modeldiffs import calibrate_batchnorm  # noqa: E402

TOLERANCE = 1e-4


def _conv(layer, conv) -> None:
    layer.set_weights([conv.weight.detach().numpy().transpose(2, 3, 1, 0),
                       conv.bias.detach().numpy()])


def _bn(layer, bn) -> None:
    layer.set_weights([t.detach().numpy() for t in (bn.weight, bn.bias, bn.running_mean,
                                                    bn.running_var)])


def copy_weights(net, model) -> int:
    """Torch -> Keras by name; returns the tensors copied."""
    copied = 0

    def block(torch_block, name):
        nonlocal copied
        for i, (bn, _relu, conv) in enumerate(torch_block.layers):
            _bn(model.get_layer(f"{name}_l{i}_bn"), bn)
            _conv(model.get_layer(f"{name}_l{i}_conv"), conv)
            copied += 6

    _conv(model.get_layer("stem"), net.stem)
    copied += 2
    for i, (down, transition) in enumerate(zip(net.down, net.transitions, strict=True)):
        block(down, f"down{i}")
        _bn(model.get_layer(f"td{i}_bn"), transition[0])
        _conv(model.get_layer(f"td{i}_conv"), transition[2])
        copied += 6
    block(net.bottleneck, "bottleneck")
    for i, (up, up_block) in enumerate(zip(net.ups, net.up_blocks, strict=True)):
        # torch ConvTranspose2d (in, out, kh, kw) -> Keras Conv2DTranspose (kh, kw, out, in)
        model.get_layer(f"tu{i}").set_weights([up.weight.detach().numpy().transpose(2, 3, 1, 0),
                                               up.bias.detach().numpy()])
        copied += 2
        block(up_block, f"up{i}")
    _conv(model.get_layer("head"), net.head)
    return copied + 2


def map_diff(growth: int, kernel: int, size: int, channels: int = 3, seed: int = 0
             ) -> tuple[float, float]:
    spec = fcdensenet_spec(growth, kernel, size, in_channels=channels)
    torch.manual_seed(seed)
    net = FCDenseNet(spec)
    calibrate_batchnorm(net, channels, size, seed)
    model = build_fcdensenet(spec)
    assert copy_weights(net, model) == len(model.weights)
    x = np.random.default_rng(seed).uniform(0, 1, (2, channels, size, size)).astype(np.float32)
    with torch.no_grad():
        expected = net(torch.from_numpy(x)).numpy()
    got = model(x.transpose(0, 2, 3, 1), training=False).numpy().transpose(0, 3, 1, 2)
    assert got.shape == expected.shape == (2, 3, size, size)
    return float(np.abs(got - expected).max()), float(np.abs(expected).max())


def test_ornl_settings_count_232_million_parameters():
    spec = fcdensenet_spec(256, 5, 128)
    assert spec.name == "fcdensenet3x256k5"
    assert trainable_parameter_count(spec) == 232_044_035
    assert sum(p.numel() for p in FCDenseNet(spec).parameters()) == 232_044_035


@pytest.mark.parametrize(("growth", "kernel", "size", "channels"), [(4, 3, 16, 3), (3, 5, 24, 12)])
def test_parameter_counts_equal_the_spec(growth, kernel, size, channels):
    spec = fcdensenet_spec(growth, kernel, size, in_channels=channels)
    expect = trainable_parameter_count(spec)
    assert sum(p.numel() for p in FCDenseNet(spec).parameters()) == expect
    model = build_fcdensenet(spec)
    assert sum(int(np.prod(v.shape)) for v in model.trainable_variables) == expect


@pytest.mark.parametrize(("growth", "kernel", "size", "channels"), [(4, 3, 16, 3), (3, 5, 24, 12)])
def test_fcdensenet_maps_agree_across_frameworks(growth, kernel, size, channels):
    diff, scale = map_diff(growth, kernel, size, channels)
    assert scale > 1e-2 and diff < TOLERANCE * max(1.0, scale)


def test_bad_fcdensenet_settings_are_one_line():
    with pytest.raises(StemdlError, match="3 pooling levels need an image size divisible by 8"):
        fcdensenet_spec(4, 3, 36)
    with pytest.raises(StemdlError, match="'fcd_kernel': must be one of"):
        fcdensenet_spec(4, 4, 32)
    with pytest.raises(StemdlError, match="'fcd_growth': must be in 1..512"):
        fcdensenet_spec(0, 3, 32)


@pytest.mark.parametrize("impl", ["stfc", "ornl"])
def test_density_net_fcdensenet_trains_and_evaluates_as_its_last_epoch(impl, scan_packed,
                                                                       tmp_path, capsys):
    """`density_net=fcdensenet` end to end on scan data: open division (the closed recipe
    is the U-Net), the parameters of the spec, evaluate from the checkpoint equal to the
    last epoch."""
    import json

    from stemdl.cli import main

    run = tmp_path / impl
    args = [f"data_dir={scan_packed}", f"run_dir={run}", "task=density", "epochs=1",
            "batch_size=2", "density_net=fcdensenet", "fcd_growth=3", "fcd_kernel=3",
            "num_workers=0"]
    if impl == "stfc":
        args += ["progress=false", "tensorboard=false"]
    assert main(["train", impl, *args]) == 0
    assert "density_net: 'fcdensenet' != 'unet'" in capsys.readouterr().err
    result = json.loads((run / "results.json").read_text())
    assert result["division"] == "open" and result["model_name"] == "fcdensenet3x3k3"
    assert result["parameters"] == trainable_parameter_count(fcdensenet_spec(3, 3, 16, 12))
    out = tmp_path / "eval.json"
    assert main(["evaluate", impl, "--run-dir", str(run), "--json", str(out)]) == 0
    evaluated = json.loads(out.read_text())
    assert evaluated["nmse"] == pytest.approx(result["epochs"][-1]["val"]["nmse"], rel=1e-5)

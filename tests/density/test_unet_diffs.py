"""The density U-Net in both frameworks: parameter counts equal the spec's, and with the
torch weights copied into Keras (OIHW -> HWIO) both compute the same maps.

Like tests/test_modeldiffs.py for the ResNets: the BatchNorm statistics are calibrated
on a batch and perturbed, so epsilon and momentum count. Measured: max |map
difference| 7.6e-5 on maps reaching 41 (depth 3, width 8, 32 px; relative 2e-6), 2.8e-5
of 18 (depth 2, width 4, 24 px).
"""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

torch = pytest.importorskip("torch", reason="needs the stfc extra: pip install -e '.[stfc]'")
keras = pytest.importorskip("keras", reason="needs the ornl-cpu extra: pip install -e '.[ornl-cpu]'")

from stemdl.common.tasks.density.model import trainable_parameter_count, unet_spec  # noqa: E402
from stemdl.ornl.unet import build_unet  # noqa: E402
from stemdl.stfc.unet import UNet  # noqa: E402
from tests.test_modeldiffs import calibrate_batchnorm  # noqa: E402

TOLERANCE = 1e-4


def copy_weights(net, model) -> int:
    """Torch -> Keras by name; returns the tensors copied."""
    spec, copied = net.spec, 0

    def double(block, name):
        nonlocal copied
        convs = [m for m in block if isinstance(m, torch.nn.Conv2d)]
        bns = [m for m in block if isinstance(m, torch.nn.BatchNorm2d)]
        for i, (conv, bn) in enumerate(zip(convs, bns, strict=True), start=1):
            model.get_layer(f"{name}_conv{i}").set_weights(
                [conv.weight.detach().numpy().transpose(2, 3, 1, 0)])
            model.get_layer(f"{name}_bn{i}").set_weights([t.detach().numpy() for t in (
                bn.weight, bn.bias, bn.running_mean, bn.running_var)])
            copied += 5

    for i, block in enumerate(net.encoders):
        double(block, f"enc{i}")
    double(net.bottleneck, "bottleneck")
    model.get_layer("mix_dense").set_weights([net.mix.linear.weight.detach().numpy().T,
                                              net.mix.linear.bias.detach().numpy()])
    for i, block in zip(reversed(range(spec.depth)), net.decoders, strict=True):
        double(block, f"dec{i}")
    model.get_layer("head").set_weights([net.head.weight.detach().numpy().transpose(2, 3, 1, 0),
                                         net.head.bias.detach().numpy()])
    return copied + 4


def twins(depth: int, width: int, size: int, seed: int = 0):
    spec = unet_spec(depth, width, size)
    torch.manual_seed(seed)
    net = UNet(spec)
    calibrate_batchnorm(net, spec.in_channels, size, seed)
    with torch.no_grad():  # the mixing block's weights away from their small initial values
        net.mix.linear.weight.mul_(5.0)
    model = build_unet(spec)
    copied = copy_weights(net, model)
    assert copied == len(model.weights)
    return spec, net, model


def map_diff(depth: int, width: int, size: int, seed: int = 0) -> tuple[float, float]:
    spec, net, model = twins(depth, width, size, seed)
    x = np.random.default_rng(seed).uniform(0, 1, (4, 3, size, size)).astype(np.float32)
    with torch.no_grad():
        expected = net(torch.from_numpy(x)).numpy()
    got = model(x.transpose(0, 2, 3, 1), training=False).numpy().transpose(0, 3, 1, 2)
    assert got.shape == expected.shape == (4, 3, size, size)
    return float(np.abs(got - expected).max()), float(np.abs(expected).max())


@pytest.mark.parametrize(("depth", "width", "size"), [(3, 8, 32), (2, 4, 16), (3, 16, 64)])
def test_parameter_counts_equal_the_spec(depth, width, size):
    spec = unet_spec(depth, width, size)
    expect = trainable_parameter_count(spec)
    assert sum(p.numel() for p in UNet(spec).parameters()) == expect
    model = build_unet(spec)
    assert sum(int(np.prod(v.shape)) for v in model.trainable_variables) == expect


@pytest.mark.parametrize(("depth", "width", "size"), [(3, 8, 32), (2, 4, 24)])
def test_unet_maps_agree_across_frameworks(depth, width, size):
    diff, scale = map_diff(depth, width, size)
    assert scale > 1e-2 and diff < TOLERANCE * max(1.0, scale)


def test_a_depth_that_does_not_divide_the_size_is_one_line():
    from stemdl.common.cli.errors import StemdlError

    with pytest.raises(StemdlError, match="unet_depth': 3 pooling levels need an image size "
                       "divisible by 8; the images are 36 px"):
        unet_spec(3, 16, 36)

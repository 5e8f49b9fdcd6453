"""Cross-framework numerics: the torch and Keras ResNets compute the same function.

Equal parameter counts would not catch a wrong stride, padding, pooling or BatchNorm
epsilon. So (as AlgoPerf's tests/modeldiffs do) every torch weight is copied into the
Keras network built from the same `ResNetSpec`, both run in evaluation mode with dropout
off on one batch (NCHW vs NHWC), and the logits must agree to 1e-4. The BatchNorm
statistics are non-trivial (measured on a batch, then perturbed; not the (0, 1) of a
fresh layer), so the epsilon counts, and one training step checks the momentum.
Found: the builders agree (ResNet-18 eval max |logit diff| about 2e-5); the one
difference left is in the frameworks' BN (see the training-step test).
"""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

torch = pytest.importorskip("torch", reason="needs the stfc extra: pip install -e '.[stfc]'")
keras = pytest.importorskip("keras", reason="needs the ornl-cpu extra: pip install -e '.[ornl-cpu]'")

from stemdl.common.modelspec import resnet_spec  # noqa: E402
from stemdl.common.tasks.classify.facts import NUM_LOGITS  # noqa: E402
from stemdl.ornl import resnet as keras_resnet  # noqa: E402
from stemdl.stfc import resnet as torch_resnet  # noqa: E402

TOLERANCE = 1e-4


def calibrate_batchnorm(net, channels: int, size: int, seed: int) -> None:
    """Non-trivial BN state: running statistics measured on a batch, then perturbed.

    Measured statistics keep the activations O(1) through all layers (random ones would
    make them explode); the perturbation and random scale/shift take every BN tensor away
    from (1, 0, 0, 1), and variances near 0.01 make the epsilon (torch 1e-5, Keras
    default 1e-3) visible in the logits.
    """
    gen = torch.Generator().manual_seed(seed)
    bns = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    momenta = [m.momentum for m in bns]
    with torch.no_grad():
        for m in bns:
            m.momentum = None  # cumulative average: one batch sets the statistics
            m.reset_running_stats()
        net.train()
        net(255 * torch.rand(8, channels, size, size, generator=gen))
        for m, momentum in zip(bns, momenta, strict=True):
            m.momentum = momentum
            c = m.num_features
            m.weight.copy_(0.5 + torch.rand(c, generator=gen))
            m.bias.copy_(0.2 * torch.randn(c, generator=gen))
            m.running_mean.add_(0.1 * m.running_var.sqrt() * torch.randn(c, generator=gen))
            m.running_var.mul_(0.5 + torch.rand(c, generator=gen))
    net.eval()


def _keras_names(spec) -> list[tuple[str, str]]:
    """(conv, bn) Keras layer names in torch module order: stem, then each block."""
    pairs = [("stem_conv", "stem_bn")]
    convs = 2 if spec.block == "basic" else 3
    for stage, blocks in enumerate(spec.stage_blocks):
        for b in range(blocks):
            name = f"s{stage + 1}b{b + 1}"
            pairs += [(f"{name}_conv{i}", f"{name}_bn{i}") for i in range(1, convs + 1)]
            pairs.append((f"{name}_proj", f"{name}_proj_bn"))
    return pairs


def torch_pairs(net) -> list[tuple[object, object]]:
    """(Conv2d, BatchNorm2d) pairs in order; a block without projection gives (None, None)."""
    mods = [m for m in net.stem if isinstance(m, torch.nn.Conv2d | torch.nn.BatchNorm2d)]
    pairs = [tuple(mods)]
    for block in net.stages:
        body = [m for m in block.body if isinstance(m, torch.nn.Conv2d | torch.nn.BatchNorm2d)]
        pairs += list(zip(body[::2], body[1::2]))
        short = block.shortcut
        pairs.append((short[0], short[1]) if isinstance(short, torch.nn.Sequential)
                     else (None, None))
    return pairs


def copy_weights(net, model, spec) -> int:
    """Torch -> Keras, layer by layer (OIHW -> HWIO kernels); returns tensors copied."""
    copied = 0
    layer_names = {layer.name for layer in model.layers}
    for (conv, bn), (kconv, kbn) in zip(torch_pairs(net), _keras_names(spec), strict=True):
        if conv is None:
            assert kconv not in layer_names, f"Keras has {kconv}, torch has no projection"
            continue
        kernel = conv.weight.detach().numpy().transpose(2, 3, 1, 0)
        model.get_layer(kconv).set_weights([kernel])
        model.get_layer(kbn).set_weights([t.detach().numpy() for t in (
            bn.weight, bn.bias, bn.running_mean, bn.running_var)])
        copied += 5
    model.get_layer("logits").set_weights(
        [net.fc.weight.detach().numpy().T, net.fc.bias.detach().numpy()])
    return copied + 2


def twin_networks(depth: int, channels: int, size: int, seed: int):
    """The torch ResNet with calibrated BN and the Keras ResNet holding its weights."""
    spec = resnet_spec(depth)
    torch.manual_seed(seed)
    net = torch_resnet.ResNet(spec, channels, NUM_LOGITS)
    calibrate_batchnorm(net, channels, size, seed)
    model = keras_resnet.build_resnet(depth, channels, NUM_LOGITS, dropout=0.0)
    copied = copy_weights(net, model, spec)
    torch_tensors = sum(1 for _ in net.parameters()) + sum(
        2 for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d))
    assert copied == torch_tensors == len(model.weights)
    return spec, net, model


def batch(channels: int, size: int, seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).uniform(0, 255, size=(4, channels, size, size))
    return x.astype(np.float32)


def logit_diff(depth: int, channels: int, size: int, seed: int = 0) -> tuple[float, float]:
    """Evaluation mode: max |torch logits - Keras logits| on one batch, and max |logit|."""
    _, net, model = twin_networks(depth, channels, size, seed)
    x = batch(channels, size, seed)
    with torch.no_grad():
        expected = net(torch.from_numpy(x)).numpy()
    got = model(x.transpose(0, 2, 3, 1), training=False).numpy()
    assert got.shape == expected.shape == (4, NUM_LOGITS)
    assert np.abs(expected).max() > 1e-2, "logits too small for the comparison to mean much"
    return float(np.abs(got - expected).max()), float(np.abs(expected).max())


@pytest.mark.parametrize(("channels", "size"), [(3, 64), (1, 64), (3, 37)])
def test_resnet18_logits_agree_across_frameworks(channels, size):
    """STFC input (3 channels) and ORNL input (1), an even and an odd image size."""
    diff, _ = logit_diff(18, channels, size)
    assert diff < TOLERANCE


@pytest.mark.slow
def test_resnet50_bottleneck_logits_agree_across_frameworks():
    """Relative to the logits: 16 bottleneck blocks with random BN scales grow them to
    ~1e3, where float32 rounding alone (torch float32 against torch float64) is ~2e-3."""
    diff, scale = logit_diff(50, 3, 64)
    assert diff < TOLERANCE * max(1.0, scale)


def test_one_training_step_updates_batchnorm_alike():
    """Training mode: batch statistics normalise alike and the moving averages move alike
    (torch momentum 0.1 == Keras momentum 0.9).

    The one difference left is the frameworks' own, not the builders': torch averages the
    unbiased batch variance into running_var, Keras the biased one. With n values per
    channel (batch x H x W) the torch update is the Keras one with the batch variance
    times n/(n-1), which this test applies before comparing; in real training n is in
    the thousands (batch 32, 4x4 px in the last stage: n = 512).
    """
    size = 32
    spec, net, model = twin_networks(18, 3, size, seed=1)
    bns = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    old = {m: m.running_var.clone() for m in bns}
    values = {}
    hooks = [m.register_forward_hook(
        lambda mod, args, out: values.__setitem__(mod, args[0].numel() // mod.num_features))
        for m in bns]
    x = batch(3, size, seed=2)
    net.train()
    with torch.no_grad():
        expected = net(torch.from_numpy(x)).numpy()
    for hook in hooks:
        hook.remove()
    got = model(x.transpose(0, 2, 3, 1), training=True).numpy()
    assert np.abs(got - expected).max() < TOLERANCE

    pairs = [(bn, kbn) for (_, bn), (_, kbn) in zip(torch_pairs(net), _keras_names(spec))
             if bn is not None]
    assert len(pairs) == len(bns)
    for bn, kbn in pairs:
        _, _, mean, var = model.get_layer(kbn).get_weights()
        m, n, before = bn.momentum, values[bn], old[bn].numpy()
        np.testing.assert_allclose(mean, bn.running_mean.numpy(), rtol=1e-5, atol=1e-6,
                                   err_msg=kbn)
        batch_var = (var - (1 - m) * before) / m  # the biased batch variance Keras used
        as_torch = (1 - m) * before + m * batch_var * n / (n - 1)
        np.testing.assert_allclose(as_torch, bn.running_var.numpy(), rtol=1e-4, err_msg=kbn)

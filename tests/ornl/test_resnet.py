"""The Keras ResNets have the shared spec's parameter counts (== the torch builder's)."""

from __future__ import annotations

import numpy as np
import pytest

from stemdl.common.modelspec import RESNET_DEPTHS, resnet_spec, trainable_parameter_count
from stemdl.common.tasks.classify.facts import NUM_LOGITS
from stemdl.ornl.resnet import build_resnet, trainable_parameters


@pytest.mark.parametrize("depth", RESNET_DEPTHS)
def test_parameter_count_matches_spec(depth):
    for channels, classes in ((1, NUM_LOGITS), (3, 1000)):
        model = build_resnet(depth, channels, classes)
        assert trainable_parameters(model) == trainable_parameter_count(
            resnet_spec(depth), channels, classes
        )


def test_resnet50_imagenet_count_is_torchvisions():
    assert trainable_parameters(build_resnet(50, 3, 1000)) == 25_557_032


def test_parameter_count_matches_torch_builder():
    torch_resnet = pytest.importorskip("stemdl.stfc.resnet")
    for depth in (18, 50):
        net = torch_resnet.ResNet(resnet_spec(depth), 1, NUM_LOGITS)
        torch_count = sum(p.numel() for p in net.parameters() if p.requires_grad)
        assert trainable_parameters(build_resnet(depth, 1, NUM_LOGITS)) == torch_count


def test_output_shape_and_dropout_only_in_training():
    model = build_resnet(18, 1, NUM_LOGITS, dropout=0.5)
    x = np.random.default_rng(0).uniform(size=(2, 32, 32, 1)).astype("float32")
    assert tuple(model(x, training=False).shape) == (2, NUM_LOGITS)
    a, b = model(x, training=False).numpy(), model(x, training=False).numpy()
    np.testing.assert_allclose(a, b)
    assert "dropout" in [layer.name for layer in model.layers]

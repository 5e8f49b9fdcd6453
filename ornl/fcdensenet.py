"""The Keras FC-DenseNet of the density task, built from the shared `FCDenseNetSpec`
(common/tasks/density/fcdensenet.py; passed in by the task's hooks), layer for layer the
network of `stemdl.stfc.fcdensenet`: torch's BatchNorm constants, symmetric "same"
padding of the stride-1 odd convolutions, 2x2 transposed convolutions of stride 2."""

from __future__ import annotations

import keras
from keras import layers

_BN = {"momentum": 0.9, "epsilon": 1e-5}


def _block(x, n: int, growth: int, kernel: int, name: str):
    """`n` dense layers; returns (all channels, the new ones)."""
    new = []
    for i in range(n):
        y = layers.BatchNormalization(name=f"{name}_l{i}_bn", **_BN)(x)
        y = layers.ReLU(name=f"{name}_l{i}_relu")(y)
        y = layers.Conv2D(growth, kernel, padding="same", name=f"{name}_l{i}_conv")(y)
        new.append(y)
        x = layers.Concatenate(name=f"{name}_l{i}_cat")([x, y])
    fresh = new[0] if n == 1 else layers.Concatenate(name=f"{name}_new")(new)
    return x, fresh


def build_fcdensenet(spec) -> keras.Model:
    """(N, S, S, C) patterns -> (N, S, S, 3) float32 maps."""
    g, k = spec.growth, spec.kernel
    inputs = keras.Input(shape=(spec.image_size, spec.image_size, spec.in_channels),
                         name="patterns")
    x = layers.Conv2D(spec.stem_width, k, padding="same", name="stem")(inputs)
    skips = []
    for i, n in enumerate(spec.down_layers):
        x, _ = _block(x, n, g, k, f"down{i}")
        skips.append(x)
        x = layers.BatchNormalization(name=f"td{i}_bn", **_BN)(x)
        x = layers.ReLU(name=f"td{i}_relu")(x)
        x = layers.Conv2D(x.shape[-1], 1, name=f"td{i}_conv")(x)
        x = layers.AveragePooling2D(2, name=f"td{i}_pool")(x)
    _, x = _block(x, spec.bottleneck_layers, g, k, "bottleneck")
    last = spec.levels - 1
    for i, (n, skip) in enumerate(zip(spec.up_layers, reversed(skips), strict=True)):
        x = layers.Conv2DTranspose(x.shape[-1], 2, strides=2, name=f"tu{i}")(x)
        whole, new = _block(layers.Concatenate(name=f"tu{i}_cat")([x, skip]), n, g, k, f"up{i}")
        x = whole if i == last else new
    maps = layers.Conv2D(spec.out_channels, 1, dtype="float32", name="head")(x)
    return keras.Model(inputs, maps, name=spec.name)

"""The Keras U-Net of the density task, built from the shared `UNetSpec`
(common/tasks/density/model.py; passed in by the task's hooks), layer for layer the network of `stemdl.stfc.unet`: torch's
BatchNorm constants (momentum 0.9 in Keras terms, eps 1e-5), symmetric "same" padding of
stride-1 3x3 convolutions, and the dense mixing block over the positions of each channel
(channels-last: transposed to put the positions last, as torch's flatten does)."""

from __future__ import annotations

import keras
from keras import layers

_BN = {"momentum": 0.9, "epsilon": 1e-5}


def _double(x, cout: int, name: str):
    for i in (1, 2):
        x = layers.Conv2D(cout, 3, padding="same", use_bias=False,
                          kernel_initializer="he_normal", name=f"{name}_conv{i}")(x)
        x = layers.BatchNormalization(name=f"{name}_bn{i}", **_BN)(x)
        x = layers.ReLU(name=f"{name}_relu{i}")(x)
    return x


def build_unet(spec) -> keras.Model:
    """(N, S, S, 3) patterns -> (N, S, S, 3) float32 maps."""
    w, s = spec.widths(), spec.bottleneck_size
    inputs = keras.Input(shape=(spec.image_size, spec.image_size, spec.in_channels),
                         name="patterns")
    x, skips = inputs, []
    for i in range(spec.depth):
        x = _double(x, w[i], f"enc{i}")
        skips.append(x)
        x = layers.AveragePooling2D(2, name=f"enc{i}_pool")(x)
    x = _double(x, w[-1], "bottleneck")
    flat = layers.Permute((2, 1), name="mix_to_positions")(layers.Reshape((s * s, w[-1]), name="mix_flat")(x))
    mixed = layers.Dense(s * s, name="mix_dense")(flat)
    mixed = layers.Reshape((s, s, w[-1]), name="mix_back")(layers.Permute((2, 1), name="mix_to_channels")(mixed))
    x = layers.Add(name="mix_add")([x, mixed])
    for i in reversed(range(spec.depth)):
        x = layers.UpSampling2D(2, interpolation="nearest", name=f"dec{i}_up")(x)
        x = layers.Concatenate(name=f"dec{i}_cat")([x, skips[i]])
        x = _double(x, w[i], f"dec{i}")
    maps = layers.Conv2D(spec.out_channels, 1, dtype="float32", name="head")(x)
    return keras.Model(inputs, maps, name=spec.name)

"""Keras ResNets built from the shared `ResNetSpec`, the same networks as `stemdl.stfc.resnet`.

v1.5 layout (stride on the 3x3 convolution of a bottleneck), convolutions without bias,
a 1x1 projection (conv + BN) whenever the shape changes, torch-style symmetric padding
(explicit ZeroPadding2D + "valid", because Keras "same" pads stride-2 convolutions
asymmetrically) and torch's BN constants (momentum 0.9 in Keras terms, eps 1e-5), so
trainable parameter counts equal `trainable_parameter_count(spec, ...)` for every depth
and, with torch's weights copied in, the logits equal torch's (tests/test_modeldiffs.py).
One framework difference stays: Keras averages the biased batch variance into the
moving variance, torch the unbiased one (a factor n/(n-1), n = batch x H x W).
The ORNL head adds dropout on the pooled features before the logits (no parameters).
"""

from __future__ import annotations

import keras
from keras import layers

from stemdl.common.modelspec import ResNetSpec, resnet_spec

_BN = {"momentum": 0.9, "epsilon": 1e-5}


def _conv(x, filters: int, kernel: int, stride: int, name: str):
    pad = kernel // 2
    if pad:
        x = layers.ZeroPadding2D(pad, name=f"{name}_pad")(x)
    return layers.Conv2D(filters, kernel, strides=stride, padding="valid", use_bias=False,
                         kernel_initializer="he_normal", name=name)(x)


def _bn(x, name: str):
    return layers.BatchNormalization(name=name, **_BN)(x)


def _block(x, spec: ResNetSpec, cin: int, width: int, stride: int, name: str):
    cout = width * spec.expansion
    shortcut = x
    if spec.block == "basic":
        y = layers.ReLU(name=f"{name}_relu1")(_bn(_conv(x, width, 3, stride, f"{name}_conv1"), f"{name}_bn1"))
        y = _bn(_conv(y, width, 3, 1, f"{name}_conv2"), f"{name}_bn2")
    else:
        y = layers.ReLU(name=f"{name}_relu1")(_bn(_conv(x, width, 1, 1, f"{name}_conv1"), f"{name}_bn1"))
        y = layers.ReLU(name=f"{name}_relu2")(_bn(_conv(y, width, 3, stride, f"{name}_conv2"), f"{name}_bn2"))
        y = _bn(_conv(y, cout, 1, 1, f"{name}_conv3"), f"{name}_bn3")
    if stride != 1 or cin != cout:
        shortcut = _bn(_conv(x, cout, 1, stride, f"{name}_proj"), f"{name}_proj_bn")
    return layers.ReLU(name=f"{name}_out")(layers.Add(name=f"{name}_add")([y, shortcut]))


def build_resnet(
    depth: int = 50,
    in_channels: int = 1,
    num_classes: int = 231,
    dropout: float = 0.5,
    image_size: int | None = None,
) -> keras.Model:
    """ResNet-`depth`: (N, H, W, in_channels) -> (N, num_classes) float32 logits.

    `image_size` None accepts any spatial size. Under a mixed-precision policy the
    logits layer still computes in float32 (numerically safe softmax/CE).
    """
    spec = resnet_spec(depth)
    inputs = keras.Input(shape=(image_size, image_size, in_channels), name="patterns")
    x = _conv(inputs, spec.stem_width, spec.stem_kernel, 2, "stem_conv")
    x = layers.ReLU(name="stem_relu")(_bn(x, "stem_bn"))
    # inputs to the pool are >= 0 after ReLU, so zero padding equals torch's -inf padding
    x = layers.ZeroPadding2D(1, name="stem_pool_pad")(x)
    x = layers.MaxPooling2D(3, strides=2, name="stem_pool")(x)
    cin = spec.stem_width
    for stage, (blocks, width) in enumerate(zip(spec.stage_blocks, spec.stage_widths, strict=True)):
        for b in range(blocks):
            stride = 2 if (stage > 0 and b == 0) else 1
            x = _block(x, spec, cin, width, stride, f"s{stage + 1}b{b + 1}")
            cin = width * spec.expansion
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    if dropout > 0:
        x = layers.Dropout(dropout, name="dropout")(x)
    logits = layers.Dense(num_classes, dtype="float32", name="logits")(x)
    return keras.Model(inputs, logits, name=f"resnet{spec.depth}")


def trainable_parameters(model: keras.Model) -> int:
    """Number of trainable scalars (BN moving statistics excluded)."""
    return int(sum(int(v.numpy().size) for v in model.trainable_variables))

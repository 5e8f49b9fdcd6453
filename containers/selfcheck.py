"""Image self-check: import the framework and run a one-batch forward pass on CPU.

Run by the Apptainer `%test` section and by `containers/smoke.sh`:
    python /opt/stemdl/share/stemdl/selfcheck.py stfc|ornl
Prints one line with the versions and the logits' shape; exits non-zero on any failure.
The network is the project's own builder (ResNet-18, the smallest spec), so a broken
install of stemdl-bench fails here, not just a broken framework.
"""

from __future__ import annotations

import os
import sys

import numpy as np

BATCH, SIZE = 2, 64


def check_stfc() -> str:
    import torch

    from stemdl.common.tasks.classify.facts import NUM_LOGITS
    from stemdl.stfc.resnet import build_resnet

    torch.manual_seed(0)
    model = build_resnet(18).eval()
    x = torch.rand(BATCH, 3, SIZE, SIZE)
    with torch.no_grad():
        y = model(x)
    assert tuple(y.shape) == (BATCH, NUM_LOGITS), y.shape
    assert bool(torch.isfinite(y).all()), "non-finite logits"
    cuda = torch.cuda.is_available()
    return f"torch {torch.__version__} (CUDA available: {cuda}), batch {tuple(x.shape)}"


def check_ornl() -> str:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    from stemdl.common.tasks.classify.facts import NUM_LOGITS
    from stemdl.ornl.resnet import build_resnet

    with tf.device("/CPU:0"):
        model = build_resnet(18, in_channels=1, image_size=SIZE)
        x = np.random.default_rng(0).random((BATCH, SIZE, SIZE, 1), dtype=np.float32)
        y = model(x, training=False).numpy()
    assert y.shape == (BATCH, NUM_LOGITS), y.shape
    assert np.isfinite(y).all(), "non-finite logits"
    gpus = len(tf.config.list_physical_devices("GPU"))
    return f"tensorflow {tf.__version__} (GPUs visible: {gpus}), batch {x.shape}"


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in ("stfc", "ornl"):
        print("usage: selfcheck.py stfc|ornl", file=sys.stderr)
        return 2
    import stemdl

    impl = argv[0]
    frameworks = check_stfc() if impl == "stfc" else check_ornl()
    print(f"selfcheck {impl}: OK stemdl-bench {stemdl.__version__}, {frameworks} "
          f"-> ({BATCH}, 231) finite logits on CPU")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

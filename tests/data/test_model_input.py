"""Both implementations see the same network input whatever the layout."""

import numpy as np

from stemdl.common.data.samples import FirstN
from stemdl.common.data.transform import input_size, model_input, transform_stack


def test_preprocessed_layouts_pass_unchanged():
    stack = np.random.default_rng(0).uniform(0, 255, (3, 128, 128)).astype(np.float32)
    for layout in ("npz", "packed"):
        out = model_input(stack, layout)
        assert out.dtype == np.float32
        np.testing.assert_array_equal(out, stack)


def test_raw_gets_the_documented_transform_single_and_batched():
    rng = np.random.default_rng(1)
    raw = (rng.random((2, 3, 512, 512)) ** 8).astype(np.float32)
    single = model_input(raw[0], "raw")
    assert single.shape == (3, 128, 128) and input_size("raw", 512) == 128
    np.testing.assert_allclose(single, transform_stack(raw[0], 128), rtol=1e-6)
    batch = model_input(raw, "raw")
    assert batch.shape == (2, 3, 128, 128)
    np.testing.assert_allclose(batch[0], single)
    small = model_input(raw[0][:, :32, :32], "raw")  # tests' tiny raw data: log scale only
    assert small.shape == (3, 32, 32) and input_size("raw", 32) == 32


def test_first_n_is_a_view():
    class Reader:
        layout, split = "npz", "train"

        def __len__(self):
            return 10

        def __getitem__(self, i):
            return i

        def labels(self):
            return np.arange(10)

        def materials(self):
            return [str(i) for i in range(10)]

        def image_shape(self):
            return (3, 4, 4)

    view = FirstN(Reader(), 3)
    assert len(view) == 3 and view[-1] == 2 and list(view.labels()) == [0, 1, 2]
    assert view.materials() == ["0", "1", "2"] and view.image_shape() == (3, 4, 4)

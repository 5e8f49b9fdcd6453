"""Our one-line errors out of TensorFlow's: a DataError a sample raises inside a tf.data
map function (a NaN, another shape, string data) reaches the caller as a TensorFlow
OpError of some 90 lines with our message in them."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator

from stemdl.common.cli.errors import DataError

# our error as TensorFlow quotes it among its own traceback lines
_QUOTED_ERROR = re.compile(r"\b(?:DataError|StemdlError): (.+)")


@contextlib.contextmanager
def data_errors() -> Iterator[None]:
    """Within the block, a TensorFlow error that quotes one of ours is raised as that
    one-line DataError (exit 2). Imports TensorFlow only once such an error is seen, so
    entering the block does not load it (its log level is set before it loads)."""
    try:
        yield
    except Exception as err:
        if type(err).__module__.split(".")[0] != "tensorflow":
            raise
        import tensorflow as tf

        found = _QUOTED_ERROR.search(str(getattr(err, "message", err)))
        if not isinstance(err, tf.errors.OpError) or found is None:
            raise
        raise DataError(found.group(1).strip()) from None

"""Import TensorFlow without the start-up banner a user cannot act on.

TensorFlow 2.21 prints "oneDNN custom operations are on ..." (and, below
TF_CPP_MIN_LOG_LEVEL=2, the CPU-instructions note), each preceded by "All log messages
before absl::InitializeLog() ...", from C++ static initialisers while `import tensorflow`
loads its libraries. The lines come twice per run because two of the libraries it loads
(libtensorflow_framework and the Python wrapper library) each carry that initialiser;
they are written before absl logging is set up, so TF_CPP_MIN_LOG_LEVEL does not reach
them. `import_tensorflow` runs the import with file descriptor 2 captured and writes every
other line back to stderr, so warnings that matter are kept.
"""

from __future__ import annotations

import os
import sys
import tempfile
from types import ModuleType

BANNER = (
    "All log messages before absl::InitializeLog() is called are written to STDERR",
    "oneDNN custom operations are on",
    "cpu_feature_guard.cc",
    "To enable the following instructions:",
)


def is_banner(line: str) -> bool:
    return any(marker in line for marker in BANNER)


def import_tensorflow() -> ModuleType:
    """`import tensorflow` (once per process), its start-up banner left out of stderr."""
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            text = captured.read().decode("utf-8", "replace")
            kept = "".join(line for line in text.splitlines(keepends=True) if not is_banner(line))
            if kept:
                sys.stderr.write(kept)
                sys.stderr.flush()
    return tensorflow

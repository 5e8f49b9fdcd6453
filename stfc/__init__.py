"""STFC recipe on PyTorch Lightning (needs the `stfc` extra)."""

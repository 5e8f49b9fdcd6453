"""stemdl-bench: the STEMDL benchmark suite (space group from CBED stacks)."""

__version__ = "0.1.0"

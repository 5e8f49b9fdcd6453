"""stemdl-bench tests."""

"""Sub-commands of `stemdl`; each module has `register(subparsers)`."""

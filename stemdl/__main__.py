"""`python -m stemdl` is the `stemdl` command."""

from stemdl.cli import main

raise SystemExit(main())

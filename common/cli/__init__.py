"""Command-line plumbing shared by every command: entry points, user errors (one line, exit 2) and the optional extras."""

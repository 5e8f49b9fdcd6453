"""Infrastructure under every command: atomic writes, folder locks, signals, worker pools, progress lines and ranks."""

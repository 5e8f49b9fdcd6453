"""Framework-neutral STEMDL code: never imports torch or tensorflow."""

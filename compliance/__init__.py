"""STEMDL rules for the mlperf-logging compliance checker, and time-to-train scoring."""

"""The run: its configuration and bounds, threads and schedule, the run folder, the recorder, the MLPerf log, results.json, timing, the dry run and the run policy both implementations share."""

"""tqdm.tqdm replaced by a subclass that records the time of every update() (one per batch
in both ORNL training loops) and writes {"<desc>#<k>": [created, t1, t2, ...]} to
$PEER_TIMING_JSON whenever a bar closes. Display and behaviour are unchanged (a disabled
bar still records). Call install() before the code under test imports tqdm.

install_stemdl_lines(): the project's ORNL loop now draws its bars
through stemdl.common.progress.progress(), which returns its own LineProgress (not tqdm)
when stderr is not a terminal, as in these runs (stderr goes to log.txt). That class gets
the same recorder (time of every update(), dump at close), so ours ORNL is timed at the
same point as before (one update() per training step, after the step returned).
"""
import json
import os
import time

import tqdm as tqdm_mod

# "_clock": one perf_counter reading and the wall clock at the same moment, so that the
# bash harness (which notes $EPOCHREALTIME before starting the process) can place the bars'
# perf_counter times on the wall clock: start-up = first bar created - process start.
TIMES = {"_clock": [time.perf_counter(), time.time()]}


def install():
    base = tqdm_mod.tqdm

    class TimedTqdm(base):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self._peer_key = f"{kwargs.get('desc', 'loop')}#{len(TIMES)}"
            TIMES[self._peer_key] = [time.perf_counter()]

        def update(self, n=1):
            TIMES[self._peer_key].append(time.perf_counter())
            return super().update(n)

        def close(self):
            path = os.environ.get("PEER_TIMING_JSON")
            if path:
                with open(path, "w") as fh:
                    json.dump(TIMES, fh)
            return super().close()

    tqdm_mod.tqdm = TimedTqdm
    return TimedTqdm


def _dump():
    path = os.environ.get("PEER_TIMING_JSON")
    if path:
        with open(path, "w") as fh:
            json.dump(TIMES, fh)


def install_stemdl_lines():
    try:
        from stemdl.common.infra import progress as sp
    except ImportError:  # before the house moved (issue 22)
        from stemdl.common import progress as sp

    base = sp.LineProgress

    class TimedLines(base):
        def __init__(self, total, desc, unit, *args, **kwargs):
            super().__init__(total, desc, unit, *args, **kwargs)
            self._peer_key = f"{desc}#{len(TIMES)}"
            TIMES[self._peer_key] = [time.perf_counter()]

        def update(self, n=1):
            TIMES[self._peer_key].append(time.perf_counter())
            return super().update(n)

        def close(self):
            _dump()
            return super().close()

    sp.LineProgress = TimedLines
    return TimedLines

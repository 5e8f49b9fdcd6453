"""`signals_at_safe_points`: a stop that a library cannot swallow (TensorFlow did)."""

from __future__ import annotations

import os
import signal

import pytest

from stemdl.common.infra.signals import Terminated, raise_if_stopped, signals_at_safe_points


def test_safe_points_hold_a_first_signal_until_asked_and_raise_a_second_at_once():
    with pytest.raises(Terminated) as err, signals_at_safe_points():
        os.kill(os.getpid(), signal.SIGTERM)  # recorded only: the code goes on
        went_on = True
        raise_if_stopped()
        went_on = False
    assert went_on and err.value.signum == signal.SIGTERM

    with pytest.raises(KeyboardInterrupt), signals_at_safe_points():
        os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGINT)  # a second one: at once
        raise AssertionError("not reached")

    with pytest.raises(Terminated), signals_at_safe_points():
        os.kill(os.getpid(), signal.SIGTERM)  # never asked: raised as the block ends
    raise_if_stopped()  # nothing left over after the block

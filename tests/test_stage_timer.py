"""The pipeline's stage timer: the report's ``seconds`` hold the stages that finished, in order, and a
stage that fails passes its error on without leaving a time behind."""

import pytest

from mcuq.pipeline import StageTimer


def test_stages_are_recorded_in_order_and_a_failing_stage_is_not():
    timer = StageTimer()
    with timer.stage("load"):
        pass
    with timer.stage("calibrate"):
        pass
    error = ValueError("calibration refused")
    with pytest.raises(ValueError) as raised, timer.stage("verify"):
        raise error
    assert raised.value is error
    assert list(timer.seconds) == ["load", "calibrate"]
    assert all(isinstance(s, float) and s >= 0 for s in timer.seconds.values())

"""Names that say one thing each: the two calibration records are told apart, and the
older names still answer."""

from __future__ import annotations


def test_the_two_calibrations_have_different_names() -> None:
    import ponder.policies
    import ponder.router

    # The record of an adaptive arm's sampling calibration, and the lam calibrate() found.
    assert ponder.policies.SamplingCalibration.__name__ == "SamplingCalibration"
    assert ponder.router.Calibration.__name__ == "Calibration"
    assert ponder.policies.SamplingCalibration is not ponder.router.Calibration
    assert ponder.policies.Calibration is ponder.policies.SamplingCalibration  # older name
    fields = ponder.policies.SamplingPolicy.__dataclass_fields__["calibration"]
    assert "SamplingCalibration" in str(fields.type)

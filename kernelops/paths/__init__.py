"""Probability paths from source noise (t = 0) to data (t = 1) for flow matching.

``AffinePath(schedule)`` is the one path class, x_t = α_t x₁ + σ_t ε; OT, VP and VE are its
schedules (:class:`OTPath`, :class:`VPPath`, :class:`VEPath`, registered as "ot", "vp", "ve").
Third-party paths implement the :class:`ProbPath` protocol.
"""

from __future__ import annotations

from kernelops.paths.affine import AffinePath, OTPath, VEPath, VPPath
from kernelops.paths.base import PathSample, ProbPath
from kernelops.paths.schedules import (
    OTSchedule,
    Schedule,
    ScheduleOutput,
    VESchedule,
    VPSchedule,
    prediction_coefficients,
)
from kernelops.paths.time import as_time_tensor, broadcast_time, check_time_range

__all__ = [
    "AffinePath", "OTPath", "OTSchedule", "PathSample", "ProbPath", "Schedule", "ScheduleOutput",
    "VEPath", "VESchedule", "VPPath", "VPSchedule", "as_time_tensor", "broadcast_time",
    "check_time_range", "prediction_coefficients",
]

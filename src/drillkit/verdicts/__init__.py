"""Checkers that read the timeline and judge: each returns a Verdict (pass / fail / unknown)."""

from drillkit.verdicts.availability import availability
from drillkit.verdicts.base import FAIL, PASS, UNKNOWN, Verdict
from drillkit.verdicts.recovery import recovery_time
from drillkit.verdicts.sessions import sessions_lost
from drillkit.verdicts.writes import writes_lost

__all__ = ["Verdict", "PASS", "FAIL", "UNKNOWN", "availability", "recovery_time", "sessions_lost",
           "writes_lost"]

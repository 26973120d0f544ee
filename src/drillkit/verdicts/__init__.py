"""Checkers that read the timeline and judge: each returns a Verdict (pass / fail / unknown)."""

from drillkit.verdicts.availability import availability
from drillkit.verdicts.base import FAIL, PASS, UNKNOWN, Verdict
from drillkit.verdicts.budget import error_budget
from drillkit.verdicts.config_parity import config_parity
from drillkit.verdicts.drafts import drafts_lost
from drillkit.verdicts.duplicates import double_bookings, duplicates
from drillkit.verdicts.latency import answer_time, latency_by_phase
from drillkit.verdicts.notice import disruption_notice
from drillkit.verdicts.populations import availability_by_population
from drillkit.verdicts.recovery import recovery_time
from drillkit.verdicts.sessions import sessions_lost
from drillkit.verdicts.timing import detection_time, outage_window
from drillkit.verdicts.writes import writes_lost

__all__ = ["Verdict", "PASS", "FAIL", "UNKNOWN", "availability", "availability_by_population", "config_parity",
           "detection_time", "disruption_notice", "drafts_lost", "double_bookings", "duplicates", "error_budget",
           "answer_time", "latency_by_phase", "outage_window", "recovery_time", "sessions_lost", "writes_lost"]

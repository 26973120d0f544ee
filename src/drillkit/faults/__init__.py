"""The fault library: each fault injects and heals itself; see `drillkit.faults.kinds` for the kinds by name."""

from drillkit.faults.base import Fault
from drillkit.faults.kinds import FAULTS, create, register
from drillkit.faults.process import Kill, Pause, Restart, Stop
from drillkit.lab.guard import check_blast_radius
from drillkit.stack.target import Target

__all__ = ["Fault", "Target", "check_blast_radius", "Kill", "Stop", "Pause", "Restart", "FAULTS",
           "create", "register"]

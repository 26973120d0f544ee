"""The fault library: each fault injects and heals itself; see `drillkit.faults.registry` for the kinds by name."""

from drillkit.faults.base import Fault, Target, check_blast_radius
from drillkit.faults.process import Kill, Pause, Restart, Stop
from drillkit.faults.registry import FAULTS, create, register

__all__ = ["Fault", "Target", "check_blast_radius", "Kill", "Stop", "Pause", "Restart", "FAULTS",
           "create", "register"]

"""Load as data: open-loop load on the client contract, its phases and verdicts, the breaking point.

- :mod:`~drillkit.load.spec`: the ``load:`` section (shape, rate, actions, bounds) -> :class:`LoadSpec`
- :mod:`~drillkit.load.phases`: the named phases of a shape (before / spike ×4 / after, step N)
- :mod:`~drillkit.load.generator`: :class:`OpenLoop`, the one generator: arrivals at the shape's rate, HTTP kinds
  on an event loop, blocking clients on their worker's thread
- :mod:`~drillkit.load.actions`: user kinds and clients of the environment, by name, as actions
- :mod:`~drillkit.load.measure`: arrivals and per-phase figures read back from the timeline
- :mod:`~drillkit.load.slo`: SLO over sliding windows, early-warning lead time, surge absorption
- :mod:`~drillkit.load.search`: the breaking-point search (``search:``, ``drill capacity``)
"""

from drillkit.load.generator import Action, LoadCounts, OpenLoop
from drillkit.load.phases import Phase, phases_of
from drillkit.load.slo import AlertRule, Slo
from drillkit.load.spec import LoadSpec, parse_load

__all__ = ["OpenLoop", "Action", "LoadCounts", "LoadSpec", "parse_load", "Phase", "phases_of", "AlertRule", "Slo"]

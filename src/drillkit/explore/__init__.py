"""``drill explore``: schedules nobody wrote (DESIGN.md, "Explore").

A stack plus its promises becomes a search: the `Vocabulary` (fault kinds x targets x times and
durations, a budget, a seed) is a hypothesis strategy; a trial runs one drawn `Schedule` through a
`TrialRunner`; the promises are the property. A confirmed failure is shrunk and comes back as a
`Finding` with a scenario that ``drill run`` reproduces; `random_baseline` spends the same budget the
way a random nemesis does, for comparison.

The engine (vocabulary, schedule, strategies, guide, trial, search, baseline, finding, config) imports
only `drillkit.errors` of drillkit: the stack's topology and the trial runner are handed in
(`Topology`, `TrialRunner`), so it is proven on a simulated stack. The wiring stands on the floors
below: `topology_of` reads a `drillkit.stack.Stack`; `load_exploration` reads a scenario file and its
``explore:`` section (checked by the scenario validator, file:line on every mistake); `LabRunner` runs
each schedule as a scenario through the one drill lifecycle on an environment kept up and reset;
`run_exploration` is the door ``drill explore`` uses (and a Python one).
"""

from drillkit.explore.baseline import random_baseline, uniform_schedule
from drillkit.explore.config import ExploreConfig, parse_explore
from drillkit.explore.finding import BaselineResult, Exploration, Failure, Finding, Intermittent
from drillkit.explore.schedule import FaultDraw, Schedule, next_found_path, scenario_yaml
from drillkit.explore.search import database_path, explore, hypothesis_settings
from drillkit.explore.strategies import schedules
from drillkit.explore.targets import FaultOption, Target
from drillkit.explore.topology import Link, Role, Service, Topology
from drillkit.explore.trial import Coverage, Judgement, Progress, TrialResult, TrialRunner, Trials
from drillkit.explore.vocabulary import DEFAULT_KINDS, Budget, Pick, Vocabulary
# the wiring (after the engine: it uses it)
from drillkit.explore.stack import topology_of  # noqa: E402,I001
from drillkit.explore.section import Exploring, load_exploration  # noqa: E402
from drillkit.explore.lab import LabRunner  # noqa: E402
from drillkit.explore.door import ExploreRun, parse_budget, run_exploration  # noqa: E402

__all__ = [
    "Topology", "Service", "Link", "Role",
    "Vocabulary", "Budget", "Pick", "DEFAULT_KINDS", "Target", "FaultOption",
    "Schedule", "FaultDraw", "scenario_yaml", "next_found_path", "schedules",
    "TrialRunner", "TrialResult", "Trials", "Judgement", "Progress", "Coverage",
    "explore", "database_path", "hypothesis_settings",
    "random_baseline", "uniform_schedule",
    "Exploration", "Finding", "Failure", "Intermittent", "BaselineResult",
    "ExploreConfig", "parse_explore",
    "topology_of", "Exploring", "load_exploration", "LabRunner", "ExploreRun", "parse_budget", "run_exploration",
]

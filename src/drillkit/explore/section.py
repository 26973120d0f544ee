"""A scenario file read for ``drill explore``: the scenario (environment, users, clients, steady state,
``expect``, ...) is the base of every trial, its ``explore:`` section the vocabulary.

The scenario validator (one floor down) reads the whole file and hands the ``explore:`` section to
`check_section` with its own error factory, so a mistake in the section is one line with file:line
like any other (``explorations/shop.yaml:31: explore.targets[0]: the stack offers no target
'app-9' — fix: use one of ...``). Everything is checked before anything starts.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from drillkit.errors import ConfigError
from drillkit.explore.config import parse_explore
from drillkit.explore.schedule import Schedule, scenario_yaml
from drillkit.explore.stack import topology_of
from drillkit.explore.vocabulary import Budget, Vocabulary
from drillkit.scenario.schema import Scenario
from drillkit.scenario.validate import validate_file, validate_text
from drillkit.stack import load_stack
from drillkit.stack.model import Stack
from drillkit.yamlsrc import load_yaml, read_text_file

__all__ = ["Exploring", "check_section", "load_exploration", "base_for", "SECTIONS"]


def check_section(raw: Any, *, error: Any, stack: Stack, max_nodes: int | None) -> Vocabulary:
    """The ``explore:`` section of a scenario, checked against its stack: the `Vocabulary`."""
    config = parse_explore(raw, where="explore", error=error)
    return config.vocabulary(topology_of(stack), max_nodes=max_nodes)


#: what `validate_file(..., sections=SECTIONS)` needs to check a scenario's explore: section too
SECTIONS = {"explore": check_section}


@dataclass
class Exploring:
    """An exploration, loaded and checked: the file, its scenario (validated with the switches), the
    base every trial's scenario is made from (the file's top level, switches merged in), the stack and
    the vocabulary (budget and seed overridden as asked)."""

    path: Path
    scenario: Scenario
    base: dict[str, Any]
    stack: Stack
    vocabulary: Vocabulary
    switches: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """The exploration's name in reports: ``explore <file>``."""
        return f"explore {self.path}"


def plain(value: Any) -> Any:
    """YAML as loaded with line numbers (`drillkit.yamlsrc.Map`/`Seq`) as plain dicts and lists, so it
    can be copied and written again."""
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def _with_switches(base: Mapping[str, Any], switches: Mapping[str, str]) -> dict[str, Any]:
    out = {k: v for k, v in base.items()}
    if switches:
        merged = dict(base.get("switches") or {})
        merged.update(switches)
        out["switches"] = merged
    return out


def load_exploration(path: str | os.PathLike, *, switches: Mapping[str, str] | None = None,
                     budget: Budget | None = None, seed: int | None = None) -> Exploring:
    """Read and check a scenario file with an ``explore:`` section (`ConfigError`, one line, on the
    first problem): the scenario as the validator returns it, its stack, the vocabulary."""
    path = Path(path)
    scenario = validate_file(path, sections=SECTIONS)
    if scenario.explore is None:
        raise ConfigError("the scenario has no explore: section", file=str(path), field="explore",
                          fix="add `explore: {}` (every default: every kind on every target the stack offers), "
                              "or see docs/explore.md")
    raw = plain(load_yaml(read_text_file(path, what="a scenario"), str(path)))
    switches = {str(k): str(v) for k, v in (switches or {}).items()}
    base = _with_switches(raw, switches)
    if switches:   # the same file with the switches asked for: each must be the environment's
        _check_switches(load_stack(scenario.environment), switches)
        scenario = validate_text(scenario_yaml(base), path, sections=SECTIONS)
    try:
        Schedule(()).to_scenario(base)      # what no generated schedule can follow (a search, runbooks after faults)
    except ConfigError as exc:
        raise ConfigError(exc.message.removeprefix(f"{exc.field}: ") if exc.field else exc.message, file=str(path),
                          field=exc.field, fix=exc.fix) from None
    vocabulary: Vocabulary = scenario.sections["explore"]
    changes: dict[str, Any] = {}
    if budget is not None:
        changes["budget"] = budget
    if seed is not None:
        changes["seed"] = seed
    if changes:
        vocabulary = vocabulary.with_(**changes)
    stack = load_stack(scenario.environment, scenario.switches)
    return Exploring(path=path, scenario=scenario, base=base, stack=stack, vocabulary=vocabulary,
                     switches=dict(scenario.switches))


def _check_switches(stack: Stack, switches: Mapping[str, str]) -> None:
    by_variable = {sw.variable: n for n, sw in stack.switches.items()}
    for name, value in switches.items():
        declared = name if name in stack.switches else by_variable.get(name)
        if declared is not None and value not in stack.switches[declared].choices:
            raise ConfigError(f"switch {name}={value!r} is not a choice of {stack.name}", field="--switch",
                              fix=f"use one of {', '.join(stack.switches[declared].choices)}")
        if declared is None and not stack.accepts_switch(name):
            raise ConfigError(f"environment {stack.name!r} has no switch {name!r}", field="--switch",
                              fix=f"use {', '.join(stack.switches) or 'no switch'}")


def base_for(exploring: Exploring, directory: str | os.PathLike) -> dict[str, Any]:
    """The base scenario as a file in ``directory`` must say it: an environment given as a path
    relative to the exploration file is made relative to ``directory`` (a name or an absolute path
    stays as it is), so the written finding runs where it is written."""
    base = copy.deepcopy(dict(exploring.base))
    ref = base.get("environment")
    if isinstance(ref, str) and ("/" in ref or ref.endswith((".yaml", ".yml"))) and not os.path.isabs(ref):
        target = Path(exploring.scenario.environment)
        base["environment"] = os.path.relpath(target, Path(directory).resolve())
    return base

"""pytest collection of YAML scenarios (loaded by drillkit's pytest plugin when present).

A scenario file becomes one test item that requests the same ``drill`` fixture as Python drills and
carries the ``drill`` marker (environment, switches, stack, fault, scenario, severity), so environment
choice, reuse, Allure labels, charts and the summary work the same. The file collector is a
`pytest.Module` subclass because drillkit's fixtures are module-scoped (one environment per file);
its module object is a synthetic, empty namespace — nothing is imported.

A file that does not validate is a collection error showing the one-line `ConfigError`. A file that
only explores (an ``explore:`` section, no faults) is collected as skipped: ``drill explore`` runs it.
"""

from __future__ import annotations

import types
from pathlib import Path
from typing import Any, Iterable

import pytest

from drillkit.drill import DrillFailed
from drillkit.errors import ConfigError, DrillkitError
from drillkit.scenario.model import load_scenario, looks_like_scenario
from drillkit.scenario.runner import run_scenario

__all__ = ["ScenarioFile", "ScenarioItem"]


def pytest_collect_file(file_path: Path, parent: pytest.Collector):
    """A scenario; and any YAML file named on the command line (`pytest empty.yaml`), so it gets its
    one line — empty, binary, a FIFO, no `scenario:` — instead of pytest's "not found"."""
    if looks_like_scenario(file_path) or (file_path.suffix in (".yaml", ".yml")
                                          and parent.session.isinitpath(file_path)):
        return ScenarioFile.from_parent(parent, path=file_path)
    return None


class ScenarioFile(pytest.Module):
    """One scenario file; validated when collected, before anything starts."""

    def _getobj(self) -> types.ModuleType:
        mod = types.ModuleType(f"drillkit_scenario_{self.path.stem}")
        mod.__file__ = str(self.path)
        return mod

    def collect(self) -> Iterable[pytest.Item]:
        try:
            scenario = load_scenario(self._display_path())
        except ConfigError as exc:
            raise self.CollectError(str(exc)) from None

        def scenario_drill(drill):
            run_scenario(scenario, drill)

        scenario_drill.__doc__ = scenario.title
        pytest.mark.drill(**scenario.marker_kwargs())(scenario_drill)
        if scenario.exploration_only:   # skipped before its fixtures: no environment is started
            pytest.mark.skip(reason=f"an exploration, not a drill: run `drill explore {self._display_path()}`"
                             )(scenario_drill)
        yield ScenarioItem.from_parent(self, name=self.path.stem, callobj=scenario_drill, scenario=scenario)

    def _display_path(self) -> Path:
        try:
            return self.path.relative_to(self.config.invocation_params.dir)
        except ValueError:
            return self.path


class ScenarioItem(pytest.Function):
    """A scenario as a pytest test: same fixtures as a Python drill, one-line failure messages."""

    def __init__(self, *args: Any, scenario: Any = None, **kw: Any):
        super().__init__(*args, **kw)
        self.scenario = scenario

    def reportinfo(self):
        line = self.scenario.faults[0].line if self.scenario and self.scenario.faults else None
        return self.path, (line - 1) if line else None, f"scenario: {self.scenario.title if self.scenario else self.name}"

    def repr_failure(self, excinfo):
        if isinstance(excinfo.value, (DrillFailed, DrillkitError)) and not self.config.getoption("fulltrace"):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

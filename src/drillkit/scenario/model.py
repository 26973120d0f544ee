"""A validated scenario: `load_scenario(path)` is the only way in. It reads and checks the whole
file (`drillkit.scenario.validate`) and raises `ConfigError` — one line with file:line, field and
fix — before anything starts. What it returns is plain data (`drillkit.scenario.schema`).
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

from drillkit.scenario.schema import (
    Expectation,
    Expectations,
    FaultStep,
    Guard,
    Occurrence,
    RecoveryExpectation,
    RunbookEntry,
    Scenario,
)
from drillkit.scenario.validate import validate_file

__all__ = ["Scenario", "FaultStep", "Occurrence", "Guard", "RecoveryExpectation", "Expectation", "RunbookEntry",
           "Expectations", "load_scenario", "looks_like_scenario"]


def looks_like_scenario(path: Path) -> bool:
    """Under a `scenarios` folder, or a YAML file with a top-level `scenario:` key."""
    if path.suffix not in (".yaml", ".yml"):
        return False
    if "scenarios" in path.parts[:-1]:
        return True
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):   # a FIFO or device: never opened (it could block)
            return False
        with open(path, encoding="utf-8", errors="replace") as fh:
            head = fh.read(65536)
    except OSError:
        return False
    return re.search(r"^scenario\s*:", head, re.M) is not None


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file; `ConfigError` (one line) on the first problem."""
    return validate_file(Path(path))

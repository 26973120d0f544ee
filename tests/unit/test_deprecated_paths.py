"""Old module paths (drillkit 0.1) still import, as the new module under its old name, with a
DeprecationWarning that names the new path — so plug-ins and scripts written for 0.1 keep working."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

from drillkit.deprecated import MOVED


@pytest.mark.parametrize("old", sorted(MOVED))
def test_an_old_path_is_the_new_module_with_a_warning(old):
    code = (f"import warnings, importlib\n"
            f"with warnings.catch_warnings(record=True) as w:\n"
            f"    warnings.simplefilter('always')\n"
            f"    old = importlib.import_module({old!r})\n"
            f"new = importlib.import_module({MOVED[old]!r})\n"
            f"assert old is new, (old, new)\n"
            f"said = [str(x.message) for x in w if issubclass(x.category, DeprecationWarning)]\n"
            f"assert any({MOVED[old]!r} in s for s in said), said\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr


def test_documented_old_imports_still_work():
    """What docs of 0.1 told users to write."""
    r = subprocess.run([sys.executable, "-W", "ignore::DeprecationWarning", "-c",
                        "from drillkit.plugins import StackPlugin, plugin_for\n"
                        "from drillkit.truth import GroundTruth\n"
                        "from drillkit.roles import role_nodes, resolve_role\n"
                        "from drillkit.scenario.model import load_scenario\n"
                        "from drillkit.faults.base import Target\n"
                        "import drillkit.stack as s\n"
                        "assert StackPlugin is s.StackPlugin and GroundTruth is s.GroundTruth\n"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr


def test_every_new_path_exists():
    for new in MOVED.values():
        importlib.import_module(new)

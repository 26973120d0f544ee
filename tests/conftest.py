"""Shared test settings: the pytester plugin for testing the plugin as users run it, and the suite on
parallel pytest-xdist workers (`drill test` runs ``-n 2 --dist loadfile --no-loadscope-reorder``):

- each test module runs on one worker (``loadfile``; not ``loadgroup``, whose groups pytest-xdist 3.8
  writes into a node id field pytest 9 no longer reads): its module-scoped environments start once;
- modules with a test marked ``alone`` first, then the longest lab modules (their measured seconds
  below; a module not in the table counts LAB_TEST_S per test); the unit tests fill the gaps at the end;
- a test marked ``alone`` (CPU-heavy load, a verdict that a busy machine would move) runs with no
  other test beside it: it takes the suite's lock exclusively, every other test shares it;
- when lab tests are selected, the images of every stack of the repository are built before the first
  test (``drill images``, cached by content: seconds when nothing changed), so that no image build
  (a Debian rootfs, apt in a chroot) runs beside a drill on a fresh machine — the CI runner built them
  during the suite, this machine had them from earlier runs. DRILLKIT_TEST_PREBUILD=0 leaves it out.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

# seconds each lab module took on one process (--durations=0 of a full run, updated for this branch's
# changes: the swarm's interrupt no longer waits out its drill, the catalogue's sound drills share one
# start-up, the 11 April pair has a reference morning); only an order, never a limit
LAB_SECONDS = {
    "test_catalogue.py": 300, "test_registry_change_drills.py": 290, "test_swarm_backend.py": 250,
    "test_load_drills.py": 170, "test_patroni.py": 160, "test_outcomes.py": 150, "test_node_kill_drill.py": 130,
    "test_load_capacity.py": 75, "test_lab_lifecycle.py": 65, "test_ci_script.py": 65,
    "test_identity_stack.py": 65, "test_dualdc_drill.py": 60, "test_registry_defects.py": 50,
    "test_library_loans.py": 50, "test_registry_stack.py": 45, "test_faults_resources.py": 40,
    "test_stack_contract.py": 37, "test_config_parity.py": 35, "test_registry_runbook.py": 33,
    "test_db_failover_drill.py": 32, "test_fault_heal.py": 26, "test_adhoc_attach.py": 26,
    "test_change_faults.py": 25, "test_faults_network.py": 24, "test_booking_stack.py": 20,
    "test_registry_replication.py": 18, "test_journeys_registry.py": 11,
    # new on main, not yet measured in a full run here: from their commits (GitLab's pipeline 126 s and
    # act's), and a Patroni pair's start-up
    "test_ci_templates_run.py": 230, "test_findings_lab.py": 100,
    # the edges of issue 16 (edgelab: five environments, three of them a rollout leaves as it is; 81 s)
    "test_edges.py": 80,
    # explore-wire: two drill explore runs of library-loans (16 and 4 trials) and a drill run, 92 s alone
    "test_explore_lab.py": 95,
}
LAB_TEST_S = 20

ROOT = Path(__file__).resolve().parents[1]
# the stacks the lab tests bring up: their images are built before the suite (pytest_sessionstart)
IMAGE_STACKS = ("environments/*/compose.yaml", "examples/*/environments/*/compose.yaml",
                "tests/lab/environments/*/compose.yaml", "tests/lab/environments/*/*/compose.yaml")


def _lab_module(item: pytest.Item) -> str | None:
    path = Path(str(item.fspath))
    return path.name if path.parent.name == "lab" and path.parent.parent.name == "tests" else None


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--long", action="store_true", default=None,
                     help="also run the tests marked long (the scheduled suite, .ci/run-long); "
                          "ini: drillkit_long_tests")
    parser.addini("drillkit_long_tests", type="bool", default=False,
                  help="run the tests marked long too (as --long)")


def _long_tests(config: pytest.Config) -> bool:
    """--long, else the ini twin, else $DRILLKIT_TEST_LONG (1/true/yes)."""
    given = config.getoption("long")
    if given is not None:
        return bool(given)
    if config.getini("drillkit_long_tests"):
        return True
    return os.environ.get("DRILLKIT_TEST_LONG", "").strip().lower() in ("1", "true", "yes")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # the long tier: proofs the fast suite makes on a smaller drill too (docs/testing.md); deselected,
    # and said so in the summary, unless asked for
    if not _long_tests(config):
        long = [it for it in items if it.get_closest_marker("long") is not None]
        if long:
            config.hook.pytest_deselected(items=long)
            items[:] = [it for it in items if it.get_closest_marker("long") is None]
        config.stash[_long_deselected] = len(long)
    counts: dict[str, int] = {}
    for item in items:
        module = _lab_module(item)
        if module:
            counts[module] = counts.get(module, 0) + 1

    def weight(item: pytest.Item) -> float:
        module = _lab_module(item)
        return LAB_SECONDS.get(module, LAB_TEST_S * counts[module]) if module else 0.0
    # modules with a test that runs alone go first: later, its worker would idle until the test beside
    # it ends (a catalogue run takes minutes); first, both workers take turns with nothing to wait for
    alone = {str(item.fspath) for item in items if item.get_closest_marker("alone") is not None}
    order = {id(item): i for i, item in enumerate(items)}
    items.sort(key=lambda it: (str(it.fspath) not in alone, -weight(it), order[id(it)]))   # stable per module


def pytest_configure(config: pytest.Config) -> None:
    """The xdist controller makes a folder for the suite's lock (handed to its workers, removed at the end)."""
    if not hasattr(config, "workerinput") and (getattr(config.option, "numprocesses", None) or 0):
        folder = tempfile.mkdtemp(prefix="drillkit-tests-")
        config.stash[_lock_dir] = folder
        config.add_cleanup(lambda: shutil.rmtree(folder, ignore_errors=True))


def _lab_selected(config: pytest.Config) -> bool:
    """A path given to pytest is tests/lab, inside it, or holds it (tests/, the repository)."""
    lab = ROOT / "tests" / "lab"
    for arg in config.args or [str(config.rootpath)]:
        path = (config.invocation_params.dir / arg.split("::")[0]).resolve()
        if path == lab or lab in path.parents or path in lab.parents:
            return True
    return False


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    """Before the xdist workers start (the controller, or the only process): build the lab's images."""
    config = session.config
    if (hasattr(config, "workerinput") or config.option.collectonly or not _lab_selected(config)
            or os.environ.get("DRILLKIT_TEST_PREBUILD", "1").strip() == "0"):
        return
    from drillkit.cli import main as drill   # deferred: the unit tests' own runs need no lab
    from drillkit.errors import DrillkitError
    from drillkit.lab.backends.swarm.cluster import ensure_node_image
    stacks = sorted(str(p.parent) for pattern in IMAGE_STACKS for p in ROOT.glob(pattern))
    capture = config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        print(f"tests: building the images of {len(stacks)} stacks before the suite (cached by content; "
              "DRILLKIT_TEST_PREBUILD=0 leaves it out)", file=sys.stderr, flush=True)
        t0 = time.monotonic()
        code = drill(["images", *stacks])
        if code == 0:   # the Swarm backend's nodes (Docker-in-Docker), else built by the first Swarm test
            try:
                ensure_node_image(progress=lambda line: print(line, file=sys.stderr, flush=True))
            except DrillkitError as exc:
                print(f"tests: the swarm node image: {exc}", file=sys.stderr, flush=True)
                code = exc.exit_code
        print(f"tests: images ready in {time.monotonic() - t0:.0f} s" if code == 0 else
              f"tests: building the images failed (exit {code}, above): the lab tests will say so",
              file=sys.stderr, flush=True)


_lock_dir = pytest.StashKey[str]()
_long_deselected = pytest.StashKey[int]()


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    if _long_tests(config) or hasattr(config, "workerinput"):
        return
    n = config.stash.get(_long_deselected, 0)
    if n:
        terminalreporter.write_line(f"{n} test(s) of the long tier were not run: the scheduled suite runs "
                                    "them (.ci/run-long, or ./drill test -- --long)")


def pytest_sessionfinish(session: pytest.Session) -> None:
    """An xdist worker tells the controller how many long tests it left out (each collects them all)."""
    out = getattr(session.config, "workeroutput", None)
    if out is not None:
        out["drillkit_long_deselected"] = session.config.stash.get(_long_deselected, 0)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error) -> None:     # pytest-xdist's hook, on the controller
    n = getattr(node, "workeroutput", {}).get("drillkit_long_deselected", 0)
    node.config.stash[_long_deselected] = max(n, node.config.stash.get(_long_deselected, 0))


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node) -> None:      # pytest-xdist's hook, on the controller, for each worker
    folder = node.config.stash.get(_lock_dir, None)
    if folder:
        node.workerinput["drillkit_lock_dir"] = folder


def _lock_files(config: pytest.Config) -> tuple[Path, Path] | None:
    """The suite's lock and its turnstile, shared by the workers of one run (none without xdist)."""
    folder = getattr(config, "workerinput", {}).get("drillkit_lock_dir")
    if not folder:
        return None
    return Path(folder) / "suite.lock", Path(folder) / "suite.turn"


@contextlib.contextmanager
def _flocked(path: Path, mode: int):
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o644)
    try:
        fcntl.flock(fd, mode)
        yield
    finally:
        os.close(fd)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem):
    files = _lock_files(item.config)
    if files is None:
        return (yield)
    lock, turn = files
    alone = item.get_closest_marker("alone") is not None
    # the turnstile: a test waiting to run alone holds it, so no shared holder slips in before it
    with _flocked(turn, fcntl.LOCK_EX):
        fd = os.open(lock, os.O_CREAT | os.O_RDWR, 0o644)
        fcntl.flock(fd, fcntl.LOCK_EX if alone else fcntl.LOCK_SH)
    try:
        return (yield)
    finally:
        os.close(fd)

"""drillkit's pytest plugin (entry point ``pytest11``): the ``drill`` marker, options with ini twins,
fixtures that hand a drill a running environment, and cleanup that always runs. A drill is set up,
finished and reported through the one lifecycle (`drillkit.drill.drill_run`) and the one report
pipeline (`drillkit.report.pipeline`).

Precedence for every setting: marker > command line > environment variable > ini file.
"""

from __future__ import annotations

import importlib.util
import os
import re
import signal
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pytest

from drillkit import labels as L
from drillkit.adhoc import AdhocRun
from drillkit.drill import Drill, drill_run
from drillkit.drill import outcome_of as drill_outcome
from drillkit.errors import ConfigError, DrillInterrupted
from drillkit.lab.attach import attach
from drillkit.lab.backend import backend_name
from drillkit.lab.engine import client, engine_facts
from drillkit.lab.environment import Environment
from drillkit.lab.gc import collect
from drillkit.report import pipeline
from drillkit.report.junit import mark_unjudged
from drillkit.stack import load_stack

__all__ = ["DrillSettings"]

MARKER = ("drill(environment=None, *, switches=None, stack=None, fault=None, scenario=None, "
          "severity='normal', target=None, source=None, backend=None, findings=None): a failover drill "
          "against a lab environment; switches picks defect variants (e.g. {'sessions': 'node-local'}), "
          "fault/scenario/severity label the Allure report, source names the incident it rehearses (`drill "
          "list` shows it), backend pins docker or swarm, findings='fail' makes what the timeline shows "
          "unasked fail the drill")

OPTIONS = [
    # (cli, ini, env, type, default, help)
    ("--drill-env", "drill_environment", "DRILLKIT_ENVIRONMENT", "string", "",
     "environment for drills whose marker names none (a folder of environments/ or a compose.yaml); "
     "no default: such a drill is an error without it"),
    ("--drill-switch", "drill_switches", "DRILLKIT_SWITCHES", "linelist", [],
     "defect switch NAME=VALUE applied to every drill's environment (repeatable)"),
    ("--keep-env-on-failure", "drill_keep_env_on_failure", "DRILLKIT_KEEP_ENV_ON_FAILURE", "bool", False,
     "leave a failed drill's environment running for debugging (removed by `drill gc` once this run ends)"),
    ("--probe-interval", "drill_probe_interval", "DRILLKIT_PROBE_INTERVAL", "string", "0.05",
     "seconds between probe requests (default 0.05)"),
    ("--drill-report-dir", "drill_report_dir", "DRILLKIT_REPORT_DIR", "string", "reports",
     "where timelines, charts and the summary are written"),
    ("--drill-attach", "drill_attach", "DRILLKIT_ATTACH", "string", "",
     "run the drills against the environment of a run already up (`drill up`): it is used as it is "
     "and never removed"),
    ("--drill-findings", "drill_findings", "DRILLKIT_FINDINGS", "string", "report",
     "what the timeline shows that no verdict asked about (docs/verdicts.md, Findings): report (said in every "
     "report, default), fail (critical and warning findings fail the drill) or critical; a drill marker's "
     "findings= and a scenario's findings: win"),
    ("--drill-backend", "drill_backend", "DRILLKIT_BACKEND", "string", "docker",
     "where environments run: docker (containers on one engine) or swarm (Docker Swarm services, "
     "one Docker-in-Docker node per zone); a drill marker's backend= wins"),
]


# Environments are shared across the modules of a session (a registry brought up once for every drill
# that wants it with the same switches), reset between drills; at most POOL_MAX are up at once.
POOL_MAX = 2


@dataclass
class DrillSettings:
    environment: str = ""                               # for drills whose marker names none
    switches: dict[str, str] = field(default_factory=dict)
    keep_env_on_failure: bool = False
    probe_interval: float = 0.05
    report_dir: Path = Path("reports")
    attach: str = ""                                    # run id of an environment already up
    used: dict = field(default_factory=dict)            # environment name -> spec, for the report
    backend: str = "docker"
    findings: str = "report"                            # report | fail | critical
    results: list = field(default_factory=list)
    environments: dict = field(default_factory=dict)   # (env, switches, backend) -> Environment, in use order
    keep_for_later: bool = True                         # an environment a later module uses stays up
    wants: dict = field(default_factory=dict)           # environments key -> the markers' keys it served
    pool_max: int = POOL_MAX                            # environments up at once, at most
    kept: list = field(default_factory=list)
    progress_sinks: list[Callable[[str], None]] = field(default_factory=list)   # e.g. drill run's event stream


settings_key = pytest.StashKey[DrillSettings]()
_report_key = pytest.StashKey[dict]()
_drill_key = pytest.StashKey[Drill]()
_phases_key = pytest.StashKey[dict]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("drillkit", "drillkit failover drills")
    for cli, ini, env, typ, default, help_ in OPTIONS:
        if typ == "bool":
            group.addoption(cli, action="store_true", default=None, dest=ini, help=help_)
        elif typ == "linelist":
            group.addoption(cli, action="append", default=None, dest=ini, metavar="NAME=VALUE", help=help_)
        else:
            group.addoption(cli, action="store", default=None, dest=ini, help=help_)
        parser.addini(ini, help=help_, type=typ, default=default)


def _setting(config: pytest.Config, ini: str, env: str, typ: str) -> tuple[Any, str]:
    cli = config.getoption(ini)
    if cli is not None:
        return cli, f"command line option for {ini}"
    if env in os.environ:
        raw = os.environ[env]
        if typ == "bool":
            return raw.lower() in ("1", "true", "yes", "on"), f"environment variable {env}"
        if typ == "linelist":
            return [s for s in re.split(r"[,\s]+", raw) if s], f"environment variable {env}"
        return raw, f"environment variable {env}"
    return config.getini(ini), f"ini option {ini}"


def _parse_switches(items: list[str], origin: str) -> dict[str, str]:
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name or not value:
            raise ConfigError(f"switch {item!r} is not NAME=VALUE", field=origin,
                              fix="write e.g. sessions=node-local")
        out[name.strip()] = value.strip()
    return out


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER)
    if importlib.util.find_spec("drillkit.scenario.collect"):   # YAML scenarios: their own collector
        config.pluginmanager.import_plugin("drillkit.scenario.collect")
    s = DrillSettings()
    vals = {}
    for cli, ini, env, typ, default, help_ in OPTIONS:
        vals[ini] = _setting(config, ini, env, typ)
    s.environment = str(vals["drill_environment"][0])
    s.switches = _parse_switches(list(vals["drill_switches"][0] or []), vals["drill_switches"][1])
    s.keep_env_on_failure = bool(vals["drill_keep_env_on_failure"][0])
    raw, origin = vals["drill_probe_interval"]
    try:
        s.probe_interval = float(raw)
        if not 0.005 <= s.probe_interval <= 10:
            raise ValueError
    except ValueError:
        raise pytest.UsageError(str(ConfigError(f"probe interval {raw!r} is not 0.005..10 seconds",
                                                field=origin, fix="e.g. --probe-interval 0.05"))) from None
    s.report_dir = Path(vals["drill_report_dir"][0])
    s.attach = str(vals["drill_attach"][0] or "").strip()
    raw, origin = vals["drill_findings"]
    s.findings = str(raw or "report").strip().lower()
    if s.findings not in ("report", "fail", "critical"):
        raise pytest.UsageError(str(ConfigError(f"findings {raw!r} is not report, fail or critical", field=origin,
                                                fix="e.g. --drill-findings fail")))
    raw, origin = vals["drill_backend"]
    try:
        s.backend = backend_name(str(raw or "docker"), origin)
    except ConfigError as exc:
        raise pytest.UsageError(str(exc)) from None
    config.stash[settings_key] = s
    L.set_origin(s.report_dir)   # the runs of this session are labelled as made for its report folder
    config.add_cleanup(lambda: L.set_origin(None))

    # SIGTERM (CI cancel, `kill`) must run the same teardown as Ctrl-C.
    if hasattr(signal, "SIGTERM") and threading_main():
        previous = signal.getsignal(signal.SIGTERM)

        def on_term(signum, frame):
            raise KeyboardInterrupt("SIGTERM")
        signal.signal(signal.SIGTERM, on_term)
        config.add_cleanup(lambda: signal.signal(signal.SIGTERM, previous))
    config.add_cleanup(lambda: _teardown_all(s))


def threading_main() -> bool:
    return threading.current_thread() is threading.main_thread()


def _teardown_all(s: DrillSettings) -> None:
    """Safety net: whatever environment is still up when pytest ends goes (kept ones stay)."""
    for key, env in list(s.environments.items()):
        if env not in s.kept:
            try:
                env.down()
            except Exception as exc:  # pragma: no cover - reported, never hidden
                sys.stderr.write(f"drillkit: teardown of {env.run_id} failed: {exc}\n")
        s.environments.pop(key, None)


def pytest_sessionstart(session: pytest.Session) -> None:
    """Reap objects of earlier runs made for this session's report folder whose process is gone
    (never anything without drillkit labels, nor other people's runs: `drill gc` reaps those);
    ``DRILLKIT_NO_GC`` turns it off. With pytest-xdist the controller reaps once before its workers
    start; a worker does not (a run of a live worker is kept anyway: its lock is held, see
    drillkit.labels.hold_run)."""
    if os.environ.get("DRILLKIT_NO_GC") or hasattr(session.config, "workerinput"):
        return
    s = session.config.stash.get(settings_key, None)
    try:
        report = collect(client(), origin=L.origin_of(s.report_dir if s is not None else "reports"))
    except Exception:  # no engine: drills will say so when they need it
        return
    if report.runs:
        tr = session.config.pluginmanager.get_plugin("terminalreporter")
        if tr:
            tr.write_line(f"drillkit gc: {report}")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call):
    rep = yield
    item.stash.setdefault(_report_key, {})[rep.when] = rep
    exc = call.excinfo.value if call.excinfo else None
    outcome, sentences = drill_outcome(exc)
    item.stash.setdefault(_phases_key, {})[call.when] = (rep.outcome, sentences, outcome)
    return rep


def drill_of(item: pytest.Item) -> Drill | None:
    """The Drill a test ran (its ``drill`` fixture), also after its teardown."""
    return item.stash.get(_drill_key, None)


def drill_phases(item: pytest.Item) -> dict[str, tuple[str, list[str], str]]:
    """The phases of a test as drillkit read them: {setup|call|teardown: (pytest's outcome,
    sentences, the drill's outcome)}."""
    return item.stash.get(_phases_key, {})


def phase_outcome(phases: dict[str, tuple[str, list[str], str]]) -> tuple[str, list[str]]:
    """How a drill ended, from pytest's phases — each (pytest's outcome, sentences, the drill's outcome
    of the phase's exception, `drillkit.drill.outcome_of`): setup before call before teardown. A
    drill whose call never ended (the run stopped inside it) is interrupted, never passed."""
    setup, call, teardown = (phases.get(w) for w in ("setup", "call", "teardown"))
    if setup is None:
        return "broken", ["the drill did not start"]
    if setup[0] == "skipped":
        return "skipped", setup[1]
    if setup[0] == "failed":
        return (setup[2] if setup[2] in ("interrupted", "not-judged") else "broken"), setup[1]
    if call is None:
        return "interrupted", ["interrupted before the drill's body ended: nothing was judged"]
    if call[0] == "failed":
        return (call[2] if call[2] in ("failed", "not-judged", "interrupted") else "broken"), call[1]
    if teardown is not None and teardown[0] == "failed":
        return (teardown[2] if teardown[2] == "interrupted" else "broken"), teardown[1]
    if call[0] == "skipped":
        return "skipped", call[1]
    return "passed", []


def _stopped(item: pytest.Item, exc: BaseException, phase: str) -> DrillInterrupted:
    """Ctrl-C or SIGTERM inside a drill: end this drill as interrupted (a failed phase with its own
    report, so Allure, JUnit and the summary say so) and stop the session after its teardown."""
    sig = "SIGTERM" if "SIGTERM" in str(exc) else "SIGINT"
    item.session.shouldstop = f"interrupted by {sig}"
    return DrillInterrupted(sig, phase=phase)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_setup(item: pytest.Item):
    try:
        return (yield)
    except KeyboardInterrupt as exc:
        if item.get_closest_marker("drill") is None:
            raise
        raise _stopped(item, exc, "start-up") from None


def _marker_kwargs(node) -> dict[str, Any]:
    m = node.get_closest_marker("drill")
    if m is None:
        return {}
    kw = dict(m.kwargs)
    if m.args:
        kw.setdefault("environment", m.args[0])
    return kw


@pytest.fixture(scope="session")
def drill_settings(pytestconfig: pytest.Config) -> DrillSettings:
    return pytestconfig.stash[settings_key]


@pytest.fixture(scope="module", autouse=False)
def _drill_module_envs(request: pytest.FixtureRequest, drill_settings: DrillSettings):
    """At a module's end its environments go — except one a later module of this session wants with the
    same switches (it stays up, reset before that module's first drill). Not on a pytest-xdist
    worker, which does not know what it runs later: there each module's environments go at its end."""
    mine: list = []
    request.module.__drillkit_envs__ = mine
    yield mine
    later = _later_keys(request) if drill_settings.keep_for_later and not _xdist_worker(request.config) else set()
    for key in list(drill_settings.environments):
        env = drill_settings.environments[key]
        if env in mine and key not in later and env not in drill_settings.kept:
            env.down()
            drill_settings.environments.pop(key, None)
            drill_settings.wants.pop(key, None)


def _xdist_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def _pool_key(node, drill_settings: DrillSettings) -> tuple | None:
    """(environment, switches, backend) a drill item wants, from its marker and the settings — without
    loading the stack (None when it names no environment)."""
    kw = _marker_kwargs(node)
    env_name = kw.get("environment") or drill_settings.environment
    if not env_name:
        return None
    switches = {**drill_settings.switches, **(kw.get("switches") or {})}
    backend = kw.get("backend") or drill_settings.backend
    return str(env_name), tuple(sorted(switches.items())), str(backend)


def _later_keys(request: pytest.FixtureRequest) -> set:
    """The pool keys of the drills after this module in the session (the stack's own defaults filled in
    the way drill_env fills them: a key is only kept when it matches exactly)."""
    s = request.config.stash[settings_key]
    items = request.session.items
    module = request.node.nodeid
    last = max((i for i, it in enumerate(items) if _module_nodeid(it) == module), default=len(items))
    out = set()
    for it in items[last + 1:]:
        if "drill_env" not in getattr(it, "fixturenames", ()):
            continue
        want = _pool_key(it, s)
        if want is None:
            continue
        out.update(key for key, wants in s.wants.items() if want in wants)
    return out


def _make_room(drill_settings: DrillSettings, using: list) -> None:
    """Before an environment starts: if POOL_MAX are up, the one used longest ago goes (not one this
    module uses, not one kept for debugging or attached)."""
    while len(drill_settings.environments) >= drill_settings.pool_max:
        idle = [k for k, e in drill_settings.environments.items() if e not in using and e not in drill_settings.kept]
        if not idle:
            return
        key = idle[0]                      # insertion order = use order (a used key moves to the end)
        drill_settings.wants.pop(key, None)
        drill_settings.environments.pop(key).down()


@pytest.fixture
def drill_env(request: pytest.FixtureRequest, drill_settings: DrillSettings, _drill_module_envs):
    """A running environment for this drill: shared by the drills of the session that want the same
    environment, switches and backend (POOL_MAX up at once), reset between drills."""

    kw = _marker_kwargs(request.node)
    env_name = kw.get("environment") or drill_settings.environment
    if not env_name:
        raise ConfigError(f"{request.node.nodeid}: no environment to drill", field="drill marker",
                          fix='name it in the marker, @pytest.mark.drill("<environment>", ...), or give '
                              '--drill-env NAME (ini drill_environment, DRILLKIT_ENVIRONMENT)')
    switches = {**drill_settings.switches, **(kw.get("switches") or {})}
    spec = load_stack(env_name, switches)
    backend = backend_name(kw.get("backend") or drill_settings.backend, "drill marker backend")
    key = (str(spec.file), tuple(sorted(spec.chosen.items())), backend)
    if _module_nodeid(request.node) == "":      # not in a pytest module (e.g. a YAML scenario): its own
        key = (request.node.nodeid.split("::")[0], *key)
    env = drill_settings.environments.pop(key, None)    # put back below: the most recently used is last
    if env is not None:
        drill_settings.environments[key] = env
    mine = _drill_module_envs
    tr = request.config.pluginmanager.get_plugin("terminalreporter")
    progress = _progress(request)
    if not drill_settings.attach and env is not None and env.left_as_is:
        # an earlier drill handed nodes over to a runbook (e.g. a fenced primary): reset must not
        # resurrect them, so this drill gets a fresh environment instead
        progress(f"{spec.name}: {', '.join(sorted(env.left_as_is.values()))}; starting a fresh environment")
        if env not in drill_settings.kept:      # one kept for debugging stays up (`drill down` removes it)
            env.down()
        drill_settings.environments.pop(key, None)
        env = None
    if drill_settings.attach:
        env = _attached_env(drill_settings, spec, switches, progress)
    elif env is None:
        _make_room(drill_settings, mine)
        env = Environment(spec, progress=progress, backend=backend)
        drill_settings.environments[key] = env
        env.up()
    else:
        env.progress = progress
        env.reset()
    if env not in mine:
        mine.append(env)
    drill_settings.wants.setdefault(key, set()).add(_pool_key(request.node, drill_settings))
    drill_settings.used[env.spec.name] = env.spec
    yield env
    reps = request.node.stash.get(_report_key, {})
    failed = any(r.failed for r in reps.values())
    if failed and drill_settings.keep_env_on_failure:
        drill_settings.kept.append(env)
        if tr:
            tr.write_line(f"drillkit: kept environment {spec.name} (run {env.run_id}) for debugging; "
                          f"`drill down {env.run_id}` removes it")


def _progress(request: pytest.FixtureRequest):
    """Progress lines: to the terminal with -v, and to `drill run`'s event stream when it listens."""
    config = request.config
    tr = config.pluginmanager.get_plugin("terminalreporter")
    verbose = tr is not None and config.getoption("verbose") > 0

    sinks = config.stash[settings_key].progress_sinks

    def progress(message: str) -> None:
        if verbose:
            tr.write_line(f"  drillkit: {message}")
        for sink in sinks:
            sink(message)
    return progress


def _attached_env(drill_settings: DrillSettings, spec, wanted: dict[str, str], progress):
    """The environment of `--drill-attach RUN`: rebuilt from the run's labels, used as it is (faults
    injected by hand stay) and never removed (it belongs to whoever ran `drill up`). Switches the
    drill or the command line ask for must be the run's."""
    key = ("attached", drill_settings.attach)
    env = drill_settings.environments.get(key)
    if env is None:
        state = AdhocRun(drill_settings.attach, drill_settings.report_dir).read()
        stack = load_stack(state.get("environment") or str(spec.file), state.get("switches") or spec.chosen)
        env = attach(drill_settings.attach, spec=stack, progress=progress)
        drill_settings.environments[key] = env
        drill_settings.kept.append(env)
    env.progress = progress
    if env.spec.name != spec.name:
        raise ConfigError(f"the drill wants environment {spec.name!r}, run {drill_settings.attach} is "
                          f"{env.spec.name!r}", field="--attach",
                          fix=f"attach a run of {spec.name} (`drill up {spec.name}`)")
    differ = {k: v for k, v in wanted.items() if env.spec.chosen.get(k) != v}
    if differ:
        raise ConfigError(f"the drill wants switches {differ}, run {drill_settings.attach} was brought up "
                          f"with {env.spec.chosen}", field="--attach",
                          fix="bring the environment up with those switches: drill up ENV -s NAME=VALUE")
    return env


def _module_nodeid(item) -> str:
    node = item
    while node is not None and not isinstance(node, pytest.Module):
        node = node.parent
    return node.nodeid if node is not None else ""


@pytest.fixture
def drill(request: pytest.FixtureRequest, drill_env, drill_settings: DrillSettings):
    """A Drill on the running environment, through the one lifecycle (`drillkit.drill.drill_run`): at
    the end traffic stopped, faults healed, report written, the result recorded for the summary."""
    kw = _marker_kwargs(request.node)
    spec = drill_env.spec
    stack = kw.get("stack") or spec.stack
    fault = kw.get("fault") or "unspecified"
    scenario = kw.get("scenario") or (request.node.function.__doc__ or request.node.name).strip().splitlines()[0] \
        if hasattr(request.node, "function") else request.node.name
    source = kw.get("source") or getattr(getattr(request.node, "scenario", None), "source", "") or ""
    pipeline.label_drill(stack, fault, scenario, kw.get("severity", "normal"), spec.chosen)
    meta = {"stack": stack, "fault": fault, "scenario": scenario, "source": source, "nodeid": request.node.nodeid}
    with drill_run(drill_env, name=request.node.nodeid, report_dir=drill_settings.report_dir, meta=meta,
                   probe_interval=drill_settings.probe_interval, progress=_progress(request)) as d:
        try:
            yield d
        finally:
            request.node.stash[_drill_key] = d
    result = d.result
    if result is not None:   # the outcome is pytest's (the body's exception never reaches a fixture)
        result.outcome, sentences = _outcome(request.node)
        result.sentences = sentences or result.sentences
        drill_settings.results.append(result)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_call(item: pytest.Item):
    """Right after a drill's body: stop traffic, heal, and attach chart, timeline and logs to the
    test itself (attachments made later would land in Allure's tear-down section). Ctrl-C or SIGTERM
    in the body ends the drill as interrupted."""
    try:
        result = yield
    except KeyboardInterrupt as exc:
        if item.get_closest_marker("drill") is None:
            raise
        raise _stopped(item, exc, "the drill") from None
    finally:
        d = getattr(item, "funcargs", {}).get("drill")
        if isinstance(d, Drill) and not d.reported:
            try:
                d.stop_traffic()
                d.heal_all()
                d.findings()        # what nobody asked about: recorded and reported, also after a defect
            finally:
                pipeline.attach_drill(d, item.config.stash[settings_key].report_dir)
    d = getattr(item, "funcargs", {}).get("drill")
    if isinstance(d, Drill) and getattr(item, "scenario", None) is None:   # a scenario says it itself
        d.check_findings(_marker_kwargs(item).get("findings") or item.config.stash[settings_key].findings)
    return result


def _outcome(node: pytest.Item) -> tuple[str, list[str]]:
    return phase_outcome(drill_phases(node))


@pytest.hookimpl(trylast=True)   # after junitxml has written its file
def pytest_sessionfinish(session: pytest.Session, exitstatus) -> None:
    s = session.config.stash.get(settings_key, None)
    if s is None or not s.results:
        return
    xml_path = getattr(session.config.option, "xmlpath", None)
    if xml_path:
        try:
            mark_unjudged(Path(xml_path), {r.name: r.outcome for r in s.results})
        except Exception as exc:   # a report must never hide the drills' result
            sys.stderr.write(f"drillkit: JUnit not corrected for drills not judged: {exc}\n")
    alluredir = getattr(session.config.option, "allure_report_dir", None)
    engine = None
    if alluredir:
        try:
            engine = engine_facts(client(), s.used)
        except Exception:  # no engine: the facts that need it are left out
            engine = None
    pipeline.finish_session(s.results, s.report_dir, alluredir=alluredir, used=s.used,
                            probe_interval=s.probe_interval, root=session.config.rootpath, engine=engine)

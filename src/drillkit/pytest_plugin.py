"""drillkit's pytest plugin (entry point ``pytest11``): the ``drill`` marker, options with ini twins,
fixtures that hand a drill a running environment, Allure output, and cleanup that always runs.

Precedence for every setting: marker > command line > environment variable > ini file.
"""

from __future__ import annotations

import os
import re
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

__all__ = ["DrillSettings"]

MARKER = ("drill(environment=None, *, switches=None, stack=None, fault=None, scenario=None, "
          "severity='normal', target=None, source=None, backend=None): a failover drill against a lab "
          "environment; switches picks defect variants (e.g. {'sessions': 'node-local'}), fault/scenario/"
          "severity label the Allure report, source names the incident it rehearses (`drill list` shows "
          "it), backend pins docker or swarm")

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
    ("--drill-backend", "drill_backend", "DRILLKIT_BACKEND", "string", "docker",
     "where environments run: docker (containers on one engine) or swarm (Docker Swarm services, "
     "one Docker-in-Docker node per zone); a drill marker's backend= wins"),
]


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
    results: list = field(default_factory=list)
    environments: dict = field(default_factory=dict)   # (module, env, switches) -> Environment
    kept: list = field(default_factory=list)


settings_key = pytest.StashKey[DrillSettings]()
_report_key = pytest.StashKey[dict]()


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
    from drillkit.errors import ConfigError
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
    try:  # YAML scenarios are collected by their own plugin module
        import importlib.util
        if importlib.util.find_spec("drillkit.scenario.plugin"):
            config.pluginmanager.import_plugin("drillkit.scenario.plugin")
    except ImportError:
        pass
    from drillkit.errors import ConfigError
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
    from drillkit.lab.backend import backend_name
    raw, origin = vals["drill_backend"]
    try:
        s.backend = backend_name(str(raw or "docker"), origin)
    except ConfigError as exc:
        raise pytest.UsageError(str(exc)) from None
    config.stash[settings_key] = s

    # SIGTERM (CI cancel, `kill`) must run the same teardown as Ctrl-C.
    if hasattr(signal, "SIGTERM") and threading_main():
        previous = signal.getsignal(signal.SIGTERM)

        def on_term(signum, frame):
            raise KeyboardInterrupt("SIGTERM")
        signal.signal(signal.SIGTERM, on_term)
        config.add_cleanup(lambda: signal.signal(signal.SIGTERM, previous))
    config.add_cleanup(lambda: _teardown_all(s))


def threading_main() -> bool:
    import threading
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
    """Reap objects of earlier runs whose process is gone (never anything without drillkit labels)."""
    if os.environ.get("DRILLKIT_NO_GC"):
        return
    try:
        from drillkit.errors import DockerUnavailable
        from drillkit.lab.docker_client import client
        from drillkit.lab.gc import collect
        report = collect(client())
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
    return rep


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
    """Environments are reused across the drills of a module and removed at its end."""
    mine: list = []
    request.module.__drillkit_envs__ = mine
    yield mine
    for key in list(drill_settings.environments):
        env = drill_settings.environments[key]
        if key[0] == request.node.nodeid and env not in drill_settings.kept:
            env.down()
            drill_settings.environments.pop(key, None)


@pytest.fixture
def drill_env(request: pytest.FixtureRequest, drill_settings: DrillSettings, _drill_module_envs):
    """A running environment for this drill: reused within the module, reset between drills."""
    from drillkit.lab.compose import load_environment
    from drillkit.lab.environment import Environment

    kw = _marker_kwargs(request.node)
    env_name = kw.get("environment") or drill_settings.environment
    if not env_name:
        from drillkit.errors import ConfigError
        raise ConfigError(f"{request.node.nodeid}: no environment to drill", field="drill marker",
                          fix='name it in the marker, @pytest.mark.drill("<environment>", ...), or give '
                              '--drill-env NAME (ini drill_environment, DRILLKIT_ENVIRONMENT)')
    switches = {**drill_settings.switches, **(kw.get("switches") or {})}
    spec = load_environment(env_name, switches)
    from drillkit.lab.backend import backend_name
    backend = backend_name(kw.get("backend") or drill_settings.backend, "drill marker backend")
    key = (_module_nodeid(request.node), spec.name, tuple(sorted(spec.chosen.items())), backend)
    env = drill_settings.environments.get(key)
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
        env = Environment(spec, progress=progress, backend=backend)
        drill_settings.environments[key] = env
        env.up()
    else:
        env.progress = progress
        env.reset()
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
    from drillkit.run_events import emit
    config = request.config
    tr = config.pluginmanager.get_plugin("terminalreporter")
    verbose = tr is not None and config.getoption("verbose") > 0

    def progress(message: str) -> None:
        if verbose:
            tr.write_line(f"  drillkit: {message}")
        emit(config, "progress", text=message)
    return progress


def _attached_env(drill_settings: DrillSettings, spec, wanted: dict[str, str], progress):
    """The environment of `--drill-attach RUN`: rebuilt from the run's labels, used as it is (faults
    injected by hand stay) and never removed (it belongs to whoever ran `drill up`). Switches the
    drill or the command line ask for must be the run's."""
    from drillkit.errors import ConfigError
    from drillkit.lab.attach import attach
    key = ("attached", drill_settings.attach)
    env = drill_settings.environments.get(key)
    if env is None:
        from drillkit.adhoc import AdhocRun
        state = AdhocRun(drill_settings.attach, drill_settings.report_dir).read()
        env = attach(drill_settings.attach, environment=state.get("environment") or str(spec.file),
                     switches=state.get("switches") or spec.chosen, progress=progress)
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
    """A Drill on the running environment; at the end: traffic stopped, faults healed, report written."""
    from drillkit.drill import Drill
    from drillkit.timeline import Timeline

    kw = _marker_kwargs(request.node)
    spec = drill_env.spec
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid).strip("_")
    tl_path = drill_settings.report_dir / "timelines" / f"{safe}.jsonl"
    if tl_path.exists():
        tl_path.unlink()
    stack = kw.get("stack") or spec.stack
    fault = kw.get("fault") or "unspecified"
    scenario = kw.get("scenario") or (request.node.function.__doc__ or request.node.name).strip().splitlines()[0] \
        if hasattr(request.node, "function") else request.node.name
    timeline = Timeline(tl_path, drill=request.node.nodeid, run=drill_env.run_id,
                        environment=spec.name, meta={"switches": spec.chosen, "stack": stack,
                                                     "backend": drill_env.backend.name,
                                                     "fault": fault, "scenario": scenario})
    progress = _progress(request)
    d = Drill(drill_env, timeline, probe_interval=drill_settings.probe_interval, progress=progress)
    source = kw.get("source") or getattr(getattr(request.node, "scenario", None), "source", "") or ""
    d.meta = {"stack": stack, "fault": fault, "scenario": scenario, "source": source,
              "nodeid": request.node.nodeid}
    _allure_labels(stack, fault, scenario, kw.get("severity", "normal"), spec.chosen)
    started = time.monotonic()
    try:
        yield d
    finally:
        try:
            d.finish()
        finally:
            if not getattr(d, "_attached", False):  # the call phase never ran (setup error)
                _attach_drill(d, drill_settings)
            _report_drill(request, d, drill_settings, stack, fault, scenario, time.monotonic() - started)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_call(item: pytest.Item):
    """Right after a drill's body: stop traffic, heal, and attach chart, timeline and logs to the
    test itself (attachments made later would land in Allure's tear-down section)."""
    try:
        return (yield)
    finally:
        from drillkit.drill import Drill
        d = getattr(item, "funcargs", {}).get("drill")
        if isinstance(d, Drill) and not getattr(d, "_attached", False):
            try:
                d.stop_traffic()
                d.heal_all()
            finally:
                _attach_drill(d, item.config.stash[settings_key])


def _attach_drill(d, s: DrillSettings) -> None:
    d._attached = True
    meta = getattr(d, "meta", {})
    chart = None
    try:
        from drillkit.report.chart import render_timeline_chart
        safe = d.timeline_path.stem if d.timeline_path else "drill"
        chart = render_timeline_chart(d.timeline, s.report_dir / "charts" / f"{safe}.png",
                                      title=f"{meta.get('stack', '')}: {meta.get('scenario', '')}")
    except Exception as exc:  # a chart must never hide the drill's result
        sys.stderr.write(f"drillkit: chart not rendered: {exc}\n")
    try:
        from drillkit.report.allure_results import attach_text, attach_timeline
        attach_timeline(d.timeline, chart)
        for svc in d.faulted_services:
            attach_text(f"logs of {svc}", d.env.logs(svc, tail=300))
    except Exception as exc:
        sys.stderr.write(f"drillkit: allure attachments skipped: {exc}\n")
    try:  # the verdicts and their figures on the drill's own page
        from drillkit.report.allure_results import describe_drill
        from drillkit.report.summary import DrillResult, key_figures
        figures = key_figures(DrillResult(name=meta.get("nodeid", ""), stack=meta.get("stack", ""),
                                          fault=meta.get("fault", ""), scenario=meta.get("scenario", ""),
                                          outcome="", verdicts=list(d.verdicts)), timeline=d.timeline)
        describe_drill(meta.get("nodeid", ""), list(d.verdicts), figures, source=meta.get("source", ""))
    except Exception as exc:
        sys.stderr.write(f"drillkit: verdicts not put on the Allure page: {exc}\n")


def _allure_labels(stack, fault, scenario, severity, switches) -> None:
    try:
        from drillkit.report.allure_results import label_drill
    except ImportError:
        return
    label_drill(stack, fault, scenario, severity)
    try:
        import allure
        for k, v in switches.items():
            allure.dynamic.parameter(k, v)
    except Exception:
        pass


def _report_drill(request, d, s: DrillSettings, stack, fault, scenario, duration) -> None:
    from drillkit.report.summary import DrillResult
    reps = request.node.stash.get(_report_key, {})
    call = reps.get("call")
    if call is None or call.skipped:
        outcome = "broken" if call is None else "skipped"
    elif call.passed:
        outcome = "passed"
    else:
        exc = getattr(call, "longrepr", None)
        outcome = "failed" if "drill failed:" in str(exc) else "broken"
    s.results.append(DrillResult(name=request.node.nodeid, stack=stack, fault=fault, scenario=scenario,
                                 outcome=outcome, verdicts=list(d.verdicts),
                                 timeline_path=d.timeline_path, duration=duration))


def pytest_sessionfinish(session: pytest.Session, exitstatus) -> None:
    s = session.config.stash.get(settings_key, None)
    if s is None:
        return
    alluredir = getattr(session.config.option, "allure_report_dir", None)
    if s.results:
        try:
            from drillkit.catalogue import recent_outcomes
            from drillkit.report.summary import append_trend, write_summary
            previous = recent_outcomes(s.report_dir / "history.jsonl")   # before this run is added
            write_summary(s.results, s.report_dir)
            append_trend(s.results, s.report_dir / "history.jsonl")
            if alluredir:
                from drillkit.report.allure_results import mark_unstable, unstable_drills
                mark_unstable(Path(alluredir), unstable_drills(s.results, previous))
        except Exception as exc:
            sys.stderr.write(f"drillkit: summary not written: {exc}\n")
    if alluredir and s.results:
        try:
            from drillkit.report.allure_results import (environment_facts, write_categories_json,
                                                        write_environment_properties, write_executor_json)
            try:
                from drillkit.lab.docker_client import client
                docker = client()
            except Exception:  # no engine: the facts that need it are left out
                docker = None
            facts = environment_facts(s.used, probe_interval=s.probe_interval, docker=docker,
                                      root=session.config.rootpath)
            write_environment_properties(Path(alluredir), facts)
            write_executor_json(Path(alluredir), build_name=time.strftime("drill run %Y-%m-%d %H:%M"))
            write_categories_json(Path(alluredir))
        except Exception as exc:
            sys.stderr.write(f"drillkit: allure extras not written: {exc}\n")

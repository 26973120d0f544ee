"""`drill`: the command line for SREs.

    drill run [PATH ...]          the main job: default drills against the default lab, reports written
    drill list [PATH ...]         the drills and scenarios, with stack, fault, source and last verdict
    drill test [PYTEST-ARGS ...]  the test suite (tests/)
    drill up ENV [-s NAME=VALUE]  bring an environment up by hand (stays until `drill down`)
    drill inject KIND TARGET ...  inject a fault by hand into a run brought up with `drill up`
    drill heal [FAULT_ID|--all]   heal faults injected by hand (from any directory)
    drill down RUN|--all          heal what was injected by hand, remove a run's containers, networks, volumes
    drill ps                      runs, environments and containers on this engine
    drill gc [--all]              remove objects of runs whose process is gone
    drill images [ENV ...]        build the images (cached by content)
    drill validate FILE ...       check Compose files and scenarios (every one) without starting anything
    drill report                  rebuild the Allure report and the management page from reports/
    drill capacity SCENARIO       the breaking point: step the load until the SLO breaks (the scenario's search:)
    drill explore FILE            search fault schedules for one that breaks the scenario's expect:, shrink it
"""

from __future__ import annotations

import argparse
import ctypes
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path

from drillkit import capacity
from drillkit import labels as L
from drillkit.adhoc import AdhocRun, parse_attrs
from drillkit.catalogue import VERDICT_WORDS, collect_drills
from drillkit.errors import ConfigError, DrillkitError
from drillkit.explore import parse_budget, run_exploration
from drillkit.explore.section import SECTIONS as EXPLORE_SECTIONS
from drillkit.lab import images
from drillkit.lab.attach import run_containers
from drillkit.lab.backend import backend_name, backend_names
from drillkit.lab.compose import find_environment, load_environment
from drillkit.lab.engine import client
from drillkit.lab.environment import Environment
from drillkit.lab.gc import PHANTOM_SUFFIX, collect, remove_run
from drillkit.outcome import EXIT_CODES, DrillOutcome, RunOutcome, read_json
from drillkit.progress import make_view, write_safely
from drillkit.report import pipeline
from drillkit.report.history import last_verdicts
from drillkit.run_events import ENV_FD
from drillkit.scenario.model import looks_like_scenario
from drillkit.scenario.validate import validate_file
from drillkit.selection import check_paths, environments_used
from drillkit.stack import load_stack
from drillkit.yamlsrc import read_text_file

DEFAULT_DRILLS = ["drills", "scenarios"]


_VIEW = None   # the progress view of the running command (drill run), if any


def _say(msg: str) -> None:
    if _VIEW is not None:
        _VIEW.say(msg)
    else:
        print(msg, flush=True)


def _client():
    return client()


def cmd_run(args: argparse.Namespace) -> int:
    """Build, run the drills with Allure output, generate the reports; the exit code says who acts."""
    global _VIEW
    _VIEW = view = make_view(stream=sys.stderr if args.json else sys.stdout, quiet=args.quiet)
    run = RunOutcome()
    started = time.monotonic()

    def on_term(signum, frame):   # before and after the drills (images, reports): stop as on Ctrl-C
        raise KeyboardInterrupt("SIGTERM")

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        try:
            _run_drills(args, run)
        except DrillkitError as exc:   # nothing ran: a bad option, no engine, an image that won't build
            (run.input_errors if isinstance(exc, ConfigError) else run.errors).append(str(exc))
            run.pytest_status = None
        except KeyboardInterrupt as exc:   # Ctrl-C or SIGTERM while images were built: builds stopped
            run.signal = "SIGTERM" if "SIGTERM" in str(exc) else "SIGINT"
            run.errors.append(f"stopped by {run.signal} before the drills ran; nothing was judged")
        run.duration = time.monotonic() - started
        view.result(run)
    finally:
        signal.signal(signal.SIGTERM, previous)
        view.close()
        _VIEW = None
    if args.json:
        write_safely(run.dumps(), sys.stdout)
    elif not args.quiet and run.reports.get("summary") and Path(run.reports["summary"]).is_file():
        write_safely("\n" + Path(run.reports["summary"]).read_text(encoding="utf-8"), sys.stdout)
    return run.exit_code


def _run_drills(args: argparse.Namespace, run) -> None:
    # the input first: a path or a switch that is wrong is said before the engine is asked anything
    bad = check_paths(args.paths or [p for p in DEFAULT_DRILLS if Path(p).exists()], scenarios=True)
    if bad:
        run.input_errors.extend(str(e) for e in bad)
        return
    paths = args.paths or [p for p in DEFAULT_DRILLS if Path(p).exists()]
    used = environments_used(paths, os.environ.get("DRILLKIT_ENVIRONMENT") or None)
    _check_switches(args.switch, used)
    reports = Path(args.report_dir)
    results = reports / "allure-results"
    if results.exists() and not args.keep_results:
        shutil.rmtree(results)
    results.mkdir(parents=True, exist_ok=True)
    L.set_origin(reports)
    c = _client()
    if args.gc or not os.environ.get("DRILLKIT_NO_GC"):
        # dead runs made for this report folder only (--gc: everyone's, as `drill gc`)
        report = collect(c, origin=None if args.gc else L.origin_of(reports))
        if report.runs or report.failed:
            _say(f"drill: gc: {report}")
    if not args.environments:  # the environments the selected drills use
        args.environments = used
    if not args.attach:
        for env in args.environments:
            _build(env, args.switch)
    pytest_args = [*paths, f"--alluredir={results}", f"--drill-report-dir={reports}", "-v", "-p", "no:cacheprovider",
                   "-p", "drillkit.run_events", f"--junitxml={reports / 'junit.xml'}",
                   "-o", "console_output_style=classic", "--rootdir", "."]
    for sw in args.switch:
        pytest_args.append(f"--drill-switch={sw}")
    if args.backend:   # otherwise the plugin reads $DRILLKIT_BACKEND / drill_backend itself
        pytest_args.append(f"--drill-backend={args.backend}")
    if args.keep_env_on_failure:
        pytest_args.append("--keep-env-on-failure")
    if args.attach:
        pytest_args.append(f"--drill-attach={args.attach}")
    log = reports / "drill-run.log"
    _say(f"drill: running {' '.join(paths)} (reports in {reports}/, pytest's output in {log})")
    summary_json = reports / "summary.json"
    before = summary_json.stat().st_mtime if summary_json.exists() else None
    run.pytest_status, run.signal, events = _pytest_with_events(pytest_args, log)
    run.reports["log"] = str(log)
    _outcome_from_events(run, events, log)
    if summary_json.exists() and summary_json.stat().st_mtime != before:
        run.merge_summary(read_json(summary_json))
        run.reports["summary"] = str(reports / "summary.md")
        run.reports["summary_json"] = str(summary_json)
    # stopped by a signal: the lab is down; the management page still says what happened (quick),
    # the Allure HTML and the PDF wait for `drill report` (a cancelled job has seconds, not minutes)
    stopped = bool(run.signal)
    written, errors = pipeline.build_pages(reports, html=not (args.no_html or stopped), management=bool(run.drills),
                                           pdf=not (args.no_pdf or stopped), progress=_say)
    run.reports.update(written)
    run.errors.extend(errors)


def _pytest_with_events(pytest_args: list[str], log: Path) -> tuple[int, str | None, list[dict]]:
    """Run pytest in its own session (Ctrl-C reaches it once, through us), its output into ``log``,
    its events rendered live; SIGINT/SIGTERM are passed on once and we wait for its teardown."""
    log.parent.mkdir(parents=True, exist_ok=True)
    read_fd, write_fd = os.pipe()
    events: list[dict] = []
    stopped: list[str] = []
    with open(log, "w", encoding="utf-8") as out:
        # the command has collected already: the session's own gc at its start would do it again
        proc = subprocess.Popen([sys.executable, "-m", "pytest", *pytest_args], stdout=out,
                                stderr=subprocess.STDOUT, pass_fds=(write_fd,), start_new_session=True,
                                preexec_fn=_dies_with(os.getpid()),
                                env={**os.environ, ENV_FD: str(write_fd), "PYTHONUNBUFFERED": "1",
                                     "DRILLKIT_NO_GC": "1"})
        os.close(write_fd)

        def read() -> None:
            with os.fdopen(read_fd, encoding="utf-8", errors="replace") as fh:
                for line in fh:
                    try:
                        ev = json.loads(line)
                    except ValueError:
                        continue
                    events.append(ev)
                    if _VIEW is not None:
                        _VIEW.event(ev)
        reader = threading.Thread(target=read, name="drill-events", daemon=True)
        reader.start()

        def on_signal(signum, frame) -> None:
            name = signal.Signals(signum).name
            if not stopped:
                stopped.append(name)
                _say(f"drill: {name}: healing every fault and removing the lab (this takes a moment) …")
                if proc.poll() is None:
                    proc.send_signal(signum)
            else:
                _say("drill: still tearing down; a run is never left half-way")
        previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            status = proc.wait()
        finally:
            for s, h in previous.items():
                signal.signal(s, h)
        reader.join(timeout=10)
    return status, (stopped[0] if stopped else None), events


def _dies_with(parent: int):
    """For the drills' pytest (its own session, so a terminal's Ctrl-C reaches it once, through us):
    should this command die — even by ``kill -9``, which no handler sees — the kernel sends it
    SIGTERM (Linux ``PR_SET_PDEATHSIG``), which it turns into the same teardown as Ctrl-C: faults
    healed, the lab removed, the drill recorded as interrupted. Runs in the child before exec."""
    def arm() -> None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGTERM, 0, 0, 0)          # 1 = PR_SET_PDEATHSIG
        except (OSError, AttributeError):                   # not Linux: the lifeline is the event pipe
            return
        if os.getppid() != parent:                          # we died before the call took effect
            os.kill(os.getpid(), signal.SIGTERM)
    return arm


def _outcome_from_events(run, events: list[dict], log: Path) -> None:
    by_name: dict[str, DrillOutcome] = {}
    for ev in events:
        kind = ev.get("event")
        if kind == "collected":
            for d in ev.get("drills") or []:
                by_name[d["name"]] = DrillOutcome(
                    name=d["name"], outcome="skipped", title=d.get("title", ""), stack=d.get("stack", ""),
                    fault=d.get("fault", ""), severity=d.get("severity", ""), source=d.get("source", ""),
                    sentences=["not run"])
        elif kind == "collect-error":   # a file that is not a drill: its one line names file:line
            where = ev.get("where") or ""
            msg = str(ev.get("message") or "")
            run.input_errors.append(msg if not where or where == "(session)" or where in msg else f"{where}: {msg}")
        elif kind == "drill-end" and ev.get("name") in by_name:
            d = by_name[ev["name"]]
            d.outcome, d.sentences, d.duration = ev.get("outcome", "broken"), ev.get("sentences") or [], \
                ev.get("duration") or 0.0
    run.drills = list(by_name.values())
    if run.signal:
        run.drills = [d for d in run.drills if d.sentences != ["not run"]]
    if not events and run.pytest_status not in (0, 1) and not run.signal:
        tail = [l for l in _tail(log, 40) if l.startswith(("ERROR", "E ")) or "error" in l.lower()]
        run.errors.append((tail[-1] if tail else f"pytest stopped with status {run.pytest_status}")[:400]
                          + f" (see {log})")
    elif run.pytest_status == 4 and not run.signal:
        tail = [l for l in _tail(log, 40) if l.startswith("ERROR")]
        run.input_errors.append((tail[-1] if tail else "pytest refused its arguments") + f" (see {log})")


def _tail(path: Path, n: int) -> list[str]:
    try:
        return path.read_text(encoding="utf-8", errors="replace").splitlines()[-n:]
    except OSError:
        return []


def _build(env_name: str, switches: list[str]) -> None:
    spec = load_environment(env_name, _switches(switches, env_name, strict=False))
    env = Environment(spec, progress=_say)
    c = _client()
    specs = env.build_specs()
    images.ensure_base_images(c, specs, progress=_say)
    results = images.build_images(c, specs, progress=_say)
    if spec.links:
        results.append(images.ensure_toxiproxy_image(c, progress=_say))
    cached = sum(1 for r in results if r.cached)
    _say(f"drill: images for {spec.name}: {len(results)} ({cached} cached, {len(results) - cached} built)")


def _switches(items: list[str], env_name: str | None = None, strict: bool = True) -> dict[str, str]:
    out = {}
    for item in items or []:
        k, sep, v = item.partition("=")
        if not sep:
            raise ConfigError(f"switch {item!r} is not NAME=VALUE", field="--switch", fix="e.g. -s sessions=node-local")
        out[k] = v
    if not strict and env_name:
        spec = load_environment(env_name)
        out = {k: v for k, v in out.items() if spec.accepts_switch(k)}   # declared, or any ${NAME} it uses
    return out


TEST_WORKERS = 2   # most of the lab's time is waiting (drill phases, containers starting): two workers


def test_command(extra: list[str], environ: dict[str, str] | None = None) -> list[str]:
    """pytest's command line for `drill test`: the suite on TEST_WORKERS pytest-xdist workers
    (DRILLKIT_TEST_WORKERS: another number, 0 = one process), each test module on one worker
    (``--dist loadfile``: its module-scoped environments start once; tests/conftest.py orders the
    modules, longest first — hence ``--no-loadscope-reorder``); arguments that choose workers themselves
    (-n, --dist, -p no:xdist) win."""
    environ = os.environ if environ is None else environ
    args = list(extra or ["tests"])
    raw = environ.get("DRILLKIT_TEST_WORKERS", "").strip()
    try:
        workers = int(raw) if raw else TEST_WORKERS
    except ValueError:
        raise ConfigError(f"DRILLKIT_TEST_WORKERS={raw!r} is not a number", field="DRILLKIT_TEST_WORKERS",
                          fix="e.g. DRILLKIT_TEST_WORKERS=2, or 0 for one process") from None
    chosen = any(a in ("-n", "--dist", "no:xdist", "-pno:xdist") or a.startswith(("-n", "--numprocesses", "--dist="))
                 for a in args)
    if workers > 0 and not chosen and importlib.util.find_spec("xdist") is not None:
        args = ["-n", str(workers), "--dist", "loadfile", "--no-loadscope-reorder", *args]
    return [sys.executable, "-m", "pytest", *args]


def _check_switches(items: list[str], environments: list[str]) -> None:
    """`-s NAME=VALUE` applies to every drill's environment: each must take it (a declared switch
    and one of its choices, or a ${NAME} its Compose file uses) — an input error before anything
    starts, not a drill that breaks in the lab."""
    switches = _switches(items)
    if not switches:
        return
    for env in environments:
        try:
            load_environment(env, switches)
        except ConfigError as exc:
            given = " ".join(f"-s {k}={v}" for k, v in switches.items())
            raise ConfigError(f"{given}: {exc.message}", fix=exc.fix) from None


def cmd_test(args: argparse.Namespace) -> int:
    extra = list(args.pytest_args)
    if extra and extra[0] == "--":
        extra = extra[1:]
    return subprocess.call(test_command(extra))


def cmd_up(args: argparse.Namespace) -> int:
    switches = _switches(args.switch)
    spec = load_stack(args.environment, switches)
    env = Environment(spec, progress=_say, backend=backend_name(args.backend, "--backend"))
    env.owner = f"keep:{os.environ.get('USER', 'user')}"
    L.set_origin(args.report_dir)
    env.up()
    adhoc = AdhocRun(env.run_id, args.report_dir)
    adhoc.record_up(str(find_environment(args.environment).resolve()), spec.chosen, spec.name)
    _say(f"run {env.run_id}: {spec.name} is up" + (f" at {env.url()}" if spec.entrypoint else ""))
    if env.links:
        _say(f"  toxiproxy API: http://127.0.0.1:{env.links.port}  links: {', '.join(l.name for l in spec.links)}")
    _say(f"  inject a fault:  drill inject kill {next(iter(spec.services))}-1 --run {env.run_id}")
    _say(f"  run a scenario:  drill run SCENARIO --attach {env.run_id}")
    _say(f"  timeline:        {adhoc.timeline_path}")
    _say(f"  remove it with:  drill down {env.run_id}")
    return 0


def cmd_inject(args: argparse.Namespace) -> int:
    adhoc = AdhocRun(args.run, args.report_dir)
    attrs = parse_attrs(args.attrs)
    rec = adhoc.inject(args.kind, args.target, attrs, max_nodes=args.max_nodes, progress=_say)
    _say(f"{rec['fault_id']}: {rec['describe']} injected into run {args.run} "
         f"(heal it with: drill heal {rec['fault_id']} --run {args.run}; timeline {adhoc.timeline_path})")
    return 0


def cmd_heal(args: argparse.Namespace) -> int:
    adhoc = AdhocRun(args.run, args.report_dir)
    if adhoc.active() and not run_containers(_client(), args.run):
        n = len(adhoc.active())
        adhoc.forget()   # removed by other means (docker rm, an engine reset): nothing left to heal
        _say(f"run {args.run} is gone (no containers on this engine): its {n} fault(s) injected by hand "
             "are forgotten")
        return 0
    if args.list:
        for f in adhoc.active():
            _say(f"{f['fault_id']}  {f['describe']}  (since {f['injected']})")
        if not adhoc.active():
            _say(f"no active fault on run {args.run}")
        return 0
    if not args.fault_id and not args.all:
        raise DrillkitError("name the fault to heal", fix=f"drill heal FAULT_ID --run {args.run} "
                                                          f"(or --all); `drill heal --list --run {args.run}` shows them")
    healed, errors = adhoc.heal(None if args.all else args.fault_id, progress=_say)
    for fid in healed:
        _say(f"{fid}: healed")
    if not healed and not errors:
        _say(f"no active fault on run {args.run}")
    for err in errors:
        print(f"drill: error: heal failed: {err}", file=sys.stderr)
    return 2 if errors else 0


def _heal_before_down(run_id: str, report_dir: str) -> list[str]:
    """`drill down` heals what was injected by hand first (newest first, independent faults at once):
    a fault never outlives its run silently. The run's state is forgotten with the run, whatever
    the heals said (their errors are printed)."""
    adhoc = AdhocRun(run_id, report_dir)
    if not adhoc.active():
        return []
    try:
        healed, errors = adhoc.heal(None, progress=_say)
    except DrillkitError as exc:
        return [str(exc)]
    for fid in healed:
        _say(f"{fid}: healed before removing run {run_id}")
    return errors


def _forget(run_id: str, report_dir: str) -> None:
    """The run is removed: its ad-hoc state and lock go (a stuck network's marker stays while it does)."""
    AdhocRun(run_id, report_dir).forget()
    L.forget_run(run_id, keep=(PHANTOM_SUFFIX,))


def cmd_down(args: argparse.Namespace) -> int:
    c = _client()
    errors: list[str] = []
    if args.all:
        runs = {r["Labels"].get(L.RUN) for r in c.api.containers(all=True, filters={"label": L.RUN})}
        for run_id in sorted(r for r in runs if r):
            errors += _heal_before_down(run_id, args.report_dir)
        _say(str(collect(c, include_alive=True)))
        for run_id in runs:
            if run_id:
                _forget(run_id, args.report_dir)
    else:
        if not args.run:
            raise DrillkitError("name the run to remove", fix="drill down RUN (see `drill ps`) or drill down --all")
        errors = _heal_before_down(args.run, args.report_dir)
        n_c, n_n, n_v = remove_run(c, args.run)
        _forget(args.run, args.report_dir)
        if not (n_c or n_n or n_v) and not errors:
            raise DrillkitError(f"no objects of run {args.run!r}", fix="see `drill ps` for the runs on this engine")
        _say(f"removed {n_c} container(s), {n_n} network(s), {n_v} volume(s) of {args.run}")
    for err in errors:
        print(f"drill: error: heal failed (the run is removed all the same): {err}", file=sys.stderr)
    return 2 if errors else 0


def cmd_list(args: argparse.Namespace) -> int:
    bad = check_paths(args.paths or [])
    named_bad = {e.file for e in bad}
    paths = [p for p in args.paths if str(Path(p.split("::", 1)[0])) not in named_bad] if args.paths \
        else [p for p in DEFAULT_DRILLS if Path(p).exists()]
    if bad and not paths:   # nothing to list: each path's one line, and exit 2
        if args.json:
            print(json.dumps({"drills": [], "errors": [str(e) for e in bad]}, indent=2, ensure_ascii=False))
        else:
            for e in bad:
                print(f"drill: error: {e}", file=sys.stderr)
        return 2
    drills, errors = collect_drills(paths)
    history = last_verdicts(Path(args.report_dir) / "history.jsonl")
    for d in drills:
        last = history.get(d["name"])
        d["last_verdict"] = VERDICT_WORDS.get(last.get("outcome"), last.get("outcome")) if last else None
        d["last_run"] = last.get("date") if last else None
    if args.json:
        print(json.dumps({"drills": drills, "errors": [str(e) for e in bad] + errors}, indent=2, ensure_ascii=False))
    else:
        _print_list(drills)
        for e in bad:
            print(f"drill: error: {e}", file=sys.stderr)
        for err in errors:
            print(f"drill: not a drill: {err}", file=sys.stderr)
    return 2 if errors or bad else 0


def _print_list(drills: list[dict]) -> None:
    cols = [("drill", "name"), ("stack", "stack"), ("fault", "fault"), ("severity", "severity"),
            ("source incident", "source"), ("last verdict", "last_verdict")]
    rows = [[str(d.get(k) or "—") for _, k in cols] for d in drills]
    if sys.stdout.isatty():
        from rich.console import Console  # deferred: rich draws only on a terminal
        from rich.table import Table  # deferred: rich draws only on a terminal
        t = Table(show_lines=False, header_style="bold")
        for title, _ in cols:
            t.add_column(title, overflow="fold")
        for r in rows:
            t.add_row(*r)
        Console().print(t)
    else:
        print("\t".join(title for title, _ in cols))
        for r in rows:
            print("\t".join(r))
    print(f"{len(drills)} drill(s)" if drills else "no drills found")


def cmd_ps(args: argparse.Namespace) -> int:
    c = _client()
    rows = c.api.containers(all=True, filters={"label": L.RUN})
    if not rows:
        _say("no drillkit objects on this engine")
        return 0
    for r in sorted(rows, key=lambda r: r["Names"][0]):
        lb = r["Labels"]
        alive = "owner alive" if L.owner_alive(lb.get(L.OWNER, ""), lb.get(L.RUN)) else "owner gone"
        _say(f"{lb.get(L.RUN)}  {lb.get(L.ENVIRONMENT):10} {r['Names'][0].lstrip('/'):45} "
             f"{lb.get(L.ZONE, ''):8} {r['State']:8} {alive}")
    return 0


def cmd_gc(args: argparse.Namespace) -> int:
    _say(str(collect(_client(), include_alive=args.all)))
    return 0


def cmd_images(args: argparse.Namespace) -> int:
    envs = args.environments
    if not envs:   # the environments the default drills use
        envs = environments_used([p for p in DEFAULT_DRILLS if Path(p).exists()],
                                 os.environ.get("DRILLKIT_ENVIRONMENT") or None)
    if not envs:
        raise ConfigError("no environment named and no drill found that names one", field="environments",
                          fix="give one: drill images ENV (a folder of environments/ or a compose.yaml)")
    for env in envs:
        _build(env, [])
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    """Each file is a scenario (as pytest would collect it; its explore: section too) or a Compose file
    (or a folder with a compose.yaml); every file is checked and gets `ok` or one line naming it — also a
    missing, empty, binary or FIFO one — and the exit code is 2 if any failed. Nothing starts."""
    failed = 0
    for f in args.files:
        try:
            _validate(Path(f))
        except DrillkitError as exc:
            failed += 1
            print(f"drill: error: {exc}", file=sys.stderr, flush=True)
            continue
        _say(f"{f}: ok")
    return 2 if failed else 0


def _validate(p: Path) -> None:
    if p.is_dir():
        if not any((p / name).is_file() for name in ("compose.yaml", "compose.yml")):
            raise ConfigError("a folder without a compose.yaml", file=str(p),
                              fix="name a scenario or a Compose file, or a folder that holds a compose.yaml")
        load_stack(p)
        return
    read_text_file(p, what="a scenario or a Compose file")   # missing, FIFO, empty, binary: said here
    if looks_like_scenario(p):
        validate_file(p, sections=EXPLORE_SECTIONS)
    else:
        load_stack(p)


def cmd_report(args: argparse.Namespace) -> int:
    reports = Path(args.report_dir)
    written, errors = pipeline.build_pages(reports, pdf=False, progress=_say)
    if "allure" not in written and not errors:
        raise DrillkitError(f"no drill results in {reports / 'allure-results'}",
                            fix="run drills first (`drill run`), or name the report folder with --report-dir")
    for name, path in written.items():
        _say(f"{'Allure report' if name == 'allure' else 'management page'}: {path}")
    for err in errors:
        print(f"drill: error: {err}", file=sys.stderr)
    return 2 if errors else 0


def cmd_capacity(args: argparse.Namespace) -> int:
    L.set_origin(args.report_dir)   # its environment is labelled as made for this report folder
    return capacity.main(args)


def cmd_explore(args: argparse.Namespace) -> int:
    """Search fault schedules for one that breaks the scenario's promises, shrink and confirm it, write
    it as a scenario; progress live, reports like `drill run`, the same exit codes."""
    global _VIEW
    if args.seed is not None and args.seed < 0:
        raise ConfigError(f"seed {args.seed} is negative", field="--seed", fix="a whole number ≥ 0, e.g. --seed 1")
    budget = parse_budget(args.budget) if args.budget is not None else None
    switches = _switches(args.switch)
    if args.write_to and Path(args.write_to).exists() and not Path(args.write_to).is_dir():
        raise ConfigError(f"{args.write_to} is not a folder", field="--write-to", fix="name a folder, e.g. scenarios/")
    _VIEW = view = make_view(stream=sys.stderr if args.json else sys.stdout, quiet=args.quiet)
    try:
        outcome = run_exploration(args.file, budget=budget, seed=args.seed, switches=switches,
                                  baseline=args.baseline, write_to=args.write_to, report_dir=args.report_dir,
                                  backend=args.backend, say=_say, status=view.status, html=not args.no_html,
                                  pdf=not args.no_pdf)
        view.result(outcome.run)
    finally:
        view.close()
        _VIEW = None
    if args.json:
        write_safely(json.dumps(outcome.as_json(), indent=2, default=str, ensure_ascii=False), sys.stdout)
    return outcome.exit_code


def _exit_code_help() -> str:
    return "exit codes:\n" + "\n".join(f"  {code:<4} {text}" for code, text in EXIT_CODES)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="drill", description="drillkit: failover drills with measured verdicts.",
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    report_dir = os.environ.get("DRILLKIT_REPORT_DIR", "reports")

    r = sub.add_parser("run", help="the main job: build, run the default drills, write reports/",
                       formatter_class=argparse.RawDescriptionHelpFormatter, epilog=_exit_code_help(),
                       description="Build the images, run the drills (live progress on stderr with --json, "
                                   "stdout otherwise), write reports/: summary, Allure report, management "
                                   "page and its PDF.")
    r.add_argument("paths", nargs="*", help="drill files or folders (default: drills/ scenarios/)")
    r.add_argument("-e", "--environment", dest="environments", action="append",
                   help="environment whose images to build first (default: the environments the drills use; repeatable)")
    r.add_argument("-s", "--switch", action="append", default=[], metavar="NAME=VALUE",
                   help="defect switch for every drill (e.g. sessions=node-local)")
    r.add_argument("--report-dir", default=report_dir, help="where reports go (default: reports)")
    r.add_argument("--attach", metavar="RUN",
                   help="run against an environment already up (`drill up`); it is neither built, reset "
                        "nor removed")
    r.add_argument("--json", action="store_true",
                   help="print the result as JSON on stdout (progress goes to stderr)")
    r.add_argument("-q", "--quiet", action="store_true", help="only each drill's verdict line and the totals")
    r.add_argument("--keep-results", action="store_true", help="add to earlier allure-results instead of starting fresh")
    r.add_argument("--keep-env-on-failure", action="store_true", help="leave a failed drill's environment up")
    r.add_argument("--no-html", action="store_true", help="skip the Allure HTML report")
    r.add_argument("--no-pdf", action="store_true", help="skip the PDF of the management page")
    r.add_argument("--backend", default=None, choices=backend_names(),
                   help="where environments run: docker (one engine, default) or swarm (Docker Swarm, "
                        "one Docker-in-Docker node per zone); default $DRILLKIT_BACKEND or docker")
    r.add_argument("--gc", action="store_true",
                   help="first remove the objects of every dead run on the engine, as `drill gc` does (by "
                        "default only dead runs made for this report folder; DRILLKIT_NO_GC=1: none)")
    r.set_defaults(func=cmd_run)

    ls = sub.add_parser("list", help="list drills and scenarios: stack, fault, severity, source, last verdict")
    ls.add_argument("paths", nargs="*", help="drill files or folders (default: drills/ scenarios/)")
    ls.add_argument("--json", action="store_true", help="as JSON on stdout")
    ls.add_argument("--report-dir", default=report_dir, help="where history.jsonl is (default: reports)")
    ls.set_defaults(func=cmd_list)

    t = sub.add_parser("test", help="run the test suite (pytest tests/)")
    t.add_argument("pytest_args", nargs=argparse.REMAINDER, help="arguments for pytest (default: tests)")
    t.set_defaults(func=cmd_test)

    u = sub.add_parser("up", help="bring an environment up by hand; it stays until `drill down`")
    u.add_argument("environment", help="a folder of environments/ or a compose.yaml")
    u.add_argument("-s", "--switch", action="append", default=[], metavar="NAME=VALUE", help="defect switch")
    u.add_argument("--report-dir", default=report_dir,
                   help="where the run's ad-hoc timeline goes, REPORT_DIR/adhoc/RUN.jsonl (default: reports); "
                        "what later commands need is kept beside the run's lock, found from any directory")
    u.add_argument("--backend", default=None, choices=backend_names(),
                   help="where environments run: docker (one engine, default) or swarm (Docker Swarm, "
                        "one Docker-in-Docker node per zone); default $DRILLKIT_BACKEND or docker")
    u.set_defaults(func=cmd_up)

    inj = sub.add_parser("inject", help="inject a fault by hand into a run brought up with `drill up`",
                         description="Inject one fault now; it stays until `drill heal` or `drill down` (from "
                                     "any directory). Recorded on the run's timeline, REPORT_DIR/adhoc/RUN.jsonl "
                                     "of `drill up`.")
    inj.add_argument("kind", help="fault kind (kill, stop, pause, latency, link_down, partition, …)")
    inj.add_argument("target", help="app-2 (one replica), app (all), app@zone-a, a link (link faults), "
                                    "a zone (zone faults), or - for none")
    inj.add_argument("attrs", nargs="*", metavar="ATTR=VALUE", help="the fault's attributes, e.g. latency=300")
    inj.add_argument("--run", required=True, help="run id (see `drill ps`)")
    inj.add_argument("--max-nodes", type=int, default=None, help="refuse a fault that would touch more nodes")
    inj.add_argument("--report-dir", default=report_dir,
                     help="where the timeline goes if `drill up` did not say (default: reports)")
    inj.set_defaults(func=cmd_inject)

    h = sub.add_parser("heal", help="heal faults injected by hand")
    h.add_argument("fault_id", nargs="?", help="the id `drill inject` printed (e.g. f101)")
    h.add_argument("--all", action="store_true",
                   help="every active fault of the run: newest first, faults on different nodes and links at once")
    h.add_argument("--list", action="store_true", help="list the run's active faults")
    h.add_argument("--run", required=True, help="run id (see `drill ps`)")
    h.add_argument("--report-dir", default=report_dir,
                   help="where the timeline goes if `drill up` did not say (default: reports)")
    h.set_defaults(func=cmd_heal)

    d = sub.add_parser("down", help="heal faults injected by hand, then remove a run's containers, networks, volumes")
    d.add_argument("run", nargs="?", help="run id (see `drill ps`)")
    d.add_argument("--all", action="store_true", help="every drillkit run on this engine")
    d.add_argument("--report-dir", default=report_dir,
                   help="where the timeline goes if `drill up` did not say (default: reports)")
    d.set_defaults(func=cmd_down)

    sub.add_parser("ps", help="list drillkit containers by run").set_defaults(func=cmd_ps)

    g = sub.add_parser("gc", help="remove objects of runs whose process is gone")
    g.add_argument("--all", action="store_true", help="also runs whose process still lives, and `drill up` runs")
    g.set_defaults(func=cmd_gc)

    i = sub.add_parser("images", help="build the images of environments (cached by content)")
    i.add_argument("environments", nargs="*", help="environments (default: those the drills in drills/ and "
                                                    "scenarios/ use)")
    i.set_defaults(func=cmd_images)

    v = sub.add_parser("validate", help="check Compose files and scenarios; nothing is started",
                       description="Check every file named: a scenario (a YAML file under scenarios/ or with "
                                   "`scenario:`), a Compose file, or a folder with a compose.yaml. Each gets "
                                   "`FILE: ok` or one error line naming file:line and the fix; exit 2 if any "
                                   "failed. Files are bounded (docs/scenarios.md, Bounds): 1 MiB, 100,000 "
                                   "values with aliases expanded, 64 levels, 1000 faults, observe ≤ 24 h.")
    v.add_argument("files", nargs="+", metavar="FILE")
    v.set_defaults(func=cmd_validate)

    rp = sub.add_parser("report", help="build the Allure HTML report from reports/allure-results (and the "
                                       "management page from summary.json)")
    rp.add_argument("--report-dir", default=report_dir)
    rp.set_defaults(func=cmd_report)
    cap = sub.add_parser("capacity", help="the breaking point: step the load until the SLO breaks (a scenario's search:)",
                         description="Run the breaking-point search of a scenario's search: section against its "
                                     "environment and print the multiple of today's load where the SLO broke, "
                                     "against the forecast. Exit 0: forecast covered; 1: not covered (or a "
                                     "verdict failed); 2: a bad file or option, or the lab failed.")
    cap.add_argument("scenario", help="a scenario file with a search: section")
    cap.add_argument("--forecast", type=float, help="multiple of today's load to be covered (overrides the file's)")
    cap.add_argument("--attach", metavar="RUN", help="use an environment already up (`drill up`); it is not removed")
    cap.add_argument("--report-dir", default=report_dir, help="where the timeline goes (default: reports)")
    cap.add_argument("--json", action="store_true", help="print the result as JSON on stdout (progress on stderr)")
    cap.set_defaults(func=cmd_capacity)

    ex = sub.add_parser("explore", help="search fault schedules for one that breaks a scenario's expect:, shrink it, "
                                        "write it as a scenario",
                        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=_exit_code_help(),
                        description="Explore a scenario with an explore: section (docs/explore.md): its environment "
                                    "comes up once; each trial runs a fault schedule drawn from the stack's "
                                    "vocabulary as the scenario's faults, judged by its expect:, on the environment "
                                    "reset between trials. A failing schedule is confirmed, shrunk to the smallest "
                                    "that still fails and written to REPORT_DIR/found/<stack>-<n>.yaml, a scenario "
                                    "`drill run` reproduces. Exit 0: nothing failed; 1: a promise broke (a finding); "
                                    "2: the lab or the input failed, or nothing could be judged; 130/143: "
                                    "interrupted (what was found is kept).")
    ex.add_argument("file", help="a scenario file with an explore: section")
    ex.add_argument("--budget", metavar="TIME|TRIALS",
                    help="what it may spend, overriding the file's: a time (8m), a number of trials (40) or both "
                         "(8m,40); every run counts, confirmations and shrinking included")
    ex.add_argument("--seed", type=int, help="the seed of the search (overrides the file's)")
    ex.add_argument("--baseline", action="store_true",
                    help="then spend the same budget on uniform random schedules without shrinking (a random "
                         "nemesis), side by side")
    ex.add_argument("--write-to", metavar="DIR", help="also write the finding's scenario here (e.g. scenarios/)")
    ex.add_argument("-s", "--switch", action="append", default=[], metavar="NAME=VALUE",
                    help="defect switch of the environment (e.g. sessions=node-local); written into the finding")
    ex.add_argument("--report-dir", default=report_dir,
                    help="where reports, found/ and the example database explore-db/ go (default: reports)")
    ex.add_argument("--json", action="store_true", help="print the result as JSON on stdout (progress on stderr)")
    ex.add_argument("-q", "--quiet", action="store_true", help="only the result lines")
    ex.add_argument("--no-html", action="store_true", help="skip the Allure HTML report")
    ex.add_argument("--no-pdf", action="store_true", help="skip the PDF of the management page")
    ex.add_argument("--backend", default=None, choices=backend_names(),
                    help="where the environment runs: docker (default) or swarm")
    ex.set_defaults(func=cmd_explore)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except DrillkitError as exc:
        print(f"drill: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("drill: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `drill list | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception:  # a bug in drillkit: the traceback is for its maintainers, the code says so
        traceback.print_exc()
        print("drill: internal error (a bug in drillkit; the traceback is above)", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())

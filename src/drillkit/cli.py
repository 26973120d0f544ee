"""`drill`: the command line for SREs.

    drill run [PATH ...]          the main job: default drills against the default lab, reports written
    drill list [PATH ...]         the drills and scenarios, with stack, fault, source and last verdict
    drill test [PYTEST-ARGS ...]  the test suite (tests/)
    drill up ENV [-s NAME=VALUE]  bring an environment up by hand (stays until `drill down`)
    drill inject KIND TARGET ...  inject a fault by hand into a run brought up with `drill up`
    drill heal [FAULT_ID|--all]   heal faults injected by hand
    drill down RUN|--all          heal what was injected by hand, remove a run's containers, networks, volumes
    drill ps                      runs, environments and containers on this engine
    drill gc [--all]              remove objects of runs whose process is gone
    drill images [ENV ...]        build the images (cached by content)
    drill validate FILE ...       check Compose files and scenarios without starting anything
    drill report                  rebuild the Allure report and the management page from reports/
    drill capacity SCENARIO       the breaking point: step the load until the SLO breaks (the scenario's search:)
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from drillkit.errors import DrillkitError

DEFAULT_DRILLS = ["drills", "scenarios"]


_VIEW = None   # the progress view of the running command (drill run), if any


def _say(msg: str) -> None:
    if _VIEW is not None:
        _VIEW.say(msg)
    else:
        print(msg, flush=True)


def _client():
    from drillkit.lab.docker_client import client
    return client()


def cmd_run(args: argparse.Namespace) -> int:
    """Build, run the drills with Allure output, generate the reports; the exit code says who acts."""
    global _VIEW
    from drillkit.outcome import RunOutcome
    from drillkit.progress import make_view
    _VIEW = view = make_view(stream=sys.stderr if args.json else sys.stdout, quiet=args.quiet)
    run = RunOutcome()
    started = time.monotonic()
    try:
        try:
            _run_drills(args, run)
        except DrillkitError as exc:   # nothing ran: a bad option, no engine, an image that won't build
            from drillkit.errors import ConfigError
            (run.input_errors if isinstance(exc, ConfigError) else run.errors).append(str(exc))
            run.pytest_status = None
        run.duration = time.monotonic() - started
        view.result(run)
    finally:
        view.close()
        _VIEW = None
    if args.json:
        print(run.dumps(), flush=True)
    elif not args.quiet and run.reports.get("summary") and Path(run.reports["summary"]).is_file():
        print("\n" + Path(run.reports["summary"]).read_text(encoding="utf-8"), flush=True)
    return run.exit_code


def _run_drills(args: argparse.Namespace, run) -> None:
    reports = Path(args.report_dir)
    results = reports / "allure-results"
    if results.exists() and not args.keep_results:
        import shutil
        shutil.rmtree(results)
    results.mkdir(parents=True, exist_ok=True)
    from drillkit.lab.gc import collect
    c = _client()
    report = collect(c)
    if report.runs:
        _say(f"drill: gc: {report}")
    paths = args.paths or [p for p in DEFAULT_DRILLS if Path(p).exists()]
    if not args.environments:  # the environments the selected drills use
        from drillkit.selection import environments_used
        args.environments = environments_used(paths, os.environ.get("DRILLKIT_ENVIRONMENT") or None)
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
    from drillkit.outcome import read_json
    if summary_json.exists() and summary_json.stat().st_mtime != before:
        run.merge_summary(read_json(summary_json))
        run.reports["summary"] = str(reports / "summary.md")
        run.reports["summary_json"] = str(summary_json)
    if run.signal:
        return   # stopped: the lab is down; no report to build from half a run
    if not args.no_html and any(results.glob("*-result.json")):
        try:
            from drillkit.report.allure_cli import ensure_allure, generate_report
            allure = ensure_allure(progress=_say)
            index = generate_report(results, reports / "allure-report", progress=_say, allure=allure)
            run.reports["allure"] = str(index)
        except DrillkitError as exc:
            run.errors.append(f"Allure report not built: {exc}")
    if run.drills:
        _management(reports, run, pdf=not args.no_pdf)


def _pytest_with_events(pytest_args: list[str], log: Path) -> tuple[int, str | None, list[dict]]:
    """Run pytest in its own session (Ctrl-C reaches it once, through us), its output into ``log``,
    its events rendered live; SIGINT/SIGTERM are passed on once and we wait for its teardown."""
    import json
    import signal
    import threading
    from drillkit.run_events import ENV_FD
    log.parent.mkdir(parents=True, exist_ok=True)
    read_fd, write_fd = os.pipe()
    events: list[dict] = []
    stopped: list[str] = []
    with open(log, "w", encoding="utf-8") as out:
        proc = subprocess.Popen([sys.executable, "-m", "pytest", *pytest_args], stdout=out,
                                stderr=subprocess.STDOUT, pass_fds=(write_fd,), start_new_session=True,
                                env={**os.environ, ENV_FD: str(write_fd), "PYTHONUNBUFFERED": "1"})
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


def _outcome_from_events(run, events: list[dict], log: Path) -> None:
    from drillkit.outcome import DrillOutcome
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


def _management(reports: Path, run, *, pdf: bool) -> None:
    """The one page for management (HTML, and a PDF where Chromium is installed)."""
    from drillkit.report.management import write_management_page
    try:
        page = write_management_page(reports)
    except Exception as exc:   # the page must never hide the drills' result
        run.errors.append(f"management page not written: {type(exc).__name__}: {exc}")
        return
    run.reports["management"] = str(page)
    if not pdf:
        return
    from drillkit.report.browser import find_chromium, print_pdf
    if find_chromium() is None:
        _say("drill: no PDF of the management page: Chromium is not installed "
             "(scripts/bootstrap.sh report installs it)")
        return
    try:
        run.reports["pdf"] = str(print_pdf(page, page.with_suffix(".pdf"), one_page=True))
    except DrillkitError as exc:
        run.errors.append(f"PDF of the management page not printed: {exc}")


def _build(env_name: str, switches: list[str]) -> None:
    from drillkit.lab.compose import load_environment
    from drillkit.lab.environment import Environment
    from drillkit.lab import images
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
    from drillkit.errors import ConfigError
    out = {}
    for item in items or []:
        k, sep, v = item.partition("=")
        if not sep:
            raise ConfigError(f"switch {item!r} is not NAME=VALUE", field="--switch", fix="e.g. -s sessions=node-local")
        out[k] = v
    if not strict and env_name:
        from drillkit.lab.compose import load_environment
        spec = load_environment(env_name)
        out = {k: v for k, v in out.items() if spec.accepts_switch(k)}   # declared, or any ${NAME} it uses
    return out


def cmd_test(args: argparse.Namespace) -> int:
    extra = list(args.pytest_args)
    if extra and extra[0] == "--":
        extra = extra[1:]
    return subprocess.call([sys.executable, "-m", "pytest", *(extra or ["tests"])])


def cmd_up(args: argparse.Namespace) -> int:
    from drillkit.adhoc import AdhocRun
    from drillkit.lab.compose import find_environment, load_environment
    from drillkit.lab.environment import Environment
    switches = _switches(args.switch)
    spec = load_environment(args.environment, switches)
    from drillkit.lab.backend import backend_name
    env = Environment(spec, progress=_say, backend=backend_name(args.backend, "--backend"))
    env.owner = f"keep:{os.environ.get('USER', 'user')}"
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
    from drillkit.adhoc import AdhocRun, parse_attrs
    adhoc = AdhocRun(args.run, args.report_dir)
    attrs = parse_attrs(args.attrs)
    rec = adhoc.inject(args.kind, args.target, attrs, max_nodes=args.max_nodes, progress=_say)
    _say(f"{rec['fault_id']}: {rec['describe']} injected into run {args.run} "
         f"(heal it with: drill heal {rec['fault_id']} --run {args.run}; timeline {adhoc.timeline_path})")
    return 0


def cmd_heal(args: argparse.Namespace) -> int:
    from drillkit.adhoc import AdhocRun
    adhoc = AdhocRun(args.run, args.report_dir)
    if args.list:
        for f in adhoc.active():
            _say(f"{f['fault_id']}  {f['describe']}  (since {f['injected']})")
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
    """`drill down` heals what was injected by hand first: a fault never outlives its run silently."""
    from drillkit.adhoc import AdhocRun
    adhoc = AdhocRun(run_id, report_dir)
    if not adhoc.active():
        adhoc.forget()
        return []
    try:
        healed, errors = adhoc.heal(None, progress=_say)
    except DrillkitError as exc:
        return [str(exc)]
    for fid in healed:
        _say(f"{fid}: healed before removing run {run_id}")
    if not errors:
        adhoc.forget()
    return errors


def cmd_down(args: argparse.Namespace) -> int:
    from drillkit import labels as L
    from drillkit.lab.gc import collect, remove_run
    c = _client()
    errors: list[str] = []
    if args.all:
        runs = {r["Labels"].get(L.RUN) for r in c.api.containers(all=True, filters={"label": L.RUN})}
        for run_id in sorted(r for r in runs if r):
            errors += _heal_before_down(run_id, args.report_dir)
        _say(str(collect(c, include_alive=True)))
    else:
        if not args.run:
            raise DrillkitError("name the run to remove", fix="drill down RUN (see `drill ps`) or drill down --all")
        errors = _heal_before_down(args.run, args.report_dir)
        n_c, n_n, n_v = remove_run(c, args.run)
        if not (n_c or n_n or n_v) and not errors:
            raise DrillkitError(f"no objects of run {args.run!r}", fix="see `drill ps` for the runs on this engine")
        _say(f"removed {n_c} container(s), {n_n} network(s), {n_v} volume(s) of {args.run}")
    for err in errors:
        print(f"drill: error: heal failed (the run is removed all the same): {err}", file=sys.stderr)
    return 2 if errors else 0


def cmd_list(args: argparse.Namespace) -> int:
    import json
    from drillkit.catalogue import VERDICT_WORDS, collect_drills, last_verdicts
    paths = args.paths or [p for p in DEFAULT_DRILLS if Path(p).exists()]
    drills, errors = collect_drills(paths)
    history = last_verdicts(Path(args.report_dir) / "history.jsonl")
    for d in drills:
        last = history.get(d["name"])
        d["last_verdict"] = VERDICT_WORDS.get(last.get("outcome"), last.get("outcome")) if last else None
        d["last_run"] = last.get("date") if last else None
    if args.json:
        print(json.dumps({"drills": drills, "errors": errors}, indent=2, ensure_ascii=False))
    else:
        _print_list(drills)
        for err in errors:
            print(f"drill: not a drill: {err}", file=sys.stderr)
    return 2 if errors else 0


def _print_list(drills: list[dict]) -> None:
    cols = [("drill", "name"), ("stack", "stack"), ("fault", "fault"), ("severity", "severity"),
            ("source incident", "source"), ("last verdict", "last_verdict")]
    rows = [[str(d.get(k) or "—") for _, k in cols] for d in drills]
    if sys.stdout.isatty():
        from rich.console import Console
        from rich.table import Table
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
    from drillkit import labels as L
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
    from drillkit.lab.gc import collect
    _say(str(collect(_client(), include_alive=args.all)))
    return 0


def cmd_images(args: argparse.Namespace) -> int:
    envs = args.environments
    if not envs:   # the environments the default drills use
        from drillkit.selection import environments_used
        envs = environments_used([p for p in DEFAULT_DRILLS if Path(p).exists()],
                                 os.environ.get("DRILLKIT_ENVIRONMENT") or None)
    if not envs:
        from drillkit.errors import ConfigError
        raise ConfigError("no environment named and no drill found that names one", field="environments",
                          fix="give one: drill images ENV (a folder of environments/ or a compose.yaml)")
    for env in envs:
        _build(env, [])
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    """Each file is a scenario (as pytest would collect it) or a Compose file; any content - also
    bytes that are not text - gives `ok` or one line naming the file (exit 2). Nothing starts."""
    from drillkit.lab.compose import load_environment
    from drillkit.scenario.model import load_scenario, looks_like_scenario
    for f in args.files:
        p = Path(f)
        if p.is_file() and looks_like_scenario(p):
            load_scenario(p)
        else:
            load_environment(f)
        _say(f"{f}: ok")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from drillkit.report.allure_cli import ensure_allure, generate_report
    reports = Path(args.report_dir)
    index = generate_report(reports / "allure-results", reports / "allure-report", progress=_say,
                            allure=ensure_allure(progress=_say))
    _say(f"Allure report: {index}")
    if (reports / "summary.json").is_file():
        from drillkit.report.management import write_management_page
        _say(f"management page: {write_management_page(reports)}")
    return 0


def cmd_capacity(args: argparse.Namespace) -> int:
    from drillkit.load.capacity import main
    return main(args)


def _exit_code_help() -> str:
    from drillkit.outcome import EXIT_CODES
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
    r.add_argument("--backend", default=None, choices=["docker", "swarm"],
                   help="where environments run: docker (one engine, default) or swarm (Docker Swarm, "
                        "one Docker-in-Docker node per zone); default $DRILLKIT_BACKEND or docker")
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
    u.add_argument("--report-dir", default=report_dir, help="where the run's ad-hoc timeline goes (default: reports)")
    u.add_argument("--backend", default=None, choices=["docker", "swarm"],
                   help="where environments run: docker (one engine, default) or swarm (Docker Swarm, "
                        "one Docker-in-Docker node per zone); default $DRILLKIT_BACKEND or docker")
    u.set_defaults(func=cmd_up)

    inj = sub.add_parser("inject", help="inject a fault by hand into a run brought up with `drill up`",
                         description="Inject one fault now; it stays until `drill heal` or `drill down`. "
                                     "Recorded on reports/adhoc/RUN.jsonl.")
    inj.add_argument("kind", help="fault kind (kill, stop, pause, latency, link_down, partition, …)")
    inj.add_argument("target", help="app-2 (one replica), app (all), app@zone-a, a link (link faults), "
                                    "a zone (zone faults), or - for none")
    inj.add_argument("attrs", nargs="*", metavar="ATTR=VALUE", help="the fault's attributes, e.g. latency=300")
    inj.add_argument("--run", required=True, help="run id (see `drill ps`)")
    inj.add_argument("--max-nodes", type=int, default=None, help="refuse a fault that would touch more nodes")
    inj.add_argument("--report-dir", default=report_dir, help="where the ad-hoc timeline is (default: reports)")
    inj.set_defaults(func=cmd_inject)

    h = sub.add_parser("heal", help="heal faults injected by hand")
    h.add_argument("fault_id", nargs="?", help="the id `drill inject` printed (e.g. f101)")
    h.add_argument("--all", action="store_true", help="every active fault of the run, newest first")
    h.add_argument("--list", action="store_true", help="list the run's active faults")
    h.add_argument("--run", required=True, help="run id (see `drill ps`)")
    h.add_argument("--report-dir", default=report_dir, help="where the ad-hoc timeline is (default: reports)")
    h.set_defaults(func=cmd_heal)

    d = sub.add_parser("down", help="heal faults injected by hand, then remove a run's containers, networks, volumes")
    d.add_argument("run", nargs="?", help="run id (see `drill ps`)")
    d.add_argument("--all", action="store_true", help="every drillkit run on this engine")
    d.add_argument("--report-dir", default=report_dir, help="where the ad-hoc state is (default: reports)")
    d.set_defaults(func=cmd_down)

    sub.add_parser("ps", help="list drillkit containers by run").set_defaults(func=cmd_ps)

    g = sub.add_parser("gc", help="remove objects of runs whose process is gone")
    g.add_argument("--all", action="store_true", help="also runs whose process still lives, and `drill up` runs")
    g.set_defaults(func=cmd_gc)

    i = sub.add_parser("images", help="build the images of environments (cached by content)")
    i.add_argument("environments", nargs="*", help="environments (default: those the drills in drills/ and "
                                                    "scenarios/ use)")
    i.set_defaults(func=cmd_images)

    v = sub.add_parser("validate", help="check Compose files and scenarios; nothing is started")
    v.add_argument("files", nargs="+")
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
        import traceback
        traceback.print_exc()
        print("drill: internal error (a bug in drillkit; the traceback is above)", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())

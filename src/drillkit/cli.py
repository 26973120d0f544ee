"""`drill`: the command line for SREs.

    drill run [PATH ...]          the main job: default drills against the default lab, reports written
    drill test [PYTEST-ARGS ...]  the test suite (tests/)
    drill up ENV [-s NAME=VALUE]  bring an environment up by hand (stays until `drill down`)
    drill down RUN|--all          remove a run's containers, networks and volumes
    drill ps                      runs, environments and containers on this engine
    drill gc [--all]              remove objects of runs whose process is gone
    drill images [ENV ...]        build the images (cached by content)
    drill validate FILE ...       check Compose files and scenarios without starting anything
    drill report                  build the Allure HTML report from reports/allure-results
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


def _say(msg: str) -> None:
    print(msg, flush=True)


def _client():
    from drillkit.lab.docker_client import client
    return client()


def cmd_run(args: argparse.Namespace) -> int:
    """Build, run the drills with Allure output, generate the report and the summary."""
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
    for env in args.environments or ["registry"]:
        _build(env, args.switch)
    paths = args.paths or [p for p in DEFAULT_DRILLS if Path(p).exists()]
    pytest_args = [*paths, f"--alluredir={results}", f"--drill-report-dir={reports}", "-v", "-p", "no:cacheprovider",
                   "-o", "console_output_style=classic", "--rootdir", "."]
    for sw in args.switch:
        pytest_args.append(f"--drill-switch={sw}")
    if args.backend:   # otherwise the plugin reads $DRILLKIT_BACKEND / drill_backend itself
        pytest_args.append(f"--drill-backend={args.backend}")
    if args.keep_env_on_failure:
        pytest_args.append("--keep-env-on-failure")
    _say(f"drill: running {' '.join(paths)} (reports in {reports}/)")
    t0 = time.monotonic()
    code = subprocess.call([sys.executable, "-m", "pytest", *pytest_args])
    _say(f"drill: drills finished in {time.monotonic() - t0:.0f} s (pytest exit code {code})")
    if not args.no_html:
        from drillkit.report.allure_cli import ensure_allure, generate_report
        allure = ensure_allure(progress=_say)
        index = generate_report(results, reports / "allure-report", progress=_say, allure=allure)
        _say(f"drill: Allure report: {index}")
    summary = reports / "summary.md"
    if summary.exists():
        _say("")
        _say(summary.read_text(encoding="utf-8"))
    return code


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
        known = load_environment(env_name).switches
        out = {k: v for k, v in out.items() if k in known}
    return out


def cmd_test(args: argparse.Namespace) -> int:
    extra = list(args.pytest_args)
    if extra and extra[0] == "--":
        extra = extra[1:]
    return subprocess.call([sys.executable, "-m", "pytest", *(extra or ["tests"])])


def cmd_up(args: argparse.Namespace) -> int:
    from drillkit import labels as L
    from drillkit.lab.compose import load_environment
    from drillkit.lab.environment import Environment
    spec = load_environment(args.environment, _switches(args.switch))
    from drillkit.lab.backend import backend_name
    env = Environment(spec, progress=_say, backend=backend_name(args.backend, "--backend"))
    env.owner = f"keep:{os.environ.get('USER', 'user')}"
    env.up()
    _say(f"run {env.run_id}: {spec.name} is up" + (f" at {env.url()}" if spec.entrypoint else ""))
    if env.links:
        _say(f"  toxiproxy API: http://127.0.0.1:{env.links.port}  links: {', '.join(l.name for l in spec.links)}")
    _say(f"  remove it with: drill down {env.run_id}")
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    from drillkit.lab.gc import collect, remove_run
    c = _client()
    if args.all:
        _say(str(collect(c, include_alive=True)))
        return 0
    if not args.run:
        raise DrillkitError("name the run to remove", fix="drill down RUN (see `drill ps`) or drill down --all")
    n_c, n_n, n_v = remove_run(c, args.run)
    if not (n_c or n_n or n_v):
        raise DrillkitError(f"no objects of run {args.run!r}", fix="see `drill ps` for the runs on this engine")
    _say(f"removed {n_c} container(s), {n_n} network(s), {n_v} volume(s) of {args.run}")
    return 0


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
    for env in args.environments or ["registry"]:
        _build(env, [])
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    import yaml
    for f in args.files:
        p = Path(f)
        text = p.read_text(encoding="utf-8") if p.is_file() else ""
        if p.is_file() and p.suffix in (".yaml", ".yml") and "\nscenario:" in "\n" + text:
            from drillkit.scenario.model import load_scenario
            load_scenario(p)
        else:
            from drillkit.lab.compose import load_environment
            load_environment(f)
        _say(f"{f}: ok")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from drillkit.report.allure_cli import ensure_allure, generate_report
    reports = Path(args.report_dir)
    index = generate_report(reports / "allure-results", reports / "allure-report", progress=_say,
                            allure=ensure_allure(progress=_say))
    _say(f"Allure report: {index}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="drill", description="drillkit: failover drills with measured verdicts.",
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    r = sub.add_parser("run", help="the main job: build, run the default drills, write reports/")
    r.add_argument("paths", nargs="*", help="drill files or folders (default: drills/ scenarios/)")
    r.add_argument("-e", "--environment", dest="environments", action="append",
                   help="environment whose images to build first (default: registry; repeatable)")
    r.add_argument("-s", "--switch", action="append", default=[], metavar="NAME=VALUE",
                   help="defect switch for every drill (e.g. sessions=node-local)")
    r.add_argument("--report-dir", default=os.environ.get("DRILLKIT_REPORT_DIR", "reports"),
                   help="where reports go (default: reports)")
    r.add_argument("--keep-results", action="store_true", help="add to earlier allure-results instead of starting fresh")
    r.add_argument("--keep-env-on-failure", action="store_true", help="leave a failed drill's environment up")
    r.add_argument("--no-html", action="store_true", help="skip the Allure HTML report")
    r.add_argument("--backend", default=None, choices=["docker", "swarm"],
                   help="where environments run: docker (one engine, default) or swarm (Docker Swarm, "
                        "one Docker-in-Docker node per zone); default $DRILLKIT_BACKEND or docker")
    r.set_defaults(func=cmd_run)

    t = sub.add_parser("test", help="run the test suite (pytest tests/)")
    t.add_argument("pytest_args", nargs=argparse.REMAINDER, help="arguments for pytest (default: tests)")
    t.set_defaults(func=cmd_test)

    u = sub.add_parser("up", help="bring an environment up by hand; it stays until `drill down`")
    u.add_argument("environment", help="a folder of environments/ or a compose.yaml")
    u.add_argument("-s", "--switch", action="append", default=[], metavar="NAME=VALUE", help="defect switch")
    u.add_argument("--backend", default=None, choices=["docker", "swarm"],
                   help="where environments run: docker (one engine, default) or swarm (Docker Swarm, "
                        "one Docker-in-Docker node per zone); default $DRILLKIT_BACKEND or docker")
    u.set_defaults(func=cmd_up)

    d = sub.add_parser("down", help="remove a run's containers, networks and volumes")
    d.add_argument("run", nargs="?", help="run id (see `drill ps`)")
    d.add_argument("--all", action="store_true", help="every drillkit run on this engine")
    d.set_defaults(func=cmd_down)

    sub.add_parser("ps", help="list drillkit containers by run").set_defaults(func=cmd_ps)

    g = sub.add_parser("gc", help="remove objects of runs whose process is gone")
    g.add_argument("--all", action="store_true", help="also runs whose process still lives, and `drill up` runs")
    g.set_defaults(func=cmd_gc)

    i = sub.add_parser("images", help="build the images of environments (cached by content)")
    i.add_argument("environments", nargs="*", help="environments (default: registry)")
    i.set_defaults(func=cmd_images)

    v = sub.add_parser("validate", help="check Compose files and scenarios; nothing is started")
    v.add_argument("files", nargs="+")
    v.set_defaults(func=cmd_validate)

    rp = sub.add_parser("report", help="build the Allure HTML report from reports/allure-results")
    rp.add_argument("--report-dir", default=os.environ.get("DRILLKIT_REPORT_DIR", "reports"))
    rp.set_defaults(func=cmd_report)
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


if __name__ == "__main__":
    sys.exit(main())

"""The pipeline templates in ci/ as their CI systems would run them, on the smallest drills
(tests/lab/drills/tiny_drills.py): ci/gitlab/drills.gitlab-ci.yml by gitlab-ci-local (shell executor,
each job in its own build folder, artifacts and caches passed as a runner passes them) and
ci/github/drills.yml by act (jobs on this host). For each: the jobs and steps that ran and how they
ended, and the reports they left — a sound run passes every job; a drill that finds a defect fails
only the "defect" job (GitLab `stack`, GitHub "Stack: every drill held"); a wrong input (GitLab: a
drill file that does not exist; GitHub: a switch the stack does not have, through the run's input)
fails only the "lab" one; and the drill history is carried from run to run by the templates' caches.

Each template runs unchanged in a throwaway copy of the repository, adopted as ci/README.md says
(`.gitlab-ci.yml` with `include: local:`; the workflow copied to `.github/workflows/`). The GitHub
actions that reach the internet (actions/cache, upload-artifact, upload-pages-artifact,
deploy-pages) are mapped by act's --local-repository onto the stand-ins in tests/lab/ci_actions/.
The tools come from `scripts/bootstrap.sh ci-tools` (.cache/ci-tools/bin); without them the test
skips, except in CI (CI=true), where that is a failure.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from lab_support import unowned_leftovers

ROOT = Path(__file__).resolve().parents[2]
TINY_DRILLS = "tests/lab/drills/tiny_drills.py"
HOLDS = f"{TINY_DRILLS}::test_tiny_spare_replica_kill"          # a drill that holds
FINDS_DEFECT = f"{TINY_DRILLS}::test_tiny_entry_replica_kill"   # a drill that finds a defect
TINY_ENV = "tests/lab/environments/tiny"
RUN_TIMEOUT = 900          # one pipeline; a bound against a hang, not a measure of speed
pytestmark = pytest.mark.slow


# -- the tools ---------------------------------------------------------------------------------------

def tool(name: str, env_var: str) -> str:
    """Path of a CI tool: $env_var, .cache/ci-tools/bin (scripts/bootstrap.sh ci-tools), or PATH.
    Missing: a failure in CI, a skip elsewhere."""
    found = os.environ.get(env_var) or next(
        (str(p) for p in [ROOT / ".cache" / "ci-tools" / "bin" / name] if os.access(p, os.X_OK)), None) \
        or shutil.which(name)
    if found:
        return found
    why = f"{name} is not installed: run scripts/bootstrap.sh ci-tools (or set {env_var})"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{why} — .ci/run installs it before the suite", pytrace=False)
    pytest.skip(why)


def tool_env() -> dict[str, str]:
    """The environment the CI tool runs with: this one, without what would leak the test's own setup
    into the jobs (PYTHONPATH, the templates' settings, a CI system's variables). HOME stays: pip's
    and npm's caches live there (gitlab-ci-local gets a --home of its own for its variables file)."""
    return {k: v for k, v in os.environ.items()
            if k not in ("PYTHONPATH", "DRILL_NO_FAIL", "DRILL_PATHS", "DRILL_SWITCHES", "DRILL_ENVIRONMENTS",
                         "DRILLKIT_REPORT_DIR", "DRILL_IMAGE_CACHE", "GITHUB_ACTIONS", "GITLAB_CI")
            and not k.startswith(("GITHUB_", "CI_", "GCL_"))}


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=drillkit test", "-c", "user.email=test@drillkit.invalid",
                           "-c", "commit.gpgsign=false", "-c", "init.defaultBranch=main", *args], cwd=cwd,
                          check=True, capture_output=True, text=True).stdout


def project(dst: Path, adopt: dict[str, str]) -> Path:
    """A git repository holding this checkout's files (tracked and new, not ignored) plus the files
    an adopter adds (path → text), committed on branch main: what a runner checks out."""
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                           check=True, capture_output=True).stdout.decode().split("\0")
    for rel in filter(None, files):
        if rel.split("/")[0] == ".venv":    # a .venv symlink (a work tree's) is not ignored by `.venv/`
            continue
        src = ROOT / rel
        if not src.exists() and not src.is_symlink():      # deleted in the work tree, not yet committed
            continue
        (dst / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst / rel, follow_symlinks=False)
    for rel, text in adopt.items():
        (dst / rel).parent.mkdir(parents=True, exist_ok=True)
        (dst / rel).write_text(text, encoding="utf-8")
    git(dst, "init", "-q", "-b", "main")
    git(dst, "add", "-A")
    git(dst, "commit", "-q", "-m", "the project as a runner checks it out")
    return dst


def leftovers(docker) -> list[str]:
    """tiny containers of runs that no live process holds: the pipelines' runs once they ended (a tiny
    environment another test runs beside this one, on a parallel worker, is held and not counted)."""
    return unowned_leftovers(docker, "tiny")


def lines_of(path: Path) -> list[dict]:
    return [json.loads(l) for l in path.read_text(encoding="utf-8").splitlines() if l.strip()]


# -- GitLab CI by gitlab-ci-local --------------------------------------------------------------------

GITLAB_JOB_END = re.compile(r"^(\S+)\s+finished in .*?(?:FAIL (\d+))?\s*$", re.MULTILINE)
GITLAB_VERDICT = re.compile(r"^\s*(PASS|FAIL|WARN)\s+(\S+)\s*$", re.MULTILINE)


def gitlab_pipeline(gcl: str, proj: Path, env: dict, **variables: str) -> tuple[int, str, dict[str, int]]:
    """Run the pipeline as a schedule does; returns gitlab-ci-local's exit code, its output and
    {job: exit code} of the jobs that ran."""
    (proj.parent / "gcl-home").mkdir(exist_ok=True)
    args = [gcl, "--shell-isolation", "--no-color", "--home", str(proj.parent / "gcl-home"),
            "--variable", "CI_PIPELINE_SOURCE=schedule", "--ignore-predefined-vars", "CI_PIPELINE_SOURCE"]
    for k, v in variables.items():
        args += ["--variable", f"{k}={v}"]
    r = subprocess.run(args, check=False, cwd=proj, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT)
    out = r.stdout + r.stderr
    n = len(list(proj.parent.glob("gitlab-*.log"))) + 1
    (proj.parent / f"gitlab-{n}.log").write_text(out)         # the whole log, for a failure's reader
    jobs = {m[1]: int(m[2] or 0) for m in GITLAB_JOB_END.finditer(out) if m[1] != "pipeline"}
    verdicts = {m[2]: m[1] for m in GITLAB_VERDICT.finditer(out)}
    assert {j for j, v in verdicts.items() if v == "FAIL"} == {j for j, c in jobs.items() if c}, out[-4000:]
    return r.returncode, out, jobs


def test_gitlab_template_runs_in_gitlab_ci_local(tmp_path, docker):
    gcl = tool("gitlab-ci-local", "DRILLKIT_GITLAB_CI_LOCAL")
    proj = project(tmp_path / "project", {".gitlab-ci.yml": "include:\n  - local: ci/gitlab/drills.gitlab-ci.yml\n"})
    env = tool_env()
    before = set(leftovers(docker))
    state = proj / ".gitlab-ci-local"
    run = {"DRILL_ENVIRONMENTS": TINY_ENV, "DRILL_IMAGE_CACHE": ""}   # no image tar: the images are here
    # the runner's cache already holds a Python environment (this checkout's), as after a first run:
    # gitlab-ci-local names the cache of `key: {files: [pyproject.toml], prefix: drillkit}` (the first
    # of the job's caches) 0_drillkit-<sha1 of the file's sha1>. Named otherwise, the job makes its own.
    digest = hashlib.sha1(hashlib.sha1((proj / "pyproject.toml").read_bytes()).hexdigest().encode()).hexdigest()
    (state / "cache" / f"0_drillkit-{digest}").mkdir(parents=True)
    (state / "cache" / f"0_drillkit-{digest}" / ".venv").symlink_to(ROOT / ".venv")

    # 1. a drill that holds: every job passes; the reports as artifacts, the site as Pages
    code, out, jobs = gitlab_pipeline(gcl, proj, env, DRILL_PATHS=HOLDS, **run)
    assert code == 0 and jobs == {"drills": 0, "lab": 0, "stack": 0, "pages": 0}, out[-4000:]
    reports = state / "artifacts" / "drills" / "reports"
    result = json.loads((reports / "result.json").read_text())
    assert result["result"] == "held" and result["counts"]["passed"] == 1, result
    assert result["drills"][0]["stack"] == "tiny" and result["drills"][0]["held"] is True
    for made in ("summary.md", "summary.json", "junit.xml", "history.jsonl", "management.html",
                 "site/index.html", "site/management.pdf", "site/allure-report/index.html"):
        assert (reports / made).is_file(), made
    dotenv = state / "artifacts" / "drills" / ".gitlab-ci-reports" / "dotenv" / "reports" / "drills.env"
    assert dotenv.read_text().splitlines() == ["DRILL_RESULT=held", "DRILL_EXIT_CODE=0"]
    assert (state / "artifacts" / "pages" / "public" / "index.html").read_text() == \
        (reports / "management.html").read_text()
    assert "ci: lab: fine" in out and "ci: defect: fine" in out
    history = state / "cache" / "drill-history" / "reports" / "history.jsonl"  # the cache drill-history
    assert [h["outcome"] for h in lines_of(history)] == ["passed"]
    assert f"imported cache '0_drillkit-{digest}'" in out

    # 2. a drill that finds a defect: only `stack` fails (exit 1), with the drill's sentence
    code, out, jobs = gitlab_pipeline(gcl, proj, env, DRILL_PATHS=FINDS_DEFECT, **run)
    assert code != 0 and jobs == {"drills": 0, "lab": 0, "stack": 1, "pages": 0}, out[-4000:]
    assert re.search(r"^stack\s+> ci: 1 drill\(s\) found a defect in the stack", out, re.MULTILINE), out[-3000:]
    assert re.search(r"^stack\s+>\s+tiny: the entry replica is lost: .*recover", out, re.MULTILINE), out[-3000:]
    result = json.loads((reports / "result.json").read_text())
    assert result["result"] == "defect" and result["exit_code"] == 1
    assert "creating the Python environment" not in out                       # .venv from the cache
    assert [h["outcome"] for h in lines_of(history)] == ["passed", "failed"]   # the trend carried over
    assert "Trend over the last 2 run(s)" in (reports / "site" / "index.html").read_text()

    # 3. a drill file that does not exist: the input is wrong, no verdict on the stack — only `lab`
    #    fails (exit 2). (The GitHub test gives a switch the stack lacks: its input is mapped.)
    code, out, jobs = gitlab_pipeline(gcl, proj, env, DRILL_PATHS=f"{TINY_DRILLS[:-3]}_gone.py", **run)
    assert code != 0 and jobs == {"drills": 0, "lab": 2, "stack": 0, "pages": 0}, out[-4000:]
    assert re.search(r"^lab\s+> ci: the input .* is wrong, not the stack: input-error; .*tiny_drills_gone\.py",
                     out, re.MULTILINE), out[-3000:]
    assert json.loads((reports / "result.json").read_text())["result"] == "input-error"
    assert set(leftovers(docker)) <= before, "a pipeline left containers behind"
    shutil.rmtree(proj)          # its build folders and cache hold two copies of a Python environment


# -- GitHub Actions by act ---------------------------------------------------------------------------

STAND_INS = {"actions/cache@v4": "cache", "actions/upload-artifact@v4": "upload-artifact",
             "actions/upload-pages-artifact@v3": "upload-pages-artifact", "actions/deploy-pages@v4": "deploy-pages"}


def act_run(act: str, proj: Path, env: dict, store: Path, run_id: int, **inputs: str) -> tuple[int, str, dict, dict]:
    """Run the workflow as a manual run with these inputs (workflow_dispatch). Returns act's exit
    code, the log and {job: result}, {(job, step): (result, exit code or None)}."""
    event = store.parent / f"event-{run_id}.json"
    event.write_text(json.dumps({"inputs": {"drills": "", "switches": "", "environments": "", **inputs},
                                 "repository": {"default_branch": "main", "name": "drillkit"}}))
    args = [act, "workflow_dispatch", "-e", str(event), "-W", ".github/workflows/drills.yml", "--json",
            "-P", "ubuntu-latest=-self-hosted",                 # jobs on this host: no container images
            "--action-offline-mode", "--no-cache-server", "--rm",
            "--action-cache-path", str(store.parent / "act"),  # act's workspaces, under tmp_path
            "--env", f"DRILLKIT_ACT_STORE={store}", "--env", f"GITHUB_RUN_ID={run_id}",
            "--env", f"DRILLKIT_ACT_STUBS={proj / 'tests' / 'lab' / 'ci_actions'}",
            "--env", "DRILL_IMAGE_CACHE="]                      # no image tar: the images are here
    for repo, folder in STAND_INS.items():
        args += ["--local-repository", f"{repo}={proj / 'tests' / 'lab' / 'ci_actions' / folder}"]
    r = subprocess.run(args, check=False, cwd=proj, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT)
    (store.parent / f"act-{run_id}.log").write_text(r.stdout + r.stderr)   # the whole log, for a failure's reader
    jobs, steps, log, last_step = {}, {}, [], {}
    for line in r.stdout.splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            log.append(line)
            continue
        msg, job = rec.get("msg", ""), rec.get("jobID")
        log.append(f"[{job}] {msg}")
        if rec.get("jobResult"):
            jobs[job] = rec["jobResult"]
        elif rec.get("stepResult") and rec.get("stage") == "Main":
            steps[(job, rec["step"])] = (rec["stepResult"], None)
            last_step[job] = rec["step"]
        elif (m := re.fullmatch(r"exit status (\d+)", msg.strip())) and job in last_step:
            key = (job, last_step[job])
            steps[key] = (steps[key][0], int(m[1]))
    return r.returncode, "\n".join(log) + r.stderr, jobs, steps


@pytest.mark.long   # the same ci/drills.sh as GitLab's template above, whose run stays in every change's suite
def test_github_workflow_runs_in_act(tmp_path, docker):
    act = tool("act", "DRILLKIT_ACT")
    workflow = (ROOT / "ci" / "github" / "drills.yml").read_text()
    proj = project(tmp_path / "project", {".github/workflows/drills.yml": workflow})
    env = tool_env()
    store = tmp_path / "store"
    before = set(leftovers(docker))
    # the runner's cache already holds a Python environment (this checkout's): restored by the
    # workflow's own cache step through its restore-keys, as on GitHub after the first run
    seed = store / "cache" / "drillkit-Linux-earlier-run"
    seed.mkdir(parents=True)
    (seed / ".venv").symlink_to(ROOT / ".venv")
    if (ROOT / ".cache" / "allure").is_dir():
        (seed / ".cache").mkdir()
        (seed / ".cache" / "allure").symlink_to(ROOT / ".cache" / "allure")

    def step(steps, name):
        return steps[("drills", name)]

    # 1. a drill that holds: both jobs succeed, every step too
    code, log, jobs, steps = act_run(act, proj, env, store, 101, drills=HOLDS, environments=TINY_ENV)
    assert code == 0 and jobs == {"drills": "success", "pages": "success"}, log[-4000:]
    assert step(steps, "Run the drills") == ("success", None)
    assert step(steps, "Lab: the drills could run") == ("success", None)
    assert step(steps, "Stack: every drill held") == ("success", None)
    assert "stub cache-restore: restored drillkit-Linux-earlier-run" in log     # .venv from the cache
    reports = store / "runs" / "101" / "artifacts" / "drill-reports"         # the uploaded reports/
    result = json.loads((reports / "result.json").read_text())
    assert result["result"] == "held" and result["counts"]["passed"] == 1, result
    for made in ("summary.md", "junit.xml", "history.jsonl", "site/index.html", "site/allure-report/index.html"):
        assert (reports / made).is_file(), made
    site = store / "runs" / "101" / "pages"                                  # deployed by the pages job
    assert (site / "index.html").read_text() == (reports / "management.html").read_text()
    assert (site / "allure-report" / "index.html").is_file()
    assert re.search(r"Summary - .*Every drill held", log), log[-3000:]       # the job summary
    assert [h["outcome"] for h in lines_of(store / "cache" / "drill-history-101" / "reports" / "history.jsonl")] \
        == ["passed"]

    # 2. a drill that finds a defect: only "Stack: every drill held" fails (exit 1); pages still runs
    code, log, jobs, steps = act_run(act, proj, env, store, 102, drills=FINDS_DEFECT, environments=TINY_ENV)
    assert code != 0 and jobs == {"drills": "failure", "pages": "success"}, log[-4000:]
    assert step(steps, "Run the drills") == ("success", None)
    assert step(steps, "Lab: the drills could run") == ("success", None)
    assert step(steps, "Stack: every drill held") == ("failure", 1), log[-3000:]
    assert re.search(r"::error title=Defect found: tiny: the entry replica is lost::.*recover", log), log[-3000:]
    reports = store / "runs" / "102" / "artifacts" / "drill-reports"
    assert json.loads((reports / "result.json").read_text())["result"] == "defect"
    history = store / "cache" / "drill-history-102" / "reports" / "history.jsonl"
    assert [h["outcome"] for h in lines_of(history)] == ["passed", "failed"]  # restored from run 101, grown
    assert "Trend over the last 2 run(s)" in (reports / "site" / "index.html").read_text()

    # 3. a switch the stack does not have: no verdict on the stack — only "Lab: …" fails (exit 2)
    code, log, jobs, steps = act_run(act, proj, env, store, 103, drills=HOLDS, environments=TINY_ENV,
                                     switches="no_such_switch=1")
    assert code != 0 and jobs == {"drills": "failure", "pages": "success"}, log[-4000:]
    assert step(steps, "Lab: the drills could run") == ("failure", 2), log[-3000:]
    assert step(steps, "Stack: every drill held") == ("success", None)
    assert re.search(r"ci: .*, not the stack: \S+-error; .*no_such_switch", log), log[-3000:]
    reports = store / "runs" / "103" / "artifacts" / "drill-reports"
    assert json.loads((reports / "result.json").read_text())["result"] in ("lab-error", "input-error")
    assert set(leftovers(docker)) <= before, "a workflow run left containers behind"

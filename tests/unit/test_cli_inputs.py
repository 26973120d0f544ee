"""What the commands say about bad input, before anything starts: every file of `drill validate`
checked and each error said once; missing, empty, binary and FIFO files told apart for `drill
validate`, `drill run PATH` and `drill list PATH`; a switch no environment takes is an input error.

`drill run` is run with no engine reachable (DOCKER_HOST points nowhere): an input error must be found
before the engine is asked anything — so nothing can have started."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from drillkit import cli
from drillkit.outcome import RunOutcome
from drillkit.progress import make_view

REPO = Path(__file__).resolve().parents[2]
REGISTRY = REPO / "environments" / "registry" / "compose.yaml"
NO_ENGINE = {"DOCKER_HOST": "unix:///nonexistent/docker.sock", "DRILLKIT_NO_GC": "1"}
SCENARIO = (f"scenario: fine\nenvironment: {REGISTRY}\nusers: {{clerks: 2}}\nprobe: false\n"
            "faults:\n  - {kind: kill, target: {service: app, replica: 2}, at: 0s, for: 1s}\nobserve: 2s\n")


def drill(*args: str, cwd: Path = REPO, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "drillkit.cli", *args], capture_output=True, text=True,
                          cwd=cwd, env={**os.environ, **NO_ENGINE, **env}, timeout=120)


@pytest.fixture
def files(tmp_path) -> dict[str, Path]:
    out = {"missing": tmp_path / "nope.yaml", "empty": tmp_path / "empty.yaml", "binary": tmp_path / "binary.yaml",
           "fifo": tmp_path / "fifo.yaml", "ok": tmp_path / "ok.yaml", "huge": tmp_path / "observe.yaml"}
    out["empty"].write_text("")
    out["binary"].write_bytes(b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)))
    os.mkfifo(out["fifo"])
    out["ok"].write_text(SCENARIO)
    out["huge"].write_text(SCENARIO.replace("observe: 2s", "observe: 99999999h"))
    return out


WORDS = {"missing": "no such file", "empty": "empty file", "binary": "a binary file",
         "fifo": "not a regular file (a FIFO", "huge": "'99999999h' is longer than 24 h"}


def test_validate_checks_every_file_and_says_each_error_once(files):
    names = ["ok", "missing", "empty", "binary", "fifo", "huge", "ok"]
    r = drill("validate", *(str(files[n]) for n in names))
    assert r.returncode == 2
    assert r.stdout.splitlines() == [f"{files['ok']}: ok"] * 2
    errors = r.stderr.splitlines()
    assert len(errors) == 5, errors
    for line, name in zip(errors, names[1:-1]):
        assert line.startswith(f"drill: error: {files[name]}") and WORDS[name] in line, (name, line)
    assert len(set(errors)) == len(errors)


def test_validate_a_folder_takes_its_compose_file(tmp_path):
    r = drill("validate", str(REGISTRY.parent), str(tmp_path))
    assert r.returncode == 2
    assert r.stdout == f"{REGISTRY.parent}: ok\n"
    assert r.stderr.strip() == (f"drill: error: {tmp_path}: a folder without a compose.yaml — fix: name a scenario or a "
                                "Compose file, or a folder that holds a compose.yaml")


@pytest.mark.parametrize("name", ["missing", "empty", "binary", "fifo"])
def test_list_a_bad_path_is_one_line_and_exit_2(files, name):
    r = drill("list", str(files[name]))
    assert r.returncode == 2
    assert r.stdout == ""
    (line,) = r.stderr.splitlines()
    assert line.startswith(f"drill: error: {files[name]}") and "Traceback" not in line
    assert WORDS[name].split(" (")[0].replace("no such file", "no such file or folder") in line


def test_list_lists_the_good_paths_and_names_the_bad_one(files):
    r = drill("list", str(files["ok"]), str(files["missing"]))
    assert r.returncode == 2
    assert "::ok\tregistry\tkill" in r.stdout
    assert r.stderr.splitlines() == [f"drill: error: {files['missing']}: no such file or folder — fix: check the "
                                     "path (drills are test_*.py files and *.yaml scenarios)"]


@pytest.mark.parametrize("name", ["missing", "empty", "binary", "fifo", "huge"])
def test_run_a_bad_path_is_an_input_error_before_the_engine_is_asked(files, name):
    r = drill("run", "--json", "--no-html", "--no-pdf", "--report-dir", str(files["ok"].parent / "reports"),
              str(files[name]))
    assert r.returncode == 2, r.stderr
    result = json.loads(r.stdout)
    assert result["result"] == "input-error" and result["drills"] == []
    (error,) = result["errors"]
    assert error.startswith(str(files[name])) and WORDS[name] in error
    assert "Docker" not in r.stderr and r.stderr.count(error) == 1


def test_run_with_a_switch_no_environment_takes_is_an_input_error(files):
    r = drill("run", "--json", "--no-html", "--no-pdf", "-s", "nosuch=1", "--report-dir",
              str(files["ok"].parent / "reports"), str(files["ok"]))
    assert r.returncode == 2, r.stderr
    result = json.loads(r.stdout)
    assert result["result"] == "input-error"
    (error,) = result["errors"]
    assert error.startswith(f"-s nosuch=1: {REGISTRY}: x-drillkit.switches: unknown switch 'nosuch'"), error


def test_run_refuses_a_bad_scenario_in_a_folder_before_the_engine_is_asked(tmp_path):
    folder = tmp_path / "scenarios"
    folder.mkdir()
    (folder / "ok.yaml").write_text(SCENARIO)
    (folder / "bad.yaml").write_text(SCENARIO.replace("observe: 2s", "observe: 25h"))
    r = drill("run", "--json", "--no-html", "--no-pdf", "--report-dir", str(tmp_path / "reports"), str(folder))
    assert r.returncode == 2
    result = json.loads(r.stdout)
    assert result["result"] == "input-error"
    assert result["errors"] == [f"{folder / 'bad.yaml'}:7: observe: '25h' is longer than 24 h — fix: use at most "
                                "24 h (docs/scenarios.md, Bounds)"]


def test_a_collection_error_is_said_once(tmp_path):
    """`drill run`'s live view and its closing lines used to print a file's collection error twice."""
    out = io.StringIO()
    view = make_view(stream=out, rich=False)
    events = [{"event": "collect-error", "where": "scenarios/bad.yaml", "message": "scenarios/bad.yaml:7: observe: no"},
              {"event": "collected", "drills": []}]
    for ev in events:
        view.event(ev)
    run = RunOutcome(pytest_status=2)
    cli._outcome_from_events(run, events, tmp_path / "drill-run.log")
    view.result(run)
    assert out.getvalue().count("scenarios/bad.yaml:7: observe: no") == 1, out.getvalue()
    assert run.result == "input-error"

"""The `drill` command: one-line errors, no tracebacks."""

import os
import subprocess
import sys

import pytest

from drillkit.errors import ConfigError


def run(*args, **env):
    return subprocess.run([sys.executable, "-m", "drillkit.cli", *args], capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=60)


def test_no_docker_engine_is_one_line_with_how_to_start_it():
    r = run("ps", DOCKER_HOST="unix:///nonexistent/docker.sock")
    assert r.returncode != 0
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("drill: error: no Docker engine answers")
    assert "dockerd" in lines[0]


def test_validate_reports_bad_compose_file_in_one_line(tmp_path):
    bad = tmp_path / "compose.yaml"
    bad.write_text("services:\n  web:\n    image: x\n    ports: ['8080:80']\n")
    r = run("validate", str(bad))
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    assert f"{bad}:4: services.web.ports" in r.stderr


def test_help_lists_the_commands():
    r = run("--help")
    for cmd in ("run", "list", "test", "up", "inject", "heal", "down", "ps", "gc", "images", "validate", "report"):
        assert f"    {cmd}" in r.stdout


def test_drill_test_runs_the_suite_on_two_workers_unless_told_otherwise():
    from drillkit.cli import test_command
    cmd = test_command([], {})
    assert cmd[1:] == ["-m", "pytest", "-n", "2", "--dist", "loadfile", "--no-loadscope-reorder", "tests"]
    assert test_command(["tests/unit", "-q"], {"DRILLKIT_TEST_WORKERS": "3"})[3:6] == ["-n", "3", "--dist"]
    for own in (["-n", "4"], ["-n4"], ["-p", "no:xdist"], ["--dist=loadfile"], ["--numprocesses=1"]):
        assert test_command(["tests", *own], {})[3:] == ["tests", *own]      # the caller's choice wins
    assert test_command(["tests"], {"DRILLKIT_TEST_WORKERS": "0"})[3:] == ["tests"]   # one process
    with pytest.raises(ConfigError, match="DRILLKIT_TEST_WORKERS"):
        test_command([], {"DRILLKIT_TEST_WORKERS": "two"})

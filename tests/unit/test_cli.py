"""The `drill` command: one-line errors, no tracebacks."""

import os
import subprocess
import sys


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

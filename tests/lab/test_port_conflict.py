"""A host port that is already in use: one lab error naming the Compose file:line, the service and
the port, with a fix — not Docker's raw ``APIError: 500 … bind: address already in use`` — and
nothing of the run left behind. The lab says it (lab/backends/docker), so every door says the same."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from lab_support import run_objects

from drillkit.errors import LabError
from drillkit.lab.environment import Environment
from drillkit.stack import load_stack

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def busy_port():
    """A port on 127.0.0.1 someone else holds (a listening socket of this test)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.fixture
def compose(tmp_path, busy_port) -> Path:
    path = tmp_path / "portlab" / "compose.yaml"
    path.parent.mkdir()
    path.write_text("services:\n"
                    "  web:\n"
                    "    image: drillkit/test-tiny-web:dev\n"
                    f'    ports: ["127.0.0.1:{busy_port}:8000"]\n')
    return path


def test_a_host_port_in_use_is_one_lab_error_and_nothing_is_left(docker, compose, busy_port):
    env = Environment(load_stack(compose), build=False)
    with pytest.raises(LabError) as info:
        env.up()
    msg = str(info.value)
    assert msg.startswith(f"{compose}:4: services.web.ports: host port {busy_port} on 127.0.0.1 is already in "
                          "use, so web cannot publish its port 8000 — fix: free port "), msg
    assert "\n" not in msg and "APIError" not in msg and "500" not in msg
    assert run_objects(docker, env.run_id) == ([], [], [])


def test_drill_up_says_it_in_one_line(docker, compose, busy_port, tmp_path):
    r = subprocess.run([sys.executable, "-m", "drillkit.cli", "up", str(compose), "--report-dir", str(tmp_path)],
                       cwd=ROOT, capture_output=True, text=True, timeout=180, env={**os.environ})
    assert r.returncode == 2, r.stdout + r.stderr
    (line,) = r.stderr.splitlines()
    assert line.startswith(f"drill: error: {compose}:4: services.web.ports: host port {busy_port} on 127.0.0.1 "
                           "is already in use"), line
    run = re.search(r"\(run (dk\w+),", r.stdout)[1]
    assert run_objects(docker, run) == ([], [], [])

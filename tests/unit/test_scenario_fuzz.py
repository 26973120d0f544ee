"""Broken scenarios and Compose files, generated: each mutation of a valid scenario, and any byte
sequence given as a scenario or a Compose file (to the loaders, to `drill validate`, to pytest's
collection), gets a one-line `ConfigError` naming the file (exit 2) — never a traceback, never any
other exception, and never a container started. So do alias bombs, 10 MB files and FIFOs given to
`drill validate`, `drill run` and `drill list` — answered, never hung on."""

from __future__ import annotations

import contextlib
import copy
import io
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drillkit import cli
from drillkit import labels as L
from drillkit.errors import ConfigError
from drillkit.scenario.model import Scenario, load_scenario
from drillkit.stack import load_stack

REPO = Path(__file__).resolve().parents[2]
COMPOSE = str(REPO / "environments" / "registry" / "compose.yaml")

BASE: dict[str, Any] = {
    "scenario": "registry node kill",
    "source": "SCENARIOS.md",
    "environment": COMPOSE,
    "switches": {"sessions": "shared"},
    "severity": "critical",
    "users": {"clerks": 20},
    "probe": {"interval": "50ms", "path": "/version"},
    "steady_state": {"duration": "3s", "availability": {"existing-sessions": 0.99}},
    "faults": [
        {"kind": "kill", "target": {"service": "app", "replica": 2}, "at": "0s", "for": "8s"},
        {"kind": "stop", "target": {"service": "app", "zone": "zone-b", "random": True, "seed": 7},
         "at": "1s", "for": "1s", "grace": 2, "repeat": {"every": "3s", "times": 2}},
    ],
    "observe": "8s",
    "recover": "2s",
    "guards": [{"population": "existing-sessions", "availability_below": 0.5, "for": "5s"}],
    "max_nodes": 2,
    "expect": {"recovery_time": {"population": "existing-sessions", "max": "3s", "consecutive": 3},
               "sessions_lost": 0, "writes_lost": 0, "availability": {"new-logins": 0.9}},
}
REQUIRED = ("scenario", "environment", "faults")
DURATION_PATHS = [("observe",), ("recover",), ("steady_state", "duration"), ("faults", 0, "at"),
                  ("faults", 0, "for"), ("faults", 1, "at"), ("faults", 1, "repeat", "every"),
                  ("guards", 0, "for"), ("expect", "recovery_time", "max"), ("probe", "interval")]
FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
BYTES = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
OUR_PIDS: set[int] = {os.getpid()}   # this process and the pytest processes it starts


def _engine():
    """The Docker engine, if one answers within a few seconds (else the container check is skipped)."""
    try:
        import docker
        c = docker.from_env(timeout=5)
        c.ping()
        return c
    except Exception:
        return None


@pytest.fixture(scope="module", autouse=True)
def no_container_started():
    """Nothing in this module may create a container: none labelled by drillkit and owned by this
    process or one it started appears among the engine's events meanwhile (other runs on a shared
    engine are told apart by their owner label)."""
    engine = _engine()
    since = time.time()
    yield
    if engine is None:
        return
    events = engine.api.events(since=int(since), until=int(time.time()) + 1, decode=True,
                               filters={"type": "container", "event": "create", "label": L.RUN})
    ours = [e for e in events
            if int((e["Actor"]["Attributes"].get(L.OWNER, "::").split(":") + ["0"])[1] or 0) in OUR_PIDS]
    assert ours == [], f"validation created containers: {ours}"


def paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    """Every (container path, key) in the document."""
    out = []
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else []
    for k, v in items:
        out.append(prefix + (k,))
        out.extend(paths(v, prefix + (k,)))
    return out


def at(doc: Any, path: tuple) -> Any:
    for k in path:
        doc = doc[k]
    return doc


def check(text: str | bytes, *, must_fail: bool = True) -> None:
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "fuzzed.yaml"
        p.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
        try:
            result = load_scenario(p)
        except ConfigError as exc:
            msg = str(exc)
            assert str(p) in msg, msg
            assert "\n" not in msg and "Traceback" not in msg, msg
            return
        assert not must_fail, f"accepted a broken scenario:\n{text}"
        assert isinstance(result, Scenario)


def dump(doc: Any) -> str:
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)


keys = st.sampled_from(paths(BASE))
junk_names = st.text(st.characters(categories=("Ll", "Nd")), min_size=1, max_size=8).map(lambda s: "zz" + s)


@FUZZ
@given(st.sampled_from(REQUIRED))
def test_dropping_a_required_key(key):
    doc = copy.deepcopy(BASE)
    del doc[key]
    check(dump(doc))


@FUZZ
@given(keys, junk_names)
def test_renaming_any_key(path, new):
    doc = copy.deepcopy(BASE)
    parent = at(doc, path[:-1])
    if isinstance(parent, list):  # a list index: replace the item by a mapping with an unknown key
        parent[path[-1]] = {new: 1}
    else:
        parent[new] = parent.pop(path[-1])
    check(dump(doc))


@FUZZ
@given(keys, st.one_of(st.lists(st.integers(), min_size=1, max_size=3),
                       st.dictionaries(junk_names, st.integers(), min_size=1, max_size=2)))
def test_wrong_types(path, value):
    doc = copy.deepcopy(BASE)
    parent = at(doc, path[:-1])
    old = parent[path[-1]]
    if isinstance(old, (dict, list)):
        value = "zz-not-a-" + type(old).__name__
    elif isinstance(value, dict) and path[-1] in ("switches",):
        value = [1]
    parent[path[-1]] = value
    check(dump(doc))


@FUZZ
@given(st.sampled_from(DURATION_PATHS), st.floats(min_value=0.001, max_value=1e6), st.sampled_from(["ms", "s", "m", ""]))
def test_negative_durations(path, amount, unit):
    doc = copy.deepcopy(BASE)
    at(doc, path[:-1])[path[-1]] = f"-{amount:g}{unit}" if unit else -amount
    check(dump(doc))


@FUZZ
@given(st.integers(0, 1), junk_names, st.sampled_from(["kind", "attribute", "service", "replica", "zone", "container"]))
def test_unknown_kinds_attributes_targets(i, name, what):
    doc = copy.deepcopy(BASE)
    f = doc["faults"][i]
    if what == "kind":
        f["kind"] = name
    elif what == "attribute":
        f[name] = 1
    elif what == "service":
        f["target"]["service"] = name
    elif what == "replica":
        f["target"]["replica"] = 5 + len(name)
    elif what == "zone":
        f["target"]["zone"] = name
    else:
        f["target"]["container"] = f"dk1-registry-app-{len(name)}"
    check(dump(doc))


@FUZZ
@given(st.text(max_size=200))
def test_garbage_text(text):
    check(text)


# Bytes: anything at all, also after a start that makes the file look like a scenario or a Compose
# file (so both readers get past the first line), or after a UTF-8 byte-order mark.
PREFIXES = [b"", b"scenario: fuzz\n", b"services:\n", b"\xef\xbb\xbf",
            b"scenario: x\nenvironment: registry\nfaults:\n  - ", b"services:\n  web:\n    image: "]
any_bytes = st.builds(lambda prefix, tail: prefix + tail, st.sampled_from(PREFIXES), st.binary(max_size=300))


def one_line(msg: str, path: Path) -> None:
    assert str(path) in msg, msg
    assert "\n" not in msg.strip() and "Traceback" not in msg, msg


@BYTES
@given(any_bytes)
def test_any_bytes_as_a_scenario(data):
    check(data, must_fail=False)


@BYTES
@given(any_bytes)
def test_any_bytes_as_a_compose_file(data):
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "compose.yaml"
        p.write_bytes(data)
        try:
            load_stack(p)
        except ConfigError as exc:
            one_line(str(exc), p)


@BYTES
@given(any_bytes, st.sampled_from(["compose.yaml", "fuzzed.yaml", "scenarios/fuzzed.yaml"]))
def test_drill_validate_answers_any_bytes_in_one_line(data, name):
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / name
        p.parent.mkdir(exist_ok=True)
        p.write_bytes(data)
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli.main(["validate", str(p)])
        if code == 0:
            assert out.getvalue() == f"{p}: ok\n" and err.getvalue() == ""
        else:
            assert code == 2, (code, err.getvalue())
            lines = err.getvalue().splitlines()
            assert len(lines) == 1 and lines[0].startswith("drill: error: "), lines
            one_line(lines[0], p)


def test_pytest_collection_of_byte_scenarios_is_one_line_each_and_exit_2(tmp_path):
    """pytest collects every file under a `scenarios` folder: each broken one is a collection error of
    one line, the run exits 2 and nothing starts."""
    rng = random.Random(7)
    folder = tmp_path / "scenarios"
    folder.mkdir()
    blobs = [b"\xff\xfe\x00s\x00", b"scenario: x\n\xc3\x28\n", b"\x00" * 40, b"\xef\xbb\xbfscenario: [\n"]
    blobs += [rng.choice(PREFIXES) + rng.randbytes(rng.randint(0, 300)) for _ in range(26)]
    blobs += [BOMB_HOMES[0] + _bomb(9, 10, False), BOMB_HOMES[1] + _bomb(12, 6, True),    # alias bombs
              b"scenario: x\nenvironment: registry\nfaults:\n" + b"  - {kind: kill, target: app}\n" * 360_000]  # 10 MB
    names = []
    for i, blob in enumerate(blobs):
        (folder / f"f{i:02d}.yaml").write_bytes(blob)
        names.append(f"scenarios/f{i:02d}.yaml")
    os.mkfifo(folder / "fifo.yaml")     # never opened: pytest's walk passes it by
    proc = subprocess.Popen([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                             "scenarios"], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    OUR_PIDS.add(proc.pid)
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 2, out[-3000:]
    assert "Traceback" not in out, out[-3000:]
    # pytest prints each collection error under a "___ ERROR collecting <file> ___" rule
    lines = out.splitlines()
    for name in names:
        (at,) = [i for i, line in enumerate(lines) if line.strip("_ ") == f"ERROR collecting {name}"]
        body = []
        for line in lines[at + 1:]:
            if line.startswith(("___", "===")):
                break
            body.append(line)
        assert len(body) == 1 and body[0].startswith(f"{name}:"), (name, body)
    assert f"Interrupted: {len(names)} errors during collection" in out
    assert "fifo.yaml" not in out


@FUZZ
@given(st.data())
def test_corrupted_valid_text(data):
    """Characters spliced into a valid file: either still valid, or one ConfigError line."""
    text = dump(BASE)
    pos = data.draw(st.integers(0, len(text)))
    junk = data.draw(st.text(alphabet=":{}[]-,#&*!|>'\"%@`\t\n ?x1", min_size=1, max_size=6))
    check(text[:pos] + junk + text[pos:], must_fail=False)


# -- bombs, 10 MB files and FIFOs: the same one line, in bounded time, nothing started --------------
HANG = 60.0   # a hang detector, not a stopwatch: an answer takes well under a second


def _answer(argv: list[str]) -> tuple[int, str, str]:
    """`drill ARGV`: (exit code, stdout, stderr); fails if it does not come back within HANG seconds
    (a FIFO opened for reading would block for ever). `validate` and `list` run in this process;
    `run` (which takes SIGTERM, a main thread's business) in a child with no engine to reach: what it
    refuses, it refuses before asking one."""
    if argv[0] == "run":
        proc = subprocess.Popen([sys.executable, "-m", "drillkit.cli", *argv], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True,
                                env={**os.environ, "DOCKER_HOST": "unix:///nonexistent/docker.sock"})
        OUR_PIDS.add(proc.pid)
        try:
            out, err = proc.communicate(timeout=HANG)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise AssertionError(f"drill {' '.join(argv)}: no answer within {HANG:g} s") from None
        return proc.returncode, out, err
    box: dict = {}

    def go() -> None:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            box["code"] = cli.main(argv)
        box["out"], box["err"] = out.getvalue(), err.getvalue()
    th = threading.Thread(target=go, daemon=True)
    th.start()
    th.join(HANG)
    assert not th.is_alive(), f"drill {' '.join(argv)}: no answer within {HANG:g} s"
    return box["code"], box["out"], box["err"]


def _bomb(levels: int, fan: int, merge: bool) -> bytes:
    lines = ["  a0: &a0 {k: [lol, lol]}" if merge else "  a0: &a0 [lol, lol]"]
    for i in range(1, levels + 1):
        lines.append(f"  a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * fan) + "]")
    if merge:
        lines.append(f"  m: {{<<: *a0, all: *a{levels}}}")
    return ("\n".join(lines) + "\n").encode()


BOMB_HOMES = [b"scenario: bomb\nenvironment: registry\ndescription:\n",
              b"scenario: bomb\nenvironment: registry\nfaults: [{kind: kill, target: app}]\nswitches:\n",
              b"services:\n  web:\n    image: x/y:1\nx-bomb:\n", b"x-bomb:\n"]
bombs = st.builds(lambda home, levels, fan, merge: home + _bomb(levels, fan, merge), st.sampled_from(BOMB_HOMES),
                  st.integers(8, 14), st.integers(5, 12), st.booleans())   # 5^8 × 2 > 100,000 values
# 10 MB: a chunk repeated after a start that makes the file look like a scenario or a Compose file
big_files = st.builds(lambda prefix, chunk: prefix + chunk * ((10 << 20) // max(1, len(chunk)) + 1),
                      st.sampled_from(PREFIXES + [b"scenario: x\nenvironment: registry\nfaults:\n"]),
                      st.one_of(st.just(b"  - {kind: kill, target: app}\n"), st.binary(min_size=1, max_size=64)))
NAMES = st.sampled_from(["compose.yaml", "fuzzed.yaml", "scenarios/fuzzed.yaml"])


def _one_error_line(code: int, out: str, err: str, path: Path) -> None:
    assert code == 2, (code, out, err)
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("drill: error: "), lines
    one_line(lines[0], path)


@settings(max_examples=45, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bombs, NAMES, st.sampled_from(["validate", "run", "list"]))
def test_alias_bombs_are_one_line_in_bounded_time(data, name, command):
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / name
        p.parent.mkdir(exist_ok=True)
        p.write_bytes(data)
        if command == "validate":
            code, out, err = _answer(["validate", str(p)])
            _one_error_line(code, out, err, p)
            assert "refused: it holds more than 100,000 values" in err, err
        elif command == "list":
            code, out, err = _answer(["list", str(p)])
            assert code == 2 and "Traceback" not in out + err, (out, err)
        else:
            code, out, err = _answer(["run", "--json", "--no-html", "--no-pdf", "--report-dir", f"{d}/reports", str(p)])
            assert code == 2 and "Traceback" not in out + err, (out, err)
            assert json.loads(out)["result"] == "input-error"


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(big_files, NAMES, st.sampled_from(["validate", "run", "list"]))
def test_10_mb_files_are_one_line(data, name, command):
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / name
        p.parent.mkdir(exist_ok=True)
        p.write_bytes(data)
        argv = {"validate": ["validate", str(p)], "list": ["list", str(p)],
                "run": ["run", "--json", "--no-html", "--no-pdf", "--report-dir", f"{d}/reports", str(p)]}[command]
        code, out, err = _answer(argv)
        assert code == 2 and "Traceback" not in out + err, (out, err)
        if command != "run":
            _one_error_line(code, out, err, p)
        text = err if command != "run" else json.loads(out)["errors"][0]
        assert "too large" in text or "binary" in text or "not UTF-8" in text, text


@pytest.mark.parametrize("name", ["compose.yaml", "fuzzed.yaml", "scenarios/fuzzed.yaml", "test_fifo.py"])
@pytest.mark.parametrize("command", ["validate", "run", "list"])
def test_a_fifo_is_one_line_and_never_opened(tmp_path, name, command):
    p = tmp_path / name
    p.parent.mkdir(exist_ok=True)
    os.mkfifo(p)
    argv = {"validate": ["validate", str(p)], "list": ["list", str(p)],
            "run": ["run", "--json", "--no-html", "--no-pdf", "--report-dir", str(tmp_path / "reports"), str(p)]}[command]
    try:
        code, out, err = _answer(argv)
    finally:   # had anything opened it, a writer now lets it go (the test has failed already)
        with contextlib.suppress(OSError):
            os.close(os.open(p, os.O_WRONLY | os.O_NONBLOCK))
    text = json.loads(out)["errors"][0] if command == "run" else err
    assert code == 2 and "not a regular file (a FIFO" in text, (out, err)
    if command != "run":
        _one_error_line(code, out, err, p)

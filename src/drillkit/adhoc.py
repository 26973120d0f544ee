"""Faults by hand on an environment brought up with `drill up`: `drill inject`, `drill heal`, and the
heal that `drill down` does first.

Each command is its own process, and may run in another directory than `drill up` did, so what a
fault needs for its heal (which nodes, its iptables rules, its toxic's name, the pid file of its
stress process, the clock offset it replaced) is kept beside the run's lock, where every process on
this machine finds it by the run's id alone; the timeline goes where `drill up` was asked to write::

    $DRILLKIT_RUN_DIR/<run>.adhoc.json   the environment, its switches, the timeline's path, and the
                                         faults still active (RUN_DIR: /tmp/drillkit-runs by default)
    <report dir of drill up>/adhoc/<run>.jsonl   the run's timeline: every inject and heal, as in a drill

`drill heal --all` and `drill down` heal newest first; faults on different nodes and links heal at
the same time (a fault waits only for the newer faults that touch what it touches).

A fault's state is its plain attributes (numbers, text, lists, nodes, toxics) written as JSON and set
back on a fault made again from its kind and attributes; what cannot be written (a thread) is made
fresh. ``crash_loop`` lives in a thread of the process that injects it, so it is refused here (run it
in a scenario with ``drill run SCENARIO --attach RUN``). Ad-hoc fault ids start at f101 so they never
clash with the ids of a drill attached to the same run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import itertools
import json
import os
import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml

from drillkit import labels as L
from drillkit.errors import ConfigError, FaultError
from drillkit.faults import base
from drillkit.faults import kinds as fault_kinds
from drillkit.lab.attach import attach
from drillkit.lab.links import Toxic
from drillkit.lab.node import Node
from drillkit.stack import load_stack
from drillkit.stack.target import Target
from drillkit.timeline import Timeline

__all__ = ["AdhocRun", "parse_attrs", "parse_target", "encode_state", "decode_state", "FIRST_ID",
           "REFUSED_KINDS", "heal_waves", "STATE_SUFFIX"]

FIRST_ID = 101
STATE_SUFFIX = ".adhoc.json"    # RUN_DIR/<run>.adhoc.json (labels.run_file)
_LOCK_SUFFIX = ".adhoc.lock"    # not <run>.lock: that one is the run's proof of life (labels.hold_run)
HEALERS = 8                     # faults healed at once
REFUSED_KINDS = {"crash_loop": "its loop runs in the process that injects it"}


# -- command-line pieces -------------------------------------------------------------------------

def parse_attrs(items: list[str], *, where: str = "drill inject") -> dict[str, Any]:
    """``latency=300 stream=upstream side_a=[app-1]`` -> typed values (YAML scalars and lists)."""
    out: dict[str, Any] = {}
    for item in items:
        name, sep, raw = item.partition("=")
        if not sep or not name.strip():
            raise ConfigError(f"attribute {item!r} is not NAME=VALUE", field=where,
                              fix="write e.g. latency=300 or side_a=[app-1,app-2]")
        try:
            out[name.strip()] = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            out[name.strip()] = raw
    return out


def parse_target(kind: str, text: str | None, attrs: dict[str, Any], services: list[str]):
    """TARGET of `drill inject`: ``app-2`` (one replica), ``app`` (every replica), ``app@zone-a``,
    a link's name for link faults, a zone for zone faults, ``-`` for none."""
    if kind not in fault_kinds.load_all():
        raise ConfigError(f"unknown fault kind {kind!r}", field="drill inject KIND",
                          fix=f"use one of {', '.join(sorted(fault_kinds.FAULTS))}")
    params = fault_kinds.parameters(kind)
    if text in (None, "", "-"):
        return None
    if "link" in params and "link" not in attrs:
        attrs["link"] = text
        return None
    if "zone" in params and "zone" not in attrs and kind.startswith("zone"):
        attrs["zone"] = text
        return None
    service, _, zone = text.partition("@")
    if service in services:
        return Target(service, zone=zone or None)
    m = re.fullmatch(r"(?P<service>.+)-(?P<replica>\d+)", service)
    if m and m["service"] in services:
        return Target(m["service"], replica=int(m["replica"]), zone=zone or None)
    raise ConfigError(f"no service {service!r} in this environment", field="drill inject TARGET",
                      fix=f"name a service or one replica: {', '.join(services)} (e.g. {services[0]}-1)"
                      if services else "name a service")


# -- fault state as JSON -------------------------------------------------------------------------

class _Unwritable(Exception):
    pass


def _codecs():
    return {"$node": Node, "$toxic": Toxic, "$target": Target}


def _encode(value: Any) -> Any:
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    for tag, cls in _codecs().items():
        if isinstance(value, cls):
            return {tag: {f.name: _encode(getattr(value, f.name)) for f in dataclasses.fields(cls)}}
    if isinstance(value, (list, tuple)):
        return [_encode(v) for v in value]
    if isinstance(value, dict):
        if all(isinstance(k, str) for k in value):
            return {k: _encode(v) for k, v in value.items()}
        return {"$items": [[_encode(k), _encode(v)] for k, v in value.items()]}
    raise _Unwritable(type(value).__name__)


def _decode(value: Any) -> Any:
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if isinstance(value, dict):
        if len(value) == 1:
            (tag, inner), = value.items()
            codecs = _codecs()
            if tag in codecs:
                return codecs[tag](**{k: _decode(v) for k, v in inner.items()})
            if tag == "$items":
                return {_freeze(_decode(k)): _decode(v) for k, v in inner}
        return {k: _decode(v) for k, v in value.items()}
    return value


def _freeze(key: Any) -> Any:
    return tuple(key) if isinstance(key, list) else key


def encode_state(fault) -> dict[str, Any]:
    """The fault's attributes that JSON can carry (threads, locks and the like are left out)."""
    out = {}
    for name, value in vars(fault).items():
        try:
            out[name] = _encode(value)
        except _Unwritable:
            continue
    return out


def decode_state(fault, state: dict[str, Any]) -> None:
    for name, value in state.items():
        setattr(fault, name, _decode(value))


# -- which heals may run at once -----------------------------------------------------------------

def _touches(fault) -> frozenset[str]:
    """What a fault acts on — its nodes, links, and every node its state names (iptables rules on
    peers, ...); ``*`` when it says nothing (it then waits for and holds up every other)."""
    out = set(fault.targets())
    for value in vars(fault).values():
        for node in _nodes_in(value):
            out.add(str(node))
    return frozenset(out or {"*"})


def _nodes_in(value: Any) -> Iterator[Node]:
    if isinstance(value, Node):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _nodes_in(k)
            yield from _nodes_in(v)
    elif isinstance(value, (list, tuple, set, frozenset)):
        for v in value:
            yield from _nodes_in(v)


def heal_waves(touches: list[frozenset[str]]) -> list[list[int]]:
    """Indexes of faults (oldest first, as injected) grouped into waves healed one after another,
    each wave at once: newest first, and a fault heals only after every newer fault that touches
    what it touches (``*`` touches everything)."""
    wave: dict[int, int] = {}
    for i in reversed(range(len(touches))):
        after = [wave[j] for j in range(i + 1, len(touches))
                 if "*" in touches[i] or "*" in touches[j] or touches[i] & touches[j]]
        wave[i] = 1 + max(after) if after else 0
    return [[i for i in reversed(range(len(touches))) if wave[i] == w] for w in range(max(wave.values(), default=-1) + 1)]


# -- one ad-hoc run ------------------------------------------------------------------------------

class AdhocRun:
    """The state and timeline of one `drill up` run: the state beside the run's lock (found from any
    directory), the timeline where `drill up` was asked to write it (``report_dir`` is used only
    for a run whose state does not say)."""

    def __init__(self, run_id: str, report_dir: str | os.PathLike = "reports"):
        self.run = run_id
        self.dir = Path(report_dir) / "adhoc"
        self._adopt_legacy()

    @property
    def state_path(self) -> Path:
        return L.run_file(self.run, STATE_SUFFIX)

    @property
    def timeline_path(self) -> Path:
        recorded = self.read().get("timeline")
        return Path(recorded) if recorded else self.dir / f"{self.run}.jsonl"

    def _adopt_legacy(self) -> None:
        """A run brought up before the state moved beside the lock kept it in the report folder."""
        legacy = self.dir / f"{self.run}.state.json"
        if self.state_path.exists() or not legacy.is_file():
            return
        with contextlib.suppress(OSError, ValueError):
            state = json.loads(legacy.read_text(encoding="utf-8"))
            state.setdefault("timeline", str((self.dir / f"{self.run}.jsonl").absolute()))
            self._write(state)
            legacy.unlink()

    # state ---------------------------------------------------------------------------------------
    def read(self) -> dict[str, Any]:
        try:
            return json.loads(self.state_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {"run": self.run, "faults": [], "next_id": FIRST_ID}

    def _write(self, state: dict[str, Any]) -> None:
        L.RUN_DIR.mkdir(parents=True, exist_ok=True)
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=1, default=str) + "\n", encoding="utf-8")
        tmp.replace(self.state_path)

    @contextlib.contextmanager
    def locked(self) -> Iterator[dict[str, Any]]:
        """The state, read and written back under a lock (two `drill inject` at once stay apart)."""
        L.RUN_DIR.mkdir(parents=True, exist_ok=True)
        with open(L.run_file(self.run, _LOCK_SUFFIX), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            state = self.read()
            yield state
            self._write(state)

    def record_up(self, environment: str, switches: dict[str, str], name: str) -> None:
        """Remember how `drill up` made the run (its Compose file and switches) for later attaches,
        and where its timeline goes."""
        with self.locked() as state:
            state.update(environment=str(environment), switches=dict(switches), name=name,
                         timeline=str((self.dir / f"{self.run}.jsonl").absolute()),
                         up=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
        tl = self.timeline(name)
        tl.note(f"drill up {name} (run {self.run})" + (f" with {switches}" if switches else ""))
        tl.close()

    def active(self) -> list[dict[str, Any]]:
        return list(self.read().get("faults", []))

    # the environment and the timeline -------------------------------------------------------------
    def environment(self, progress=None):
        state = self.read()
        stack = load_stack(state["environment"], state.get("switches") or {}) if state.get("environment") else None
        return attach(self.run, spec=stack, progress=progress)

    def timeline(self, environment: str = ""):
        """The run's timeline, appended to: times stay relative to the first command's start
        (the monotonic clock is the machine's, shared by every process)."""
        path = self.timeline_path
        if path.is_file() and path.stat().st_size:
            tl = Timeline.load(path)
            tl._fh = open(path, "a", buffering=1, encoding="utf-8")
            return tl
        path.parent.mkdir(parents=True, exist_ok=True)
        return Timeline(path, drill="ad hoc", run=self.run, environment=environment, meta={"adhoc": True})

    # faults --------------------------------------------------------------------------------------
    def inject(self, kind: str, target_text: str | None, attrs: dict[str, Any], *,
               max_nodes: int | None = None, env=None, progress=None) -> dict[str, Any]:
        """Inject one fault now; returns its state record (with ``fault_id``)."""
        if kind in REFUSED_KINDS:
            raise ConfigError(f"{kind} cannot be injected by hand: {REFUSED_KINDS[kind]}",
                              field="drill inject KIND",
                              fix="put it in a scenario and run it with `drill run SCENARIO --attach RUN`")
        env = env or self.environment(progress)
        attrs = dict(attrs)
        target = parse_target(kind, target_text, attrs, list(env.spec.services))
        with self.locked() as state:
            number = int(state.get("next_id", FIRST_ID))
            previous, base._ids = base._ids, itertools.count(number)   # the fault takes id f<number>
            try:
                fault = fault_kinds.create(kind, target, where="drill inject", max_nodes=max_nodes, **attrs)
            finally:
                base._ids = previous
            state["next_id"] = number + 1
            tl = self.timeline(env.name)
            try:
                fault.inject(env, tl)
            except BaseException:
                if fault.injected:   # half-way in: undo what made it, as a drill would
                    with contextlib.suppress(Exception):
                        fault.heal(env, tl)
                raise
            finally:
                tl.close()
            record = {"fault_id": fault.fault_id, "kind": kind, "target": target_text or "-",
                      "resolved_target": _encode(target), "attrs": attrs, "max_nodes": max_nodes, "describe": fault.describe(),
                      "injected": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "state": encode_state(fault)}
            state.setdefault("faults", []).append(record)
        return record

    def heal(self, fault_id: str | None = None, *, env=None, progress=None) -> tuple[list[str], list[str]]:
        """Heal one active fault (or all: newest first, those on different nodes and links at once):
        (healed ids, errors in one line each). A fault whose heal fails stays in the state file."""
        healed: list[str] = []
        errors: list[str] = []
        with self.locked() as state:
            faults = state.get("faults", [])
            todo = [f for f in faults if fault_id in (None, f["fault_id"])]
            if fault_id is not None and not todo:
                raise ConfigError(f"no active fault {fault_id!r} on run {self.run}",
                                  field="drill heal FAULT_ID",
                                  fix="active: " + (", ".join(f["fault_id"] for f in faults) or "none"))
            if not todo:
                return healed, errors
            env = env or self.environment(progress)
            made = []
            for rec in todo:
                fault = fault_kinds.create(rec["kind"], _decode(rec.get("resolved_target")), where="drill heal",
                                           max_nodes=rec.get("max_nodes"), **rec["attrs"])
                decode_state(fault, rec["state"])
                made.append((rec, fault))
            tl = self.timeline(env.name)

            def one(i: int) -> str | None:
                rec, fault = made[i]
                try:
                    fault.heal(env, tl)
                except FaultError as exc:
                    return f"{rec['fault_id']} ({rec['describe']}): {exc}"
                return None
            try:
                for wave in heal_waves([_touches(f) for _, f in made]):
                    with ThreadPoolExecutor(max_workers=min(HEALERS, len(wave)), thread_name_prefix="dk-heal") as pool:
                        for i, err in zip(wave, pool.map(one, wave)):
                            if err is None:
                                healed.append(made[i][0]["fault_id"])
                            else:
                                errors.append(err)
            finally:
                tl.close()
            state["faults"] = [f for f in faults if f["fault_id"] not in healed]
        return healed, errors

    def forget(self) -> None:
        """After `drill down` (or when the run is gone): the state goes, the timeline stays (it is the
        record)."""
        for p in (self.state_path, L.run_file(self.run, _LOCK_SUFFIX), self.dir / f"{self.run}.state.json"):
            with contextlib.suppress(OSError):
                p.unlink()

"""Faults by hand on an environment brought up with `drill up`: `drill inject`, `drill heal`, and the
heal that `drill down` does first.

Each command is its own process, so what a fault needs for its heal (which nodes, its iptables rules,
its toxic's name, the pid file of its stress process, the clock offset it replaced) is kept in a state
file beside the run's timeline::

    reports/adhoc/<run>.jsonl        the run's timeline: every inject and heal, as in a drill
    reports/adhoc/<run>.state.json   the environment, its switches, and the faults still active

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
from pathlib import Path
from typing import Any

from drillkit.errors import ConfigError, FaultError

__all__ = ["AdhocRun", "parse_attrs", "parse_target", "encode_state", "decode_state", "FIRST_ID",
           "REFUSED_KINDS"]

FIRST_ID = 101
REFUSED_KINDS = {"crash_loop": "its loop runs in the process that injects it"}


# -- command-line pieces -------------------------------------------------------------------------

def parse_attrs(items: list[str], *, where: str = "drill inject") -> dict[str, Any]:
    """``latency=300 stream=upstream side_a=[app-1]`` -> typed values (YAML scalars and lists)."""
    import yaml
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
    from drillkit.faults import registry
    from drillkit.faults.base import Target
    registry._load_all()
    if kind not in registry.FAULTS:
        raise ConfigError(f"unknown fault kind {kind!r}", field="drill inject KIND",
                          fix=f"use one of {', '.join(sorted(registry.FAULTS))}")
    params = registry.parameters(kind)
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
    from drillkit.faults.base import Target
    from drillkit.lab.environment import Node
    from drillkit.lab.links import Toxic
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


# -- one ad-hoc run ------------------------------------------------------------------------------

class AdhocRun:
    """The timeline and state file of one `drill up` run, under ``<report_dir>/adhoc/``."""

    def __init__(self, run_id: str, report_dir: str | os.PathLike = "reports"):
        self.run = run_id
        self.dir = Path(report_dir) / "adhoc"

    @property
    def timeline_path(self) -> Path:
        return self.dir / f"{self.run}.jsonl"

    @property
    def state_path(self) -> Path:
        return self.dir / f"{self.run}.state.json"

    # state ---------------------------------------------------------------------------------------
    def read(self) -> dict[str, Any]:
        try:
            return json.loads(self.state_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {"run": self.run, "faults": [], "next_id": FIRST_ID}

    def _write(self, state: dict[str, Any]) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=1, default=str) + "\n", encoding="utf-8")
        tmp.replace(self.state_path)

    @contextlib.contextmanager
    def locked(self) -> Iterator[dict[str, Any]]:
        """The state, read and written back under a lock (two `drill inject` at once stay apart)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.dir / f"{self.run}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            state = self.read()
            yield state
            self._write(state)

    def record_up(self, environment: str, switches: dict[str, str], name: str) -> None:
        """Remember how `drill up` made the run (its Compose file and switches) for later attaches."""
        with self.locked() as state:
            state.update(environment=str(environment), switches=dict(switches), name=name,
                         up=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
        tl = self.timeline(name)
        tl.note(f"drill up {name} (run {self.run})" + (f" with {switches}" if switches else ""))
        tl.close()

    def active(self) -> list[dict[str, Any]]:
        return list(self.read().get("faults", []))

    # the environment and the timeline -------------------------------------------------------------
    def environment(self, progress=None):
        from drillkit.lab.attach import attach
        state = self.read()
        return attach(self.run, environment=state.get("environment"), switches=state.get("switches") or {},
                      progress=progress)

    def timeline(self, environment: str = ""):
        """The run's timeline, appended to: times stay relative to the first command's start
        (the monotonic clock is the machine's, shared by every process)."""
        from drillkit.timeline import Timeline
        if self.timeline_path.is_file() and self.timeline_path.stat().st_size:
            tl = Timeline.load(self.timeline_path)
            tl._fh = open(self.timeline_path, "a", buffering=1, encoding="utf-8")
            return tl
        return Timeline(self.timeline_path, drill="ad hoc", run=self.run, environment=environment,
                        meta={"adhoc": True})

    # faults --------------------------------------------------------------------------------------
    def inject(self, kind: str, target_text: str | None, attrs: dict[str, Any], *,
               max_nodes: int | None = None, env=None, progress=None) -> dict[str, Any]:
        """Inject one fault now; returns its state record (with ``fault_id``)."""
        from drillkit.faults import base, registry
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
                fault = registry.create(kind, target, where="drill inject", max_nodes=max_nodes, **attrs)
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
        """Heal one active fault (or all, newest first): (healed ids, errors in one line each).
        A fault whose heal fails stays in the state file."""
        from drillkit.faults import registry
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
            tl = self.timeline(env.name)
            try:
                for rec in reversed(todo):
                    target = _decode(rec.get("resolved_target"))
                    fault = registry.create(rec["kind"], target, where="drill heal",
                                            max_nodes=rec.get("max_nodes"), **rec["attrs"])
                    decode_state(fault, rec["state"])
                    try:
                        fault.heal(env, tl)
                    except FaultError as exc:
                        errors.append(f"{rec['fault_id']} ({rec['describe']}): {exc}")
                        continue
                    healed.append(rec["fault_id"])
            finally:
                tl.close()
            state["faults"] = [f for f in faults if f["fault_id"] not in healed]
        return healed, errors

    def forget(self) -> None:
        """After `drill down`: the state goes, the timeline stays (it is the record)."""
        for p in (self.state_path, self.dir / f"{self.run}.lock"):
            with contextlib.suppress(OSError):
                p.unlink()

"""The one record of a drill: every probe result, fault event, phase change, acknowledged write and
ground-truth reading, appended to a JSON-lines file as it happens (a crashed run leaves it behind).
While a fast writer holds :meth:`Timeline.deferred` (the open-loop generator does), lines reach the
file in batches instead: the holder flushes at least every 100 ms and when it lets go, so a crash loses
at most the last 100 ms; the records in memory are there at once either way.

Verdicts, charts and reports are computed from a :class:`Timeline`, never from side channels.

Record kinds (every record has ``kind`` and ``t``, seconds since the drill's start on the monotonic
clock):

``header``        first line: drill, run, environment, wall-clock start, t0 (monotonic)
``phase``         ``phase`` (steady|inject|observe|recover|verify), ``event`` (start|end)
``probe``         one request: ``population``, ``client``, ``op``, ``ok``, ``status``, ``latency``,
                  ``t_end``, ``node`` (which replica answered, if known), ``error``, ``session``
                  (``valid``: the session was accepted, ``rejected``: a session the service had
                  accepted before was refused, ``none``: no session involved), ``notice`` (true
                  when the answer was the service's disruption notice page)
``fault``         ``event`` (inject|heal|heal-failed), ``fault`` (kind), ``fault_id``, ``targets``,
                  ``detail``; a heal's detail has ``started`` (the heal call began), ``done`` (it
                  returned) and ``healthy`` (the healed nodes' health checks passed; null when they
                  have none or the heal left them as they are) — records without them (written
                  before 0.3) are read as healed at ``t``
``write``         a write in a client's ledger: ``client``, ``id``, ``op``; ``outcome`` (omitted
                  when ``ok``: acknowledged; ``unknown``: timed out or the connection was lost after
                  sending — it may have happened, ``id`` may be null); ``ledger`` (omitted when
                  ``writes``: the ground truth it is compared with); any extra attributes (``slot``)
``ground-truth``  what the stack holds after recovery: ``what`` (e.g. ``writes``), ``ids``
``settle``        the wait before the stack's data is read (drillkit.drill.Drill.settle):
                  ``traffic_stopped`` (t), ``time`` (s asked), ``until`` (the condition in words or
                  null), ``met`` (true|false|null), ``waited`` (s since the traffic stopped), ``detail``
``runbook``       a runbook step (or a change fault's step): ``runbook``, ``step``, ``event``
                  (start|end|failed), ``detail``, ``seconds``
``config``        settings read inside a node (drillkit.stack.config): ``moment`` (before|after|
                  a label), ``service``, ``node``, ``settings`` {name: value}, ``errors`` {name: why}
``note``          free text for the report: ``text``
``verdict``       a checker's judgement: ``name``, ``key`` (its table key), ``status``, ``sentence``,
                  ``value``, ``unit``, ``target``, ``details`` (e.g. when the last user was back)
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Timeline", "FaultWindow", "WRITE_OUTCOMES"]

PHASES = ("steady", "inject", "observe", "recover", "verify")
WRITE_OUTCOMES = ("ok", "unknown")

try:   # one C encoder for every line: json.dumps(record, separators=(",", ":"), default=str), faster
    from json.encoder import c_make_encoder as _c_make_encoder
    _c_encoder = _c_make_encoder(None, str, json.encoder.encode_basestring_ascii, None, ":", ",", False, False, True)

    def _encode(record: dict[str, Any]) -> str:
        return "".join(_c_encoder(record, 0))
except (ImportError, TypeError):  # pragma: no cover - an interpreter without the C accelerator
    _encode = json.JSONEncoder(separators=(",", ":"), default=str).encode


@dataclass(frozen=True)
class FaultWindow:
    fault_id: str
    fault: str
    start: float
    end: float | None  # None: never healed (a failed heal or a crashed run)
    targets: tuple[str, ...] = field(default_factory=tuple)
    heal_done: float | None = None   # the heal call returned (None: not recorded, an older timeline)
    healthy: float | None = None     # the healed nodes' health checks passed (None: none, or not recorded)

    @property
    def whole_again(self) -> float | None:
        """When the stack was whole again after the heal: the healed nodes healthy, else the heal
        done, else (a timeline without these fields) the heal's stamp ``end``."""
        if self.end is None:
            return None
        for t in (self.healthy, self.heal_done):
            if t is not None:
                return max(t, self.end)
        return self.end


def _time(value: Any) -> float | None:
    """A time field of a record: a number, or None when absent or not a number."""
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


class Timeline:
    """Append-only, thread-safe record, mirrored line by line to ``path`` (if given)."""

    # class defaults: Timeline.load / from_records make instances without __init__
    _defer = 0                                   # holders of deferred(): file lines wait for flush()
    _pending: list[str] | None = None            # their lines, encoded

    def __init__(self, path: str | os.PathLike | None = None, *, drill: str = "", run: str = "",
                 environment: str = "", meta: dict[str, Any] | None = None,
                 t0: float | None = None):
        self.path = Path(path) if path else None
        self.t0 = time.monotonic() if t0 is None else t0
        self.records: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._fh = None
        if self.path:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = open(self.path, "a", buffering=1, encoding="utf-8")
        header = {"kind": "header", "t": 0.0, "drill": drill, "run": run,
                  "environment": environment, "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                  "t0": self.t0, **(meta or {})}
        self._append(header)

    # -- writing ---------------------------------------------------------------------------------
    def now(self) -> float:
        return time.monotonic() - self.t0

    def _append(self, record: dict[str, Any]) -> dict[str, Any]:
        line = _encode(record)   # while the record is fresh in the cache: cheaper than at flush time
        if self._defer:
            with self._lock:
                self.records.append(record)
                if self._fh:
                    if self._pending is not None:
                        self._pending.append(line)
                    else:   # deferred() was let go meanwhile
                        self._fh.write(line + "\n")
            return record
        with self._lock:
            self.records.append(record)
            if self._fh:
                self._fh.write(line + "\n")
        return record

    def append(self, record: dict[str, Any]) -> dict[str, Any]:
        """Add a complete record (``kind`` and ``t`` first, ``t`` already rounded) as it is: the fast
        path of a writer that builds its own records (the open-loop generator)."""
        return self._append(record)

    @contextmanager
    def deferred(self) -> Iterator["Timeline"]:
        """While held, file lines are written by :meth:`flush` (in one write) instead of one by one;
        the holder calls :meth:`flush` at least every 100 ms. Records in memory are added at once."""
        with self._lock:
            if not self._defer:
                self._pending = []
            self._defer += 1
        try:
            yield self
        finally:
            with self._lock:
                self._defer -= 1
                self._flush()

    def flush(self) -> None:
        """Write the lines held back by :meth:`deferred` (none otherwise)."""
        with self._lock:
            self._flush()

    def _flush(self) -> None:
        pending = self._pending
        self._pending = [] if self._defer else None
        if pending and self._fh:
            pending.append("")
            self._fh.write("\n".join(pending))

    def add(self, kind: str, t: float | None = None, **fields: Any) -> dict[str, Any]:
        return self._append({"kind": kind, "t": round(self.now() if t is None else t, 6), **fields})

    def phase(self, name: str, event: str = "start") -> dict[str, Any]:
        return self.add("phase", phase=name, event=event)

    def probe(self, *, population: str, client: str, op: str, ok: bool, t: float, t_end: float,
              status: int | None = None, node: str | None = None, error: str | None = None,
              session: str = "none", notice: bool = False) -> dict[str, Any]:
        rec = dict(t_end=round(t_end, 6), population=population, client=client, op=op, ok=ok,
                   status=status, latency=round(t_end - t, 6), node=node, error=error, session=session)
        if notice:
            rec["notice"] = True
        return self.add("probe", t=t, **rec)

    def fault(self, event: str, *, fault: str, fault_id: str, targets: Iterable[str] = (),
              t: float | None = None, **detail: Any) -> dict[str, Any]:
        """A fault event, stamped with ``t`` = when the call was made (not when it returned)."""
        return self.add("fault", t=t, event=event, fault=fault, fault_id=fault_id,
                        targets=list(targets), detail=detail)

    def write(self, *, client: str, id: str | None, op: str, outcome: str = "ok", ledger: str = "writes",
              **attrs: Any) -> dict[str, Any]:
        """A write in ``client``'s ledger. ``outcome`` ``ok`` = acknowledged (the default), ``unknown``
        = timed out or cut off after sending: it may have happened, and ``id`` may be None when the
        server would have assigned it. ``ledger`` names the ground truth it is compared with."""
        if outcome not in WRITE_OUTCOMES:
            raise ValueError(f"write outcome must be one of {', '.join(WRITE_OUTCOMES)}, not {outcome!r}")
        if id is None and outcome == "ok":
            raise ValueError("an acknowledged write needs its id")
        rec: dict[str, Any] = dict(client=client, id=None if id is None else str(id), op=op)
        if outcome != "ok":
            rec["outcome"] = outcome
        if ledger != "writes":
            rec["ledger"] = ledger
        return self.add("write", **rec, **attrs)

    def note(self, text: str) -> dict[str, Any]:
        return self.add("note", text=text)

    def close(self) -> None:
        self.flush()
        with self._lock:
            if self._fh:
                self._fh.close()
                self._fh = None

    def __enter__(self) -> "Timeline":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- reading ---------------------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | os.PathLike) -> "Timeline":
        """Read a timeline file; a torn last line (crashed writer) is ignored."""
        tl = cls.__new__(cls)
        tl.path, tl._fh, tl._lock = Path(path), None, threading.Lock()
        tl.records = []
        with open(path, encoding="utf-8") as fh:
            for raw in fh:
                try:
                    tl.records.append(json.loads(raw))
                except json.JSONDecodeError:
                    continue
        header = tl.header
        tl.t0 = header.get("t0", 0.0)
        return tl

    @classmethod
    def from_records(cls, records: Iterable[dict[str, Any]]) -> "Timeline":
        tl = cls.__new__(cls)
        tl.path, tl._fh, tl._lock, tl.t0 = None, None, threading.Lock(), 0.0
        tl.records = list(records)
        if not tl.records or tl.records[0].get("kind") != "header":
            tl.records.insert(0, {"kind": "header", "t": 0.0})
        return tl

    @property
    def header(self) -> dict[str, Any]:
        return self.records[0] if self.records and self.records[0].get("kind") == "header" else {}

    def of(self, kind: str) -> Iterator[dict[str, Any]]:
        return (r for r in self.snapshot() if r.get("kind") == kind)

    def snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.records)

    def probes(self, population: str | None = None, since: float | None = None,
               until: float | None = None) -> list[dict[str, Any]]:
        out = [r for r in self.of("probe")
               if (population is None or r.get("population") == population)
               and (since is None or r["t"] >= since) and (until is None or r["t"] < until)]
        out.sort(key=lambda r: r["t"])
        return out

    def populations(self) -> list[str]:
        return sorted({r["population"] for r in self.of("probe")})

    def fault_windows(self) -> list[FaultWindow]:
        starts: dict[str, dict[str, Any]] = {}
        windows: list[FaultWindow] = []
        for r in self.of("fault"):
            if r["event"] == "inject":
                starts[r["fault_id"]] = r
            elif r["event"] in ("heal", "heal-failed") and r["fault_id"] in starts:
                s = starts.pop(r["fault_id"])
                healed = r["event"] == "heal"
                detail = (r.get("detail") or {}) if healed else {}
                windows.append(FaultWindow(s["fault_id"], s["fault"], s["t"], r["t"] if healed else None,
                                           tuple(s.get("targets", ())), _time(detail.get("done")),
                                           _time(detail.get("healthy"))))
        for s in starts.values():
            windows.append(FaultWindow(s["fault_id"], s["fault"], s["t"], None,
                                       tuple(s.get("targets", ()))))
        return sorted(windows, key=lambda w: w.start)

    def phases(self) -> list[tuple[str, float, float | None]]:
        """(phase, start, end) in order; end None if the phase never ended."""
        open_: dict[str, float] = {}
        out: list[tuple[str, float, float | None]] = []
        for r in self.of("phase"):
            if r["event"] == "start":
                open_[r["phase"]] = r["t"]
            elif r["phase"] in open_:
                out.append((r["phase"], open_.pop(r["phase"]), r["t"]))
        out.extend((p, s, None) for p, s in open_.items())
        return sorted(out, key=lambda x: x[1])

    def writes(self, *, ledger: str | None = None, outcome: str | None = None) -> list[dict[str, Any]]:
        """Write records in order, optionally of one ``ledger`` and/or one ``outcome`` (``ok`` or
        ``unknown``; a record without ``outcome`` is ``ok``, one without ``ledger`` is ``writes``)."""
        return [r for r in self.of("write")
                if (ledger is None or r.get("ledger", "writes") == ledger)
                and (outcome is None or r.get("outcome", "ok") == outcome)]

    def ground_truth(self, what: str) -> dict[str, Any] | None:
        found = [r for r in self.of("ground-truth") if r.get("what") == what]
        return found[-1] if found else None

    @property
    def end(self) -> float:
        snap = self.snapshot()
        return max((r.get("t_end", r["t"]) for r in snap), default=0.0)

"""Verdicts by name: one table entry per checker, as fault kinds have theirs (``faults/kinds.py``).

An entry (:class:`VerdictKind`) is everything drillkit knows about one verdict:

- ``key`` — its YAML ``expect`` key, and the ``kind`` stamped on the verdicts it returns;
- ``params`` — its parameters with defaults (parsed and checked by the scenario validator's own
  helpers, so a bad value is the usual one-line ``ConfigError`` with file:line, field and fix);
  ``shorthand`` names the parameter a plain value sets (``recovery_time: 3s`` = ``{max: 3s}``);
- ``requires`` — predicates over :class:`Facts` (what the scenario and its environment provide:
  populations, which of them hold sessions, which users write, which ground truths can be read);
  new facts go into ``Facts.extra`` without touching the predicates that do not read them;
- ``compute`` — the function that judges a timeline, returning one or more verdicts;
- ``column`` — its column in summary.md / summary.json and the formatter of its figure.

The scenario validator (``expect``), the runner (``_expectation_verdicts``), the schema
(``EXPECTATIONS``), the summary and docs/verdicts.md read this table. The built-in verdicts are
registered below; a new verdict is ONE module of ``verdicts/`` — its checker and, at its end,
``register(VerdictKind(...))`` — found by `discover` when this table is first imported (no list to
edit), plus its definition in docs/verdicts.md (the docs test asks for it).
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from drillkit import verdicts as V
from drillkit.load.slo import AlertRule, Slo
from drillkit.verdicts import load as L
from drillkit.verdicts.base import FAIL, Verdict
from drillkit.verdicts.config_parity import MOMENTS, moments_needed

if TYPE_CHECKING:
    from drillkit.timeline import Timeline

__all__ = ["VERDICTS", "VerdictKind", "Param", "Facts", "Unmet", "Requirement", "Column", "Window", "Checker",
           "REQUIRED", "NEEDS_SESSIONS", "NEEDS_WRITERS", "NEEDS_FAULT", "needs_ground_truth", "register", "get",
           "parse", "unmet", "compute", "discover"]


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()


class Checker(Protocol):
    """The scenario validator's helpers (``scenario/validate.py``): each raises a one-line ConfigError."""

    def err(self, message: str, container: Any = None, key: Any = None, *, field: str,
            fix: str | None = None, line: int | None = None) -> Exception: ...
    def mapping(self, value: Any, parent: Any, key: Any, field: str, allowed: set[str] | None = None,
                example: str = "key: value") -> dict: ...
    def duration(self, value: Any, parent: Any, key: Any, field: str) -> float: ...
    def integer(self, value: Any, parent: Any, key: Any, field: str, lo: int, hi: int) -> int: ...
    def ratio(self, value: Any, parent: Any, key: Any, field: str) -> float: ...
    def population(self, value: Any, parent: Any, key: Any, field: str, populations: list[str]) -> str: ...
    def availability(self, raw: Any, parent: Any, key: Any, field: str,
                     populations: list[str]) -> dict[str, float]: ...


# -- what a scenario provides --------------------------------------------------------------------

@dataclass(frozen=True)
class Facts:
    """What a scenario and its environment provide, known before anything starts."""

    stack: str = ""
    populations: tuple[str, ...] = ()            # every population the scenario's traffic produces
    session_populations: tuple[str, ...] = ()    # populations whose users hold sessions
    writers: tuple[str, ...] = ()                # user kinds whose users write (keep a ledger)
    ground_truth: tuple[str, ...] = ()           # ground truths a reader can read back ("writes", ...)
    faults: int = 0                              # fault steps in the schedule
    extra: Mapping[str, Any] = field(default_factory=dict)   # facts added later (clients, doors, …)


@dataclass(frozen=True)
class Unmet:
    """A requirement a scenario does not meet: the message and its fix (one line each; ``{key}`` in
    the fix is replaced by the expectation's key)."""

    message: str
    fix: str


@dataclass(frozen=True)
class Requirement:
    needs: str                                            # for docs: "users that hold sessions"
    check: Callable[[Facts, dict[str, Any]], Unmet | None]


def _sessions(facts: Facts, params: dict[str, Any]) -> Unmet | None:
    pop = params.get("population", "existing-sessions")
    if pop in facts.session_populations:
        return None
    if not facts.session_populations:
        return Unmet("no users hold sessions in this scenario", "add users: {clerks: 20} or drop {key}")
    return Unmet(f"users of {pop} hold no sessions",
                 f"use population: {' or '.join(facts.session_populations)}")


def _ground_truth(what: str | None) -> Callable[[Facts, dict[str, Any]], Unmet | None]:
    def check(facts: Facts, params: dict[str, Any]) -> Unmet | None:
        have = facts.ground_truth
        name = what or params.get("ground_truth") or "writes"
        if name in have:
            return None
        return Unmet(f"no ground truth {name!r} for environment {facts.extra.get('environment', facts.stack)!r}",
                     f"declare x-drillkit.ground_truth.{name} in the Compose file or ground_truth: "
                     f"{{{name}: ...}} in the scenario (have: {', '.join(have) or 'none'}), or drop {{key}}; "
                     "see docs/environments.md")
    return check


def _writers(facts: Facts, params: dict[str, Any]) -> Unmet | None:
    if facts.writers:
        return None
    return Unmet("no users write in this scenario", "add users: {clerks: 20} or drop {key}")


def _fault(facts: Facts, params: dict[str, Any]) -> Unmet | None:
    return None if facts.faults else Unmet("no fault in this scenario", "add a fault under faults:")


NEEDS_SESSIONS = Requirement("users that hold sessions (population with sessions)", _sessions)
NEEDS_WRITERS = Requirement("users that write (a ledger of acknowledged writes)", _writers)
NEEDS_FAULT = Requirement("a fault", _fault)


def needs_ground_truth(what: str | None = None) -> Requirement:
    return Requirement(f"a ground-truth reader for {what or 'the writes'} of the stack", _ground_truth(what))


# -- parameters ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Param:
    """One parameter: ``type`` is duration (s) | count (≥ 0) | positive (≥ 1) | ratio (0..1) | slo
    (0 < x ≤ 1) | population | population-or-any (None = every population) | name (a ground truth)."""

    name: str
    type: str
    default: Any = REQUIRED
    help: str = ""
    example: str = ""
    hi: int = 10**9

    def parse(self, value: Any, parent: Any, key: Any, where: str, chk: Checker, facts: Facts) -> Any:
        if self.type == "duration":
            return chk.duration(value, parent, key, where)
        if self.type == "count":
            return chk.integer(value, parent, key, where, 0, self.hi)
        if self.type == "positive":
            return chk.integer(value, parent, key, where, 1, self.hi)
        if self.type == "ratio":
            return chk.ratio(value, parent, key, where)
        if self.type == "slo":
            slo = chk.ratio(value, parent, key, where)
            if slo <= 0:
                raise chk.err(f"must be above 0, not {value!r}", parent, key, field=where,
                              fix="write e.g. 0.995 for 99.5 %")
            return slo
        if self.type == "population":
            return chk.population(value, parent, key, where, list(facts.populations))
        if self.type == "name":
            if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", value):
                raise chk.err(f"must be a name, not {value!r}", parent, key, field=where,
                              fix=f"write e.g. {self.example or 'writes'}")
            return value
        if self.type == "population-or-any":
            return None if value is None else chk.population(value, parent, key, where, list(facts.populations))
        raise ValueError(f"unknown parameter type {self.type!r}")  # pragma: no cover - a table bug


# -- summary columns -----------------------------------------------------------------------------

def _values(verdicts: Sequence[Verdict]) -> list[float]:
    return [v.value for v in verdicts if v.value is not None]


@dataclass(frozen=True)
class Column:
    """A verdict's column in summary.md and its figure in summary.json (``None`` = not measured)."""

    key: str                    # figure key in summary.json / history.jsonl
    title: str                  # column header in summary.md
    unit: str = ""              # "s", "%", "" (count) — how ``format`` writes a number
    worst: str = "max"          # several verdicts of one kind (one per population): the max or the min
    headline: bool = False      # always a column (—), even when no drill asked for it
    measure: Callable[["Timeline"], Any] | None = None   # a figure always measured from the timeline
    note: Callable[[Sequence[Verdict]], str | None] | None = None   # why a None figure is None
    cell: Callable[[Any, Sequence[Verdict]], str] | None = None       # a richer cell than the number

    def figure(self, verdicts: Sequence[Verdict], timeline: "Timeline | None" = None) -> Any:
        """The worst measured value of the drill's verdicts of this kind; None if none measured one.
        A column with ``measure`` takes its figure from the timeline instead (None without one)."""
        if self.measure is not None:
            return self.measure(timeline) if timeline is not None else None
        if self.note is not None and self.note(verdicts) is not None:
            return None
        vals = _values(verdicts)
        if not vals:
            return None
        return max(vals) if self.worst == "max" else min(vals)

    def format(self, value: Any, verdicts: Sequence[Verdict] = ()) -> str:
        note = self.note(verdicts) if self.note is not None and verdicts else None
        if note is not None:
            return note
        if value is None:
            return "—"
        if self.cell is not None:
            return self.cell(value, verdicts)
        if self.unit == "s":
            return f"{value:.1f} s"
        if self.unit == "%":
            return f"{value:.1f} %"
        if self.unit == "ms":
            return f"{value:.0f} ms"
        return str(value)


def _recovery_note(verdicts: Sequence[Verdict]) -> str | None:
    if any(v.status == FAIL and v.value is None and v.details.get("not_back") for v in verdicts):
        return "not recovered"
    if verdicts and all(v.details.get("outage") is False for v in verdicts):
        return "no outage seen"
    return None


def _writes_cell(value: Any, verdicts: Sequence[Verdict]) -> str:
    measured = [v for v in verdicts if v.value is not None]
    worst = max(measured, key=lambda v: v.value) if measured else None
    text = str(value)
    if worst is not None and worst.details.get("acknowledged") is not None:
        text = f"{value} of {worst.details['acknowledged']}"
    if any(v.details.get("silent") for v in verdicts):
        text += " (silent)"
    return text


# -- the table -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Window:
    """What the runner knows when it judges: the fault phases' span and the ground truth it read."""

    since: float | None = None
    until: float | None = None
    ground_truth: str | None = None


Compute = Callable[["Timeline", dict[str, Any], Window], "Verdict | list[Verdict]"]
Parse = Callable[[Any, Any, Any, str, Checker, Facts], dict[str, Any]]


@dataclass(frozen=True)
class VerdictKind:
    key: str
    title: str
    summary: str                                  # one line: what it judges (schema, docs, errors)
    compute: Compute
    params: tuple[Param, ...] = ()
    shorthand: str | None = None
    requires: tuple[Requirement, ...] = ()
    column: Column | None = None
    reads_ground_truth: str | None = None         # the ground truth (by name) the runner reads before judging
    removed: Mapping[str, str] = field(default_factory=dict)   # param -> why and fix
    names: tuple[str, ...] = ()                   # verdict names of older records without ``kind``
    example: str = ""
    parse: Parse | None = None                    # a shape the generic parser cannot express
    # readings the runner takes for it: readings(drill, params, moment) with moment "before" (end of
    # the steady state, before the first fault) and "after" (every fault injected, start of observe)
    readings: Callable[[Any, dict[str, Any], str], None] | None = None

    def judges(self, verdict: Verdict) -> bool:
        if verdict.kind:
            return verdict.kind == self.key
        return verdict.name.strip().lower().replace("_", " ") in self.names


def _kind(value: Any) -> str:
    for typ, name in ((bool, "true/false"), (dict, "a mapping"), (list, "a list"), (str, "text")):
        if isinstance(value, typ):
            return name
    return "empty" if value is None else "a number"


def parse(kind: VerdictKind, raw: Any, parent: Any, key: Any, chk: Checker, facts: Facts) -> dict[str, Any]:
    """Parse and check the parameters of ``expect.<kind.key>``; a one-line ConfigError on any problem."""
    where = f"expect.{kind.key}"
    if kind.parse is not None:
        return kind.parse(raw, parent, key, where, chk, facts)
    if isinstance(raw, dict):
        for k in raw:
            if k in kind.removed:
                raise chk.err(f"`{k}` was removed: {kind.removed[k]}", raw, k, field=f"{where}.{k}",
                              fix=f"drop {k}")
        chk.mapping(raw, parent, key, where, {p.name for p in kind.params}, kind.example)
        given, container = raw, raw
    elif kind.shorthand is not None:
        given, container = {kind.shorthand: raw}, None
    else:
        raise chk.err(f"must be a mapping, not {_kind(raw)}", parent, key, field=where,
                      fix=f"write {kind.key}: {kind.example}")
    out: dict[str, Any] = {}
    for p in kind.params:
        if container is not None:
            c, k, f = (container, p.name, f"{where}.{p.name}") if p.name in given else (parent, key, f"{where}.{p.name}")
        else:
            c, k, f = parent, key, (where if p.name == kind.shorthand else f"{where}.{p.name}")
        if p.name in given:
            out[p.name] = p.parse(given[p.name], c, k, f, chk, facts)
        elif p.default is REQUIRED:
            raise chk.err(f"missing `{p.name}`", parent, key, field=f"{where}.{p.name}",
                          fix=f"add {p.name}: {p.example or '...'}")
        else:
            default = p.default
            if p.type == "population" and NEEDS_SESSIONS in kind.requires and facts.session_populations \
                    and default not in facts.session_populations:
                default = facts.session_populations[0]   # the population whose users hold sessions
            if p.type == "population" and default not in facts.populations \
                    and unmet(kind, facts, {**out, p.name: default}) is not None:
                out[p.name] = default   # the unmet requirement says more than "unknown population"
                continue
            # a default is checked like a given value (e.g. a default population the scenario lacks)
            out[p.name] = p.parse(default, c, k, f, chk, facts) if default is not None else None
    return out


def unmet(kind: VerdictKind, facts: Facts, params: dict[str, Any]) -> Unmet | None:
    """The first requirement of ``kind`` the scenario does not meet, or None."""
    for req in kind.requires:
        problem = req.check(facts, params)
        if problem is not None:
            return problem
    return None


def compute(kind: VerdictKind, tl: "Timeline", params: dict[str, Any], window: Window = Window()) -> list[Verdict]:
    out = kind.compute(tl, params, window)
    return [out] if isinstance(out, Verdict) else list(out)


def _availability_parse(raw: Any, parent: Any, key: Any, where: str, chk: Checker, facts: Facts) -> dict[str, Any]:
    return {"minimums": chk.availability(raw, parent, key, where, list(facts.populations))}


def _measured_availability(tl: "Timeline") -> dict[str, float]:
    """Per population, % of its requests that succeeded over the whole drill: always measured when
    there are requests, so the summary shows it whether or not a drill asked for the verdict."""
    out = {}
    for pop in tl.populations():
        probes = tl.probes(pop)
        out[pop] = round(100.0 * sum(1 for p in probes if p.get("ok")) / len(probes), 2)
    return out


def _availability_cell(value: Any, verdicts: Sequence[Verdict]) -> str:
    return "<br>".join(f"{pop} {pct:.1f} %" for pop, pct in value.items()) if value else "—"


VERDICTS: dict[str, VerdictKind] = {}


def register(kind: VerdictKind) -> VerdictKind:
    if kind.key in VERDICTS:
        raise RuntimeError(f"verdict {kind.key!r} registered twice")
    VERDICTS[kind.key] = kind
    return kind


def get(key: str) -> VerdictKind | None:
    return VERDICTS.get(key)


POPULATION = Param("population", "population", "existing-sessions", "the user population judged",
                   "existing-sessions")

register(VerdictKind(
    "recovery_time", "recovery time",
    "per user: the last user hit by the fault back (N successes in a row), ≤ max; none still failing; "
    "availability after the heal back at its steady state",
    lambda tl, p, w: V.recovery_time(tl, target=p["max"], population=p["population"],
                                     consecutive=p["consecutive"], tolerance=p["tolerance"]),
    params=(POPULATION,
            Param("max", "duration", help="longest recovery allowed: the last user back", example="5s"),
            Param("consecutive", "positive", 3, "successes in a row that make a user back", "3", hi=1000),
            Param("tolerance", "ratio", 0.02, "availability after the heal may be this far below the "
                  "steady state (0.02 = 2 points)", "0.02")),
    shorthand="max", requires=(NEEDS_FAULT,),
    column=Column("recovery_time", "Recovery time", "s", headline=True, note=_recovery_note),
    removed={"affected_only": "recovery is judged per user over every user of the population "
                              "(node attribution is detail, never a filter)"},
    names=("recovery time",), example="{population: existing-sessions, max: 5s}"))

register(VerdictKind(
    "availability", "availability",
    "share of successful requests per population from the first injection to the end of recover, "
    "≥ minimum",
    lambda tl, p, w: [V.availability(tl, population=pop, minimum=m, since=w.since, until=w.until,
                                     label="inject to recover") for pop, m in p["minimums"].items()],
    parse=_availability_parse,
    column=Column("availability", "Availability", headline=True, measure=_measured_availability,
                  cell=_availability_cell),
    example="{existing-sessions: 0.99}"))

GROUND_TRUTH_PARAM = Param("ground_truth", "name", "writes",
                           "the ground truth (and its ledger) compared: a reader's name", "loans")

register(VerdictKind(
    "sessions_lost", "sessions lost",
    "sessions the service accepted before and refused later, ≤ max",
    lambda tl, p, w: V.sessions_lost(tl, population=p["population"], expected=p["max"]),
    params=(Param("max", "count", 0, "most sessions allowed to be lost", "0"), POPULATION),
    shorthand="max", requires=(NEEDS_SESSIONS,),
    column=Column("sessions_lost", "Sessions lost", headline=True),
    names=("sessions lost",), example="0"))

register(VerdictKind(
    "drafts_lost", "drafts lost",
    "form state the service had accepted (a draft) found gone later while the session held, ≤ max "
    "(clients mark such requests session: draft-lost)",
    lambda tl, p, w: V.drafts_lost(tl, population=p["population"], expected=p["max"]),
    params=(Param("max", "count", 0, "most drafts allowed to be lost", "0"), POPULATION),
    shorthand="max", requires=(NEEDS_SESSIONS,),
    column=Column("drafts_lost", "Drafts lost"),
    names=("drafts lost",), example="0"))

register(VerdictKind(
    "writes_lost", "acknowledged writes lost",
    "acknowledged writes missing from the stack's data after recovery, ≤ max, with when they were "
    "acknowledged relative to inject and heal; unknown-outcome writes reported apart",
    lambda tl, p, w: V.writes_lost(tl, what=p.get("ground_truth") or w.ground_truth or "writes", expected=p["max"]),
    params=(Param("max", "count", 0, "most acknowledged writes allowed to be lost", "0"), GROUND_TRUTH_PARAM),
    shorthand="max", requires=(needs_ground_truth(), NEEDS_WRITERS), reads_ground_truth="writes",
    column=Column("writes_lost", "Writes lost", headline=True, cell=_writes_cell),
    names=("writes lost", "acknowledged writes lost"), example="0"))

register(VerdictKind(
    "detection_time", "detection time",
    "fault → the first failed request answered after it, ≤ max",
    lambda tl, p, w: V.detection_time(tl, p["population"], max=p["max"]),
    params=(Param("max", "duration", help="longest time until a failure shows", example="1s"),
            Param("population", "population-or-any", None, "population watched (default: any)")),
    shorthand="max", requires=(NEEDS_FAULT,),
    column=Column("detection_time", "Detection time", "s"),
    names=("detection time",), example="{max: 1s, population: probe}"))

register(VerdictKind(
    "outage_window", "outage window",
    "the longest run of failed requests of a population after the fault, ≤ max",
    lambda tl, p, w: V.outage_window(tl, p["population"], max=p["max"]),
    params=(Param("max", "duration", help="longest run of failures allowed", example="5s"), POPULATION),
    shorthand="max", requires=(NEEDS_FAULT,),
    column=Column("outage_window", "Outage window", "s"),
    names=("outage window",), example="{max: 5s, population: existing-sessions}"))

register(VerdictKind(
    "duplicates", "duplicate writes",
    "ids acknowledged twice, or held more often than acknowledged, ≤ max",
    lambda tl, p, w: V.duplicates(tl, p.get("ground_truth") or w.ground_truth or "writes", expected=p["max"]),
    params=(Param("max", "count", 0, "most duplicated ids allowed", "0"), GROUND_TRUTH_PARAM),
    shorthand="max", requires=(needs_ground_truth(), NEEDS_WRITERS), reads_ground_truth="writes",
    column=Column("duplicates", "Duplicates"),
    names=("duplicate writes",), example="0"))

register(VerdictKind(
    "double_bookings", "double bookings",
    "slots held by more than one active booking, ≤ max",
    lambda tl, p, w: V.double_bookings(tl, expected=p["max"]),
    params=(Param("max", "count", 0, "most double-booked slots allowed", "0"),),
    shorthand="max", requires=(needs_ground_truth("bookings"), NEEDS_WRITERS), reads_ground_truth="bookings",
    column=Column("double_bookings", "Double bookings"),
    names=("double bookings",), example="0"))

register(VerdictKind(
    "answer_time", "answer time",
    "how long users waited for any answer (failures included) while a fault was in play, quantile ≤ max",
    lambda tl, p, w: V.answer_time(tl, p["population"], p["max"], quantile=p["quantile"]),
    params=(POPULATION, Param("max", "duration", help="longest wait allowed at the quantile", example="3s"),
            Param("quantile", "ratio", 0.95, "which quantile (0.5 = median)", "0.95")),
    shorthand="max", requires=(NEEDS_FAULT,),
    column=Column("answer_time", "Answer time", "s"),
    example="{population: new-logins, max: 3s, quantile: 0.5}"))

register(VerdictKind(
    "latency_by_phase", "latency by phase",
    "p95 latency of answered requests per phase, ≤ max while the fault is in play",
    lambda tl, p, w: V.latency_by_phase(tl, p["population"], p95_max=p["max"]),
    params=(POPULATION, Param("max", "duration", help="p95 allowed while the fault is in play",
                              example="500ms")),
    shorthand="max",
    column=Column("latency_by_phase", "Latency p95 (fault)", "ms"),
    example="{population: existing-sessions, max: 500ms}"))

register(VerdictKind(
    "disruption_notice", "disruption notice",
    "share of the requests failed during a fault that showed the disruption notice, ≥ minimum",
    lambda tl, p, w: V.disruption_notice(tl, p["population"], minimum=p["minimum"]),
    params=(Param("minimum", "ratio", 0.95, "least share showing the notice", "0.95"),
            Param("population", "population", "probe", "population watched", "probe")),
    shorthand="minimum", requires=(NEEDS_FAULT,),
    column=Column("disruption_notice", "Disruption notice", "%", worst="min",
                  cell=lambda value, vs: f"{value * 100:.0f} %"),
    names=("disruption notice",), example="{minimum: 0.95, population: probe}"))

register(VerdictKind(
    "error_budget", "error budget",
    "failures against what an availability SLO allows over the drill (or a window from the fault), "
    "≤ 100 % consumed",
    lambda tl, p, w: V.error_budget(tl, p["population"], p["slo"], window=p["window"]),
    params=(POPULATION, Param("slo", "slo", help="availability objective, e.g. 0.995", example="0.995"),
            Param("window", "duration", None, "seconds from the first fault (default: the whole drill)")),
    shorthand="slo",
    column=Column("error_budget", "Error budget", "%"),
    example="{population: existing-sessions, slo: 0.995}"))


# -- config parity (drillkit.verdicts.config_parity; read by drillkit.stack.config) ------------

def _config_parse(raw: Any, parent: Any, key: Any, where: str, chk: Checker, facts: Facts) -> dict[str, Any]:
    declared: dict = dict(facts.extra.get("config") or {})          # setting -> services (None = all)
    services = tuple(facts.extra.get("services") or ())
    if not declared:
        raise chk.err(f"environment {facts.extra.get('environment', facts.stack)!r} declares no config settings",
                      parent, key, field=where, fix="declare x-drillkit.config (e.g. {pool size: {env: DB_POOL_SIZE}}) "
                                                     "or drop config_parity; see docs/environments.md")
    if isinstance(raw, str):
        raw = {"old": raw}
        m, container = raw, None
    else:
        m = chk.mapping(raw, parent, key, where, {"old", "new", "at", "settings", "max"},
                        "{old: app, new: app-new, at: before}")
        container = m
    if "old" not in m:
        raise chk.err("missing `old`", parent, key, field=f"{where}.old", fix="add old: <the service compared with>")

    def c(k: str) -> tuple[Any, Any]:
        return (container, k) if container is not None and k in container else (parent, key)

    out: dict[str, Any] = {}
    for k in ("old", "new"):
        v = m.get(k)
        if v is None and k == "new":
            out[k] = None
            continue
        if not isinstance(v, str) or (services and v not in services):
            raise chk.err(f"{k}: no service {v!r} in this environment", *c(k), field=f"{where}.{k}",
                          fix=f"use one of {', '.join(services) or '(none)'}")
        out[k] = v
    at = m.get("at")
    if at is not None and at not in MOMENTS:
        raise chk.err(f"at must be one of {', '.join(MOMENTS)}, not {at!r}", *c("at"), field=f"{where}.at",
                      fix="at: before (side by side before the change), after, or across (before vs after)")
    out["at"] = at
    names = m.get("settings")
    if names is not None:
        if isinstance(names, str):
            names = [names]
        if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            raise chk.err("settings must be a list of setting names", *c("settings"), field=f"{where}.settings",
                          fix=f"e.g. settings: [{next(iter(declared))}]")
        for n in names:
            if n not in declared:
                raise chk.err(f"no setting {n!r} in x-drillkit.config", *c("settings"), field=f"{where}.settings",
                              fix=f"use {', '.join(declared)}")
        names = tuple(names)
    usable = [n for n in (names or declared) if all(declared[n] is None or s in declared[n]
                                                     for s in {out["old"], out["new"] or out["old"]})]
    if not usable:
        raise chk.err(f"no declared setting applies to both {out['old']} and {out['new'] or out['old']}",
                      *c("old"), field=where, fix="add the services to a setting's services: list")
    out["settings"] = names
    out["max"] = chk.integer(m.get("max", 0), *c("max"), field=f"{where}.max", lo=0, hi=10**6) \
        if "max" in m else 0
    return out


def _config_readings(drill: Any, params: dict[str, Any], moment: str) -> None:
    services = moments_needed(params["old"], params.get("new"), params.get("at")).get(moment)
    if services:
        drill.config_snapshot(services, moment=moment, settings=params.get("settings"))


register(VerdictKind(
    "config_parity", "config parity",
    "settings read inside the containers (x-drillkit.config, testinfra) that differ between old and new "
    "(side by side before a cutover, or a service before vs after a change), ≤ max; each drifted setting named",
    lambda tl, p, w: V.config_parity(tl, p["old"], p.get("new"), at=p.get("at"), settings=p.get("settings"),
                                     max=p.get("max", 0)),
    parse=_config_parse, readings=_config_readings,
    column=Column("config_parity", "Config drift", cell=lambda value, vs: "none" if value == 0 else
                  f"{value} setting{'s' if value != 1 else ''}"),
    example="{old: app, new: app-new, at: before}"))


# -- load verdicts (drillkit.verdicts.load; a scenario's load: / search:, drill.load) ----------------

def _loads(facts: Facts, params: dict[str, Any]) -> Unmet | None:
    loads = tuple(facts.extra.get("loads", ()))
    if not loads:
        return Unmet("no load in this scenario", "add load: {shape: spike, rate: 10/s, ...} or drop {key}")
    for k in ("load", "before", "after"):
        label = params.get(k)
        if label is not None and label not in loads:
            return Unmet(f"no load labelled {label!r}", f"use one of {', '.join(loads)} (load[].label)")
    return None


def _search(facts: Facts, params: dict[str, Any]) -> Unmet | None:
    return None if facts.extra.get("search") else Unmet("no search in this scenario",
                                                         "add search: {rate: 10/s, actions: [...], slo: {...}} or drop {key}")


NEEDS_LOAD = Requirement("a load (load:)", _loads)
NEEDS_SEARCH = Requirement("a breaking-point search (search:)", _search)
LOAD_LABEL = Param("load", "name", None, "the load judged, by its label (default: every load)", "x4")


def _number(chk: Checker, value: Any, parent: Any, key: Any, where: str, lo: float, hi: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
        raise chk.err(f"must be a number {lo:g}..{hi:g}, not {value!r}", parent, key, field=where,
                      fix=f"give a number between {lo:g} and {hi:g}")
    return float(value)


def parse_slo(raw: Any, parent: Any, key: Any, where: str, chk: Checker, *, default_window: float = 5.0):
    """``{p95: 1s, availability: 0.99, window: 5s}`` -> :class:`drillkit.load.slo.Slo` (at least one bound)."""
    m = chk.mapping(raw, parent, key, where, {"p95", "availability", "window"}, "{p95: 1s, availability: 0.99, window: 5s}")
    if "p95" not in m and "availability" not in m:
        raise chk.err("an SLO needs p95 and/or availability", parent, key, field=where,
                      fix="write e.g. {p95: 1s, availability: 0.99}")
    p95 = chk.duration(m["p95"], m, "p95", f"{where}.p95") if "p95" in m else None
    av = chk.ratio(m["availability"], m, "availability", f"{where}.availability") if "availability" in m else None
    window = chk.duration(m.get("window", default_window), m, "window", f"{where}.window")
    if window <= 0:
        raise chk.err("window must be longer than 0 s", m, "window", field=f"{where}.window", fix="e.g. window: 5s")
    return Slo(p95=p95, availability=av, window=window)


def _lead_parse(raw: Any, parent: Any, key: Any, where: str, chk: Checker, facts: Facts) -> dict[str, Any]:
    m = chk.mapping(raw, parent, key, where, {"population", "alert", "slo", "min"},
                    "{population: load, alert: {factor: 2, for: 30s}, slo: {p95: 1s}}")
    if "slo" not in m:
        raise chk.err("missing `slo`: when is the service level broken", parent, key, field=f"{where}.slo",
                      fix="add slo: {p95: 1s, availability: 0.99}")
    pop = chk.population(m.get("population", "load"), m if "population" in m else parent,
                         "population" if "population" in m else key, f"{where}.population", list(facts.populations))
    rule = AlertRule()
    if "alert" in m:
        a = chk.mapping(m["alert"], m, "alert", f"{where}.alert", {"factor", "for", "window"},
                        "{factor: 2, for: 30s, window: 10s}")
        rule = AlertRule(factor=_number(chk, a.get("factor", 2.0), a, "factor", f"{where}.alert.factor", 1.0, 1000),
                         for_=chk.duration(a.get("for", 30.0), a, "for", f"{where}.alert.for"),
                         window=chk.duration(a.get("window", 10.0), a, "window", f"{where}.alert.window"))
        if rule.window <= 0:
            raise chk.err("window must be longer than 0 s", a, "window", field=f"{where}.alert.window", fix="e.g. 10s")
    slo = parse_slo(m["slo"], m, "slo", f"{where}.slo", chk)
    minimum = chk.duration(m.get("min", 0.0), m, "min", f"{where}.min")
    return {"population": pop, "alert": rule, "slo": slo, "min": minimum}


def _absorb_parse(raw: Any, parent: Any, key: Any, where: str, chk: Checker, facts: Facts) -> dict[str, Any]:
    m = chk.mapping(raw, parent, key, where, {"max", "slo", "population", "load", "stable"},
                    "{max: 30s, slo: {p95: 1s, availability: 0.99}}")
    if "slo" not in m:
        raise chk.err("missing `slo`: what 'absorbed' means", parent, key, field=f"{where}.slo",
                      fix="add slo: {p95: 1s, availability: 0.99}")
    pop = chk.population(m.get("population", "load"), m if "population" in m else parent,
                         "population" if "population" in m else key, f"{where}.population", list(facts.populations))
    out = {"slo": parse_slo(m["slo"], m, "slo", f"{where}.slo", chk), "population": pop,
           "max": chk.duration(m["max"], m, "max", f"{where}.max") if "max" in m else None,
           "load": LOAD_LABEL.parse(m["load"], m, "load", f"{where}.load", chk, facts) if "load" in m else None,
           "stable": chk.duration(m.get("stable", 5.0), m, "stable", f"{where}.stable")}
    return out


def _breaking_parse(raw: Any, parent: Any, key: Any, where: str, chk: Checker, facts: Facts) -> dict[str, Any]:
    if isinstance(raw, dict):
        m = chk.mapping(raw, parent, key, where, {"forecast"}, "{forecast: 4}")
        return {"forecast": _number(chk, m["forecast"], m, "forecast", f"{where}.forecast", 0.01, 1000)
                if "forecast" in m else None}
    return {"forecast": _number(chk, raw, parent, key, where, 0.01, 1000)}


def _ratio_cell(value: Any, verdicts: Sequence[Verdict]) -> str:
    return f"{value:.1f} %"


register(VerdictKind(
    "throughput", "throughput held",
    "served / offered arrivals of the load in every phase, ≥ min",
    lambda tl, p, w: L.throughput(tl, minimum=p["min"], label=p["load"]),
    params=(Param("min", "ratio", 0.95, "least share of the offered arrivals served in each phase", "0.95"),
            LOAD_LABEL),
    shorthand="min", requires=(NEEDS_LOAD,),
    column=Column("throughput", "Throughput held", "%", worst="min"),
    example="{min: 0.95}"))

register(VerdictKind(
    "load_p95", "load p95",
    "p95 answer time (due → answer) of the served arrivals in every phase of the load, ≤ max",
    lambda tl, p, w: L.load_p95(tl, maximum=p["max"], label=p["load"]),
    params=(Param("max", "duration", help="p95 allowed in every phase", example="1s"), LOAD_LABEL),
    shorthand="max", requires=(NEEDS_LOAD,),
    column=Column("load_p95", "Load p95 (worst phase)", "ms"),
    example="{max: 1s}"))

register(VerdictKind(
    "shed", "shed or timed out",
    "share of the load's arrivals refused (503/429, refused connection) or timed out in every phase, ≤ max",
    lambda tl, p, w: L.shed(tl, maximum=p["max"], label=p["load"]),
    params=(Param("max", "ratio", 0.01, "most share shed or timed out in any phase", "0.01"), LOAD_LABEL),
    shorthand="max", requires=(NEEDS_LOAD,),
    column=Column("shed", "Shed / timed out", "%"),
    example="{max: 0.01}"))

register(VerdictKind(
    "queue_time", "queue time",
    "p95 queue time of the load's arrivals in every phase (generator wait measured, service wait "
    "estimated), ≤ max",
    lambda tl, p, w: L.queue_time(tl, maximum=p["max"], label=p["load"]),
    params=(Param("max", "duration", help="p95 queue time allowed in every phase", example="500ms"), LOAD_LABEL),
    shorthand="max", requires=(NEEDS_LOAD,),
    column=Column("queue_time", "Queue time p95", "ms"),
    example="{max: 500ms}"))

register(VerdictKind(
    "scaleout_gain", "scale-out gain",
    "served arrivals/s of one load over another (e.g. 5 → 10 instances) grew by ≥ min, or its p95 fell "
    "by ≥ faster",
    lambda tl, p, w: L.scaleout_gain(tl, before=p["before"], after=p["after"], minimum=p["min"],
                                     faster=p["faster"]),
    params=(Param("before", "name", help="label of the load before scaling out", example="'5'"),
            Param("after", "name", help="label of the load after scaling out", example="'10'"),
            Param("min", "ratio", 0.2, "least gain (0.2 = 20 % more served/s)", "0.2"),
            Param("faster", "ratio", None, "or: least fall of the p95 answer time (0.3 = 30 % faster)", "0.3")),
    requires=(NEEDS_LOAD,),
    column=Column("scaleout_gain", "Scale-out gain", "%"),
    example="{before: '5', after: '10', min: 0.2}"))

register(VerdictKind(
    "lead_time", "lead time",
    "how long before the SLO broke an alert rule on the population's p95 (factor × baseline for a "
    "while) would have fired, ≥ min; — when the SLO never broke",
    lambda tl, p, w: L.lead_time(tl, population=p["population"], alert=p["alert"], slo=p["slo"],
                                 minimum=p["min"]),
    params=(Param("population", "population", "load", "the population the alert and the SLO watch", "load"),
            Param("alert", "name", None, "the rule: {factor: 2, for: 30s, window: 10s}"),
            Param("slo", "name", None, "when the service level is broken: {p95, availability, window}"),
            Param("min", "duration", 0.0, "least lead time", "10s")),
    parse=_lead_parse,
    column=Column("lead_time", "Lead time", "s", worst="min"),
    example="{alert: {factor: 2, for: 30s}, slo: {p95: 1s, availability: 0.99}}"))

register(VerdictKind(
    "absorption_time", "absorption time",
    "from a surge's start until the SLO held again for good, ≤ max",
    lambda tl, p, w: L.absorption_time(tl, slo=p["slo"], maximum=p["max"], population=p["population"],
                                       label=p["load"], stable=p["stable"]),
    params=(Param("max", "duration", None, "longest time until absorbed", "30s"),
            Param("slo", "name", None, "when the service level holds: {p95, availability, window}"),
            Param("population", "population", "load", "the population judged", "load"), LOAD_LABEL,
            Param("stable", "duration", 5.0, "how long the SLO must keep holding", "5s")),
    parse=_absorb_parse, requires=(NEEDS_LOAD,),
    column=Column("absorption_time", "Surge absorbed after", "s"),
    example="{max: 30s, slo: {p95: 1s, availability: 0.95}}"))

register(VerdictKind(
    "breaking_point", "breaking point",
    "the multiple of today's load where the search's SLO broke; passes when the last multiple that "
    "held covers the forecast",
    lambda tl, p, w: L.breaking_point(tl, forecast=p["forecast"]),
    params=(Param("forecast", "name", None, "the multiple of today's load to be covered (default: the search's)",
                  "4"),),
    parse=_breaking_parse, requires=(NEEDS_SEARCH,),
    column=Column("breaking_point", "Breaks at", cell=lambda v, vs: f"×{v:g}"),
    example="{forecast: 4}"))


# -- verdicts of their own modules ------------------------------------------------------------------
_BUILT_IN_MODULES = {"__init__", "table", "base"}


def discover(folder: Path | None = None, package: str = "drillkit.verdicts") -> list[str]:
    """Import every module of ``package`` (the folder beside this file): a module that registers a
    `VerdictKind` at its end is a verdict with nothing else to edit. Returns the modules imported."""
    folder = folder or Path(__file__).parent
    found = []
    for mod in pkgutil.iter_modules([str(folder)]):
        if mod.name not in _BUILT_IN_MODULES:
            importlib.import_module(f"{package}.{mod.name}")
            found.append(mod.name)
    return found


discover()

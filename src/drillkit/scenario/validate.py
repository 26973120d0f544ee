"""Check a scenario file completely when it is loaded, before anything starts.

Every problem is one `ConfigError` line: ``file:line: field: what — fix: how``. Targets are checked
against the environment's Compose file (services, replicas, zones; no containers needed), fault kinds
and attributes against the fault kinds (the same classes Python drills use).

A section read by a door above this floor (``explore:``, read by `drillkit.explore`) is kept as
written on the `Scenario`; the door checks it through ``sections`` — ``{"explore": check}``, where
``check(raw, error=, stack=, max_nodes=)`` gets this checker's error factory (``error(message,
field=, fix=, container=, key=)``, so its problems carry file:line too) and returns what the door
keeps in ``Scenario.sections``.
"""

from __future__ import annotations

import functools
import heapq
import re
from pathlib import Path
from typing import Any, Callable, Mapping

# The Compose loader's YAML-with-line-numbers; one implementation for both file kinds.
from drillkit.drill import findings_policy
from drillkit.errors import ConfigError, DrillkitError
from drillkit.faults import kinds as fault_kinds
from drillkit.lab.compose import MAX_SWITCH_VALUE, find_environment
from drillkit.load.actions import kind_names, known_kinds
from drillkit.load.spec import parse_load, parse_search
from drillkit.scenario import schema as S
from drillkit.scenario.schema import Expectation, Expectations, FaultStep, Guard, RunbookEntry, Scenario
from drillkit.scenario.traffic import Traffic, capabilities, scenario_clients, scenario_users
from drillkit.stack.contract import load_stack
from drillkit.stack.gate import parse_gate_list, parse_one_gate
from drillkit.stack.model import Stack
from drillkit.stack.plugin import code_steps
from drillkit.stack.runbook import Runbook, parse_steps
from drillkit.stack.target import Target, Targets
from drillkit.stack.truth import ground_truth_names, parse_readers
from drillkit.verdicts import table as VR
from drillkit.verdicts.findings import KINDS as FINDING_KINDS
from drillkit.yamlsrc import (MAX_DURATION, DurationError, Map, duration_words, line_of, load_yaml, parse_duration,
                              read_text_file)

__all__ = ["validate_file", "validate_text"]

_ENV_NAME = re.compile(r"^[A-Za-z0-9_./][A-Za-z0-9_./-]{0,499}$")
_NODE_NAME = re.compile(r"^(?P<service>[a-z0-9][a-z0-9_-]*?)[-_](?P<replica>\d+)$")
_EPS = 1e-9


SectionCheck = Callable[..., Any]


def validate_file(path: Path, *, sections: Mapping[str, SectionCheck] | None = None) -> Scenario:
    return validate_text(read_text_file(path, what="a scenario"), path, sections=sections)


def validate_text(text: str, path: Path, *, sections: Mapping[str, SectionCheck] | None = None) -> Scenario:
    return _Checker(path, sections).check(load_yaml(text, str(path)))


def _environment(path: Path, switches: tuple[tuple[str, str], ...]) -> Stack:
    """The environment's stack, parsed once per file version (validation only reads it)."""
    return _environment_cached(str(path), path.stat().st_mtime_ns, switches)


@functools.lru_cache(maxsize=16)
def _environment_cached(path: str, mtime_ns: int, switches: tuple[tuple[str, str], ...]) -> Stack:
    return load_stack(path, dict(switches))


def _kind(value: Any) -> str:
    if value is None:
        return "empty"
    for typ, name in ((bool, "true/false"), (dict, "a mapping"), (list, "a list"), (str, "text"),
                      (int, "a number"), (float, "a number")):
        if isinstance(value, typ):
            return name
    return type(value).__name__


def _RUNBOOK_HEAL(env: Any, timeline: Any) -> None:   # noqa: N802 - stands for a runbook heal while checking
    """What a fault gets for ``heal: <runbook>`` while a scenario is checked (nothing runs)."""


class _Checker:
    def __init__(self, path: Path, sections: Mapping[str, SectionCheck] | None = None):
        self.path = path
        self.f = str(path)
        self.sections = dict(sections or {})

    # -- helpers ---------------------------------------------------------------------------------
    def err(self, message: str, container: Any = None, key: Any = None, *, field: str,
            fix: str | None = None, line: int | None = None) -> ConfigError:
        if line is None:
            line = line_of(container, key) if container is not None else None
        return ConfigError(message, file=self.f, line=line, field=field, fix=fix)

    def mapping(self, value: Any, parent: Any, key: Any, field: str, allowed: set[str] | None = None,
                example: str = "key: value") -> dict:
        if not isinstance(value, dict):
            raise self.err(f"must be a mapping, not {_kind(value)}", parent, key, field=field,
                           fix=f"write it as {example}")
        if allowed is not None:
            for k in value:
                if k not in allowed:
                    raise self.err(f"unknown key {k!r}", value, k, field=f"{field}.{k}",
                                   fix=f"use {', '.join(sorted(allowed))}")
        return value

    def duration(self, value: Any, parent: Any, key: Any, field: str, maximum: float = S.MAX_SCHEDULE) -> float:
        """A duration of the scenario: 0..``maximum`` (24 h unless a field has a tighter bound)."""
        try:
            return parse_duration(value, maximum=min(maximum, MAX_DURATION))
        except DurationError as exc:
            if "negative" in str(exc):
                fix = "use a duration ≥ 0"
            elif "longer than" in str(exc):
                fix = f"use at most {duration_words(min(maximum, MAX_DURATION))} (docs/scenarios.md, Bounds)"
            else:
                fix = "write e.g. 500ms, 3s, 1m or a number of seconds"
            raise self.err(str(exc), parent, key, field=field, fix=fix) from None

    def integer(self, value: Any, parent: Any, key: Any, field: str, lo: int, hi: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise self.err(f"must be a whole number {lo}..{hi}, not {value!r}", parent, key, field=field,
                           fix=f"give a whole number between {lo} and {hi}")
        return value

    def ratio(self, value: Any, parent: Any, key: Any, field: str) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
            raise self.err(f"must be a ratio 0..1, not {value!r}", parent, key, field=field,
                           fix="write e.g. 0.99 for 99 %")
        return float(value)

    def text(self, value: Any, parent: Any, key: Any, field: str, *, required: bool = False) -> str:
        if not isinstance(value, str) or (required and not value.strip()):
            raise self.err(f"must be text, not {_kind(value)}", parent, key, field=field,
                           fix=f"write `{field}: ...` with a sentence")
        return value.strip()

    # -- the file --------------------------------------------------------------------------------
    def check(self, raw: Any) -> Scenario:
        if not isinstance(raw, dict):
            raise ConfigError(f"a scenario must be a mapping, not {_kind(raw)}", file=self.f,
                              line=getattr(raw, "line", 1), field="scenario",
                              fix="start the file with `scenario: <one sentence>`")
        for k in raw:
            if k not in S.TOP_KEYS:
                raise self.err(f"unknown top-level key {k!r}", raw, k, field=str(k),
                               fix=f"use {', '.join(S.TOP_KEYS)} (see docs/scenarios.md)")
        for k in S.REQUIRED_TOP:
            if k not in raw:
                raise self.err(f"missing `{k}`", raw, field=k, line=getattr(raw, "line", 1),
                               fix=f"add `{k}:` ({S.TOP_KEYS[k]})")
        title = self.text(raw["scenario"], raw, "scenario", "scenario", required=True)
        source = self.text(raw.get("source", ""), raw, "source", "source")
        description = self.text(raw.get("description", ""), raw, "description", "description")
        severity = raw.get("severity", "normal")
        if severity not in S.SEVERITIES:
            raise self.err(f"unknown severity {severity!r}", raw, "severity", field="severity",
                           fix=f"use one of {', '.join(S.SEVERITIES)}")

        env_ref, env_line = raw["environment"], line_of(raw, "environment")
        switches = self.switches(raw.get("switches"), raw, env_ref)
        spec, env_path = self.environment(env_ref, env_line, switches)
        self._spec = spec

        traffic = self.traffic(raw, spec)
        caps = capabilities(traffic)
        probe = self.probe(raw.get("probe", {}), raw)
        self.entrypoint_needed(spec, raw, probe)
        readers = self.ground_truth(raw.get("ground_truth"), raw, spec)
        settle = self.settle(raw["settle"], raw, spec) if raw.get("settle") is not None else None
        # what the traffic measures comes from the kinds themselves (data or a stack plug-in's code)
        populations = list(caps.populations)
        session_pops = list(caps.session_populations)
        writers = [t.name for t in traffic if t.writes]
        loads = self.loads(raw.get("load"), raw, spec)
        search = self.search(raw.get("search"), raw, spec)
        for pop in [ld.population for ld in loads] + ([search.population] if search else []):
            if pop not in populations:
                populations.append(pop)
        if probe is not None:
            populations.append(S.PROBE_POPULATION)

        steady_duration, steady_av = 0.0, {}
        if "steady_state" in raw:
            st = self.mapping(raw["steady_state"], raw, "steady_state", "steady_state", S.STEADY_KEYS,
                              "{duration: 3s, availability: {existing-sessions: 0.99}}")
            if "duration" not in st:
                raise self.err("missing `duration`", raw, "steady_state", field="steady_state.duration",
                               fix="add duration: 3s")
            steady_duration = self.duration(st["duration"], st, "duration", "steady_state.duration", S.MAX_STEADY)
            steady_av = self.availability(st.get("availability", {}), st, "availability",
                                          "steady_state.availability", populations)

        gates = parse_gate_list(raw["gate"], self.f, line_of(raw, "gate"), spec) if "gate" in raw else ()

        max_nodes = None
        if raw.get("max_nodes") is not None:
            max_nodes = self.integer(raw["max_nodes"], raw, "max_nodes", "max_nodes", 1, 1000)
        observe = self.duration(raw.get("observe", 0), raw, "observe", "observe", S.MAX_OBSERVE)
        recover = self.duration(raw.get("recover", 0), raw, "recover", "recover", S.MAX_RECOVER)
        explore = raw.get("explore") if "explore" in raw else None
        if "explore" in raw and explore is None:
            explore = {}         # `explore:` alone: every default
        self._explore = explore
        if (loads or search) and raw.get("faults") in (None, []):
            faults = []          # the load is the drill
        elif explore is not None and raw.get("faults") in (None, []):
            faults = []          # an exploration: drill explore draws the faults
        elif "faults" not in raw:
            raise self.err("missing `faults`", raw, field="faults", line=getattr(raw, "line", 1),
                           fix=f"add `faults:` ({S.TOP_KEYS['faults']}), or a load: / search:")
        else:
            faults = self.faults(raw["faults"], raw, spec, max_nodes)
        self.schedule(faults, observe, spec, max_nodes, raw)
        last = max((o.start for st in faults for o in st.occurrences()), default=0.0)
        until = max(observe, sum(ld.duration for ld in loads) - last)   # runbooks may act while a load runs
        runbook = self.runbook_entries(raw.get("runbook"), raw, spec, faults, until)
        guards = self.guards(raw.get("guards", []), raw, populations)
        self._readers = readers
        self._loads, self._search = loads, search
        expect = self.expect(raw.get("expect", {}), raw, populations, spec, faults,
                             session_pops=session_pops, writers=writers)
        findings = self.findings(raw.get("findings", "report"), raw)

        checked = {}
        for name, check in self.sections.items():
            if name == "explore" and explore is not None:
                checked[name] = check(explore, error=self._section_error, stack=spec, max_nodes=max_nodes)

        return Scenario(file=self.path, title=title, environment=str(env_path), environment_name=spec.name,
                        stack=spec.stack, source=source, description=description, switches=switches,
                        severity=severity, probe=probe, steady_duration=steady_duration,
                        steady_availability=steady_av, faults=tuple(faults), observe=observe,
                        recover=recover, guards=tuple(guards), max_nodes=max_nodes, expect=expect,
                        traffic=tuple(traffic), session_populations=tuple(session_pops), gates=gates,
                        runbook=tuple(runbook), ground_truth=readers, load=tuple(loads), search=search,
                        findings=findings, settle=settle, explore=explore, sections=checked)

    def _section_error(self, message: str, *, field: str, fix: str, container: Any = None,
                       key: Any = None) -> ConfigError:
        """The error factory a door's section check gets: file:line from the YAML node."""
        return self.err(message, container, key, field=field, fix=fix)

    # -- load and search -------------------------------------------------------------------------
    def loads(self, raw: Any, top: dict, spec: Stack) -> list:
        """``load:`` — one load (a mapping) or several run one after another (a list)."""
        if raw is None:
            return []
        if "search" in top:
            raise self.err("a scenario has a load: or a search:, not both", top, "search", field="search",
                           fix="put the breaking-point search into a scenario of its own")
        items = raw if isinstance(raw, list) else [raw]
        if isinstance(raw, list) and not raw:
            raise self.err("must not be empty", top, "load", field="load", fix="give one load or drop load:")
        out, labels = [], set()
        for i, item in enumerate(items):
            where = f"load[{i}]" if isinstance(raw, list) else "load"
            parent, key = (raw, i) if isinstance(raw, list) else (top, "load")
            ld = parse_load(item, parent, key, self, where=where, known=known_kinds(spec), have=kind_names(spec),
                            line=line_of(parent, key) or line_of(item))
            if ld.label in labels:
                raise self.err(f"two loads are labelled {ld.label!r}", item, "label" if "label" in item else None,
                               field=f"{where}.label", line=line_of(item), fix="give each load its own label:")
            labels.add(ld.label)
            out.append(ld)
        return out

    def search(self, raw: Any, top: dict, spec: Stack):
        if raw is None:
            return None
        return parse_search(raw, top, "search", self, known=known_kinds(spec), have=kind_names(spec),
                            line=line_of(top, "search"))

    # -- environment and switches ----------------------------------------------------------------
    def environment(self, ref: Any, line: int | None, switches: dict[str, str]) -> tuple[Stack, Path]:
        fix_names = ("name a folder of environments/ or the path of its compose.yaml "
                     "(relative to this scenario file)")
        path = self._relative_environment(ref)
        if path is None:
            if not isinstance(ref, str) or not _ENV_NAME.match(ref) or ".." in ref.split("/"):
                raise self.err(f"{ref!r} is not an environment name", field="environment", line=line, fix=fix_names)
            try:
                path = self._find_environment(ref)
                if path is None:
                    find_environment(ref)
            except ConfigError as exc:
                raise self.err(exc.message.removeprefix(f"{exc.field}: "), field="environment", line=line,
                               fix=exc.fix) from None
            except (OSError, ValueError) as exc:  # e.g. a name too long for the file system
                raise self.err(f"{ref!r} is not an environment ({exc.__class__.__name__})", field="environment",
                               line=line, fix=fix_names) from None
        assert path is not None
        spec = _environment(path, ())  # a broken Compose file reports its own file:line
        by_variable = {sw.variable: n for n, sw in spec.switches.items()}
        for name, value in switches.items():
            declared = name if name in spec.switches else by_variable.get(name)
            if declared is not None:
                if value not in spec.switches[declared].choices:
                    raise self.err(f"switch {name}={value!r} is not a choice", self._switch_map, name,
                                   field=f"switches.{name}",
                                   fix=f"use one of {', '.join(spec.switches[declared].choices)}")
            elif not spec.accepts_switch(name):
                have = [*spec.switches, *(f"${{{v}}}" for v in sorted(spec.variables) if v not in by_variable)]
                raise self.err(f"environment {spec.name!r} has no switch {name!r} and no ${{{name}}}",
                               self._switch_map, name, field=f"switches.{name}",
                               fix=f"use {', '.join(have) or 'no switches (write switches: {})'}")
        if switches:
            spec = _environment(path, tuple(sorted(switches.items())))
        return spec, path

    def _relative_environment(self, ref: Any) -> Path | None:
        """``../environments/x/compose.yaml`` (or its folder): a path relative to the scenario file."""
        if not isinstance(ref, str) or not ("/" in ref or ref.endswith((".yaml", ".yml"))):
            return None
        cand = self.path.parent / ref
        try:
            for c in (cand, cand / "compose.yaml", cand / "compose.yml"):
                if c.is_file():
                    return c.resolve()
        except OSError:
            return None
        return None

    def _find_environment(self, ref: str) -> Path | None:
        try:
            return find_environment(ref).resolve()
        except ConfigError:
            pass
        for parent in self.path.resolve().parents:  # the scenario's own project, wherever pytest runs
            for cand in (parent / "environments" / ref / "compose.yaml", parent / "environments" / ref / "compose.yml"):
                if cand.is_file():
                    return cand
        return None

    def switches(self, raw: Any, top: dict, env_ref: Any) -> dict[str, str]:
        self._switch_map = raw
        if raw is None:
            return {}
        m = self.mapping(raw, top, "switches", "switches", example="{sessions: node-local}")
        out = {}
        for k, v in m.items():
            if not isinstance(k, str) or isinstance(v, (dict, list)) or v is None:
                raise self.err(f"switch {k!r}: {v!r} is not NAME: VALUE", m, k, field=f"switches.{k}",
                               fix="write e.g. sessions: node-local")
            out[k] = str(v).lower() if isinstance(v, bool) else str(v)
            if len(out[k]) > MAX_SWITCH_VALUE:
                raise self.err(f"switch {k!r}: its value is {len(out[k]):,} characters long (at most "
                               f"{MAX_SWITCH_VALUE:,})", m, k, field=f"switches.{k}",
                               fix="give a short value (a choice, an image tag, a number)")
        return out

    # -- traffic ---------------------------------------------------------------------------------
    def traffic(self, raw: dict, spec: Stack) -> list[Traffic]:
        """`users:` (kinds the environment offers, as data or in its plug-in, or defined in place) and
        `clients:`."""
        users = raw.get("users")
        if users is not None:
            self.mapping(users, raw, "users", "users", example="{clerks: 20}")
        out = scenario_users(users, raw, spec, self.f)
        out += scenario_clients(raw.get("clients"), raw, spec, self.f)
        total = sum(t.count or 0 for t in out)
        if total > S.MAX_TRAFFIC:
            key = "users" if "users" in raw else "clients"
            raise self.err(f"{total:,} users and clients in all, more than {S.MAX_TRAFFIC:,}", raw, key, field=key,
                           fix=f"at most {S.MAX_TRAFFIC:,} together (docs/scenarios.md, Bounds); a load: sends "
                               "many more requests with few clients")
        return out

    def probe(self, raw: Any, top: dict) -> dict[str, Any] | None:
        if raw is False or raw is None:
            return None
        m = self.mapping(raw, top, "probe", "probe", S.PROBE_KEYS, "{interval: 0.05, path: /version}")
        out: dict[str, Any] = {}
        if "interval" in m:
            iv = self.duration(m["interval"], m, "interval", "probe.interval")
            if not 0.005 <= iv <= 10:
                raise self.err(f"probe interval {iv:g} s is not 0.005..10 s", m, "interval",
                               field="probe.interval", fix="e.g. interval: 0.05")
            out["interval"] = iv
        if "path" in m:
            path = m["path"]
            if not isinstance(path, str) or not path.startswith("/"):
                raise self.err(f"probe path {path!r} must start with /", m, "path", field="probe.path",
                               fix="e.g. path: /version")
            out["path"] = path
        return out

    def population(self, value: Any, parent: Any, key: Any, field: str, populations: list[str]) -> str:
        if value not in populations:
            have = ", ".join(populations) or "none (add users: or a probe)"
            raise self.err(f"unknown population {value!r}", parent, key, field=field,
                           fix=f"this scenario's populations: {have}")
        return value

    def availability(self, raw: Any, parent: Any, key: Any, field: str, populations: list[str]) -> dict[str, float]:
        m = self.mapping(raw, parent, key, field, example="{existing-sessions: 0.99}")
        out = {}
        for pop, v in m.items():
            self.population(pop, m, pop, f"{field}.{pop}", populations)
            out[pop] = self.ratio(v, m, pop, f"{field}.{pop}")
        return out

    # -- faults and schedule ---------------------------------------------------------------------
    def faults(self, raw: Any, top: dict, spec: Stack, max_nodes: int | None) -> list[FaultStep]:
        if not isinstance(raw, list) or not raw:
            raise self.err(f"must be a non-empty list, not {_kind(raw)}", top, "faults", field="faults",
                           fix="- {kind: kill, target: {service: app, replica: 2}, at: 0s}")
        if len(raw) > S.MAX_FAULTS:
            raise self.err(f"{len(raw):,} faults, more than {S.MAX_FAULTS:,}", top, "faults", field="faults",
                           line=line_of(raw[S.MAX_FAULTS]) or line_of(top, "faults"),
                           fix=f"at most {S.MAX_FAULTS:,} in one scenario (docs/scenarios.md, Bounds): split it")
        out, injections = [], 0
        for i, item in enumerate(raw):
            step = self.fault(i, item, raw, spec, max_nodes)
            injections += step.times
            if injections > S.MAX_FAULTS:
                raise self.err(f"{injections:,} injections with the repeats so far, more than {S.MAX_FAULTS:,}",
                               field=f"faults[{i}].repeat.times" if step.times > 1 else f"faults[{i}]", line=step.line,
                               fix=f"at most {S.MAX_FAULTS:,} injections in one scenario, every repeat counted "
                                   "(docs/scenarios.md, Bounds)")
            out.append(step)
        return out

    def fault(self, i: int, item: Any, seq: list, spec: Stack, max_nodes: int | None) -> FaultStep:
        where = f"faults[{i}]"
        line = line_of(item) or line_of(seq)
        if not isinstance(item, dict):
            raise self.err(f"must be a mapping, not {_kind(item)}", field=where, line=line,
                           fix="- {kind: kill, target: {service: app, replica: 2}, at: 0s}")
        if "kind" not in item:
            raise self.err("missing `kind`", field=f"{where}.kind", line=line, fix="add kind: kill (or stop, pause, ...)")
        kind = item["kind"]
        kline = line_of(item, "kind")
        if not isinstance(kind, str):
            raise self.err(f"fault kind must be a name, not {_kind(kind)}", field=f"{where}.kind", line=kline,
                           fix="e.g. kind: kill")
        target = self.target(item.get("target"), item, spec, where) if "target" in item else None
        at = self.duration(item.get("at", 0), item, "at", f"{where}.at")
        duration = None
        if item.get("for") is not None:
            duration = self.duration(item["for"], item, "for", f"{where}.for")
        every, times = None, 1
        if item.get("repeat") is not None:
            rep = self.mapping(item["repeat"], item, "repeat", f"{where}.repeat", S.REPEAT_KEYS, "{every: 20s, times: 3}")
            for k in S.REPEAT_KEYS:
                if k not in rep:
                    raise self.err(f"missing `{k}`", item, "repeat", field=f"{where}.repeat.{k}",
                                   fix="write repeat: {every: 20s, times: 3}")
            every = self.duration(rep["every"], rep, "every", f"{where}.repeat.every")
            times = self.integer(rep["times"], rep, "times", f"{where}.repeat.times", 1, 1000)
            if duration is None and times > 1:
                raise self.err("a repeated fault needs `for`", item, "repeat", field=f"{where}.for",
                               fix="add for: <how long each time>, shorter than repeat.every")
            if times > 1 and duration is not None and every <= duration:
                raise self.err(f"repeat.every {every:g} s is not longer than for {duration:g} s", rep, "every",
                               field=f"{where}.repeat.every",
                               fix="a fault must heal before it is injected again: raise every or shorten for")
        heal = self.heal(item, spec, where) if "heal" in item else "start"
        params = {k: v for k, v in item.items() if k not in S.FAULT_KEYS}
        params = self.attributes(kind, params, item, where, kline)
        if isinstance(params.get("to"), str):     # another Compose file, relative to the scenario file
            params["to"] = self.compose_path(params["to"], item, f"{where}.to")
        if max_nodes is not None:
            params["max_nodes"] = max_nodes
        try:   # a runbook heal is a callable to the fault (what it is does not matter here)
            made = fault_kinds.create(kind, target, where=where, file=self.f, line=kline,
                                   heal=heal if isinstance(heal, str) else _RUNBOOK_HEAL, **params)
        except ConfigError:
            raise
        except Exception as exc:  # a fault class refusing a value: say which, never a traceback
            if isinstance(exc, DrillkitError) and exc.fix:
                raise self.err(f"fault {kind!r} refuses its attributes: {exc.message}", field=where, line=kline,
                               fix=exc.fix) from None
            raise self.err(f"fault {kind!r} refuses its attributes: {exc}", field=where, line=kline,
                           fix=f"check the attributes of {kind} (docs/scenarios.md)") from None
        # what the fault names in the environment (e.g. the runbooks of a change fault) must be there
        problem = made.check_spec(spec) if hasattr(made, "check_spec") else None
        if problem is not None:
            attr, message, fix = problem
            raise self.err(message, item, attr if attr in item else "kind", field=f"{where}.{attr}", fix=fix)
        params.pop("max_nodes", None)
        return FaultStep(index=i, kind=kind, target=target, params=params, at=at, duration=duration,
                         every=every, times=times, line=kline, heal=heal, fault=made)

    def attributes(self, kind: str, params: dict, item: dict, where: str, kline: int | None) -> dict:
        if kind not in fault_kinds.load_all():
            fault_kinds.create(kind, where=where, file=self.f, line=kline)  # raises the one-line error
        allowed = fault_kinds.parameters(kind)
        out = {}
        for name, value in params.items():
            if name not in allowed:
                raise self.err(f"fault {kind!r} has no attribute {name!r}", item, name, field=f"{where}.{name}",
                               fix=f"{kind} takes {', '.join(allowed) or 'no attributes'}")
            default = allowed[name].default
            field = f"{where}.{name}"
            if isinstance(default, bool):
                if not isinstance(value, bool):
                    raise self.err(f"must be true or false, not {value!r}", item, name, field=field,
                                   fix=f"write {name}: true")
            elif isinstance(default, (int, float)) and default is not allowed[name].empty:
                # no unit conversion: each fault states its own unit (grace in s, latency in ms, ...)
                if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                    raise self.err(f"must be a number ≥ 0 in the fault's own unit, not {value!r}", item, name,
                                   field=field, fix=f"write e.g. {name}: {default}")
                if isinstance(default, int) and not isinstance(default, bool) and not float(value).is_integer():
                    raise self.err(f"must be a whole number, not {value!r}", item, name, field=field,
                                   fix=f"write e.g. {name}: {default}")
                value = type(default)(value)
            elif isinstance(default, str) and not isinstance(value, str):
                raise self.err(f"must be text, not {_kind(value)}", item, name, field=field,
                               fix=f"write e.g. {name}: {default or '...'}")
            self.attribute_refers(name, value, item, field)
            out[name] = value
        return out

    def attribute_refers(self, name: str, value: Any, item: dict, field: str) -> None:
        """Attributes that name parts of the environment must name parts of *this* environment."""
        spec = self._spec
        if name == "link":
            links = [l.name for l in spec.links]
            if value not in links:
                raise self.err(f"environment {spec.name!r} has no link {value!r}", item, name, field=field,
                               fix=f"use one of {', '.join(links) or '(none: declare x-drillkit.links)'}")
        elif name == "zone":
            zones = sorted({s.zone_of(r) for s in spec.services.values() for r in range(1, s.replicas + 1)})
            if value not in zones:
                raise self.err(f"environment {spec.name!r} has no zone {value!r}", item, name, field=field,
                               fix=f"use one of {', '.join(zones)}")
        elif name == "service":
            if value not in spec.services:
                raise self.err(f"{value!r} is not a service of environment {spec.name!r}", item, name,
                               field=field, fix=f"use one of {', '.join(sorted(spec.services))}")
        elif name in ("side_a", "side_b"):
            # a partition's sides: services, nodes (app-2) or roles (primary), as the fault resolves them
            names = [value] if isinstance(value, str) else value
            roles = spec.roles or {}
            fix = (f"list services ({', '.join(sorted(spec.services))}), nodes such as "
                   f"{sorted(spec.services)[0]}-1" + (f" or roles ({', '.join(roles)})" if roles else ""))
            if not isinstance(names, list) or not names:
                raise self.err(f"must be a name or a non-empty list of names, not {value!r}", item, name,
                               field=field, fix=fix)
            for n in names:
                m = _NODE_NAME.match(n) if isinstance(n, str) else None
                node_ok = bool(m and m.group("service") in spec.services
                               and 1 <= int(m.group("replica")) <= spec.services[m.group("service")].replicas)
                if not isinstance(n, str) or not (n in spec.services or n in roles or node_ok):
                    raise self.err(f"{n!r} is not a service, node or role of environment {spec.name!r}", item,
                                   name, field=field, fix=fix)

    def target(self, raw: Any, item: dict, spec: Stack, where: str) -> Target | Targets:
        """A fault's ``target``: a service, ``{service, replica | zone | random}``, a role, a group of
        ``x-drillkit.groups``, or a list of services and mappings — several as one target
        (``[app-1, app-2, app-3]``: a rolling upgrade over three services)."""
        field = f"{where}.target"
        if isinstance(raw, list):
            if not raw:
                raise self.err("an empty list names no node", item, "target", field=field,
                               fix="list services, e.g. target: [app-1, app-2]")
            parts: list[Target] = []
            for i, one in enumerate(raw):
                holder = Map({"target": one})       # so that an error names this entry's line
                holder.line = line_of(one) or line_of(raw) or line_of(item, "target") or 0
                holder.key_lines = {"target": holder.line}
                if isinstance(one, list):
                    raise self.err("a list inside a list", holder, "target", field=f"{field}[{i}]",
                                   fix="list services or {service, replica} mappings")
                t = self._group_or_one(one, holder, spec, f"{field}[{i}]")
                parts.extend(p for p in (t.parts if isinstance(t, Targets) else (t,)) if p not in parts)
            return Targets(tuple(parts))
        return self._group_or_one(raw, item, spec, field)

    def _group_or_one(self, raw: Any, item: dict, spec: Stack, field: str) -> Target | Targets:
        groups = getattr(spec, "groups", None) or {}
        if isinstance(raw, str) and raw in groups and raw not in spec.services:
            return Targets(tuple(Target(s) for s in groups[raw]), raw)
        return self._single_target(raw, item, spec, field)

    def _single_target(self, raw: Any, item: dict, spec: Stack, field: str) -> Target:
        services = ", ".join(sorted(spec.services))
        outside_fix = f"faults only touch this run's {spec.name} environment: use {{service: one of {services}}}"
        if isinstance(raw, str):
            raw_map: dict = {"service": raw}
            parent, key = item, "target"
        else:
            raw_map = self.mapping(raw, item, "target", field, example="{service: app, replica: 2}")
            parent, key = raw_map, "service"
            for k in raw_map:
                if k in S.OUTSIDE_RUN_KEYS:
                    raise self.err(f"target by {k!r} is outside the run", raw_map, k, field=f"{field}.{k}",
                                   fix=outside_fix)
                if k not in S.TARGET_KEYS:
                    raise self.err(f"unknown key {k!r}", raw_map, k, field=f"{field}.{k}",
                                   fix=f"use {', '.join(sorted(S.TARGET_KEYS))}")
            if "role" in raw_map:
                return self.role_target(raw_map, spec, field)
            if "service" not in raw_map:
                raise self.err("missing `service`", item, "target", field=f"{field}.service",
                               fix=f"add service: one of {services}")
        svc = raw_map["service"]
        if not isinstance(svc, str) or svc not in spec.services:
            hint = outside_fix
            m = _NODE_NAME.match(svc) if isinstance(svc, str) else None
            if m and m.group("service") in spec.services:
                hint = f"write {{service: {m.group('service')}, replica: {int(m.group('replica'))}}}"
            elif isinstance(svc, str) and ("/" in svc or ":" in svc or svc.count("-") >= 2 or "_" in svc):
                hint = outside_fix + " (container names and other environments are outside the run)"
            raise self.err(f"{svc!r} is not a service of environment {spec.name!r}", parent, key,
                           field=f"{field}.service", fix=hint)
        s = spec.services[svc]
        replica = zone = None
        if raw_map.get("replica") is not None:
            replica = self.integer(raw_map["replica"], raw_map, "replica", f"{field}.replica", 1, 50)
            if replica > s.replicas:
                raise self.err(f"{svc} has {s.replicas} replica(s), not {replica}", raw_map, "replica",
                               field=f"{field}.replica", fix=f"use replica 1..{s.replicas}")
        zones = [s.zone_of(r) for r in range(1, s.replicas + 1)]
        if raw_map.get("zone") is not None:
            zone = raw_map["zone"]
            if zone not in zones:
                raise self.err(f"{svc} has no replica in zone {zone!r}", raw_map, "zone", field=f"{field}.zone",
                               fix=f"use one of {', '.join(sorted(set(zones)))}")
            if replica is not None and zones[replica - 1] != zone:
                raise self.err(f"{svc}-{replica} is in {zones[replica - 1]}, not {zone}", raw_map, "zone",
                               field=f"{field}.zone", fix="drop replica or zone")
        rnd = raw_map.get("random", False)
        if not isinstance(rnd, bool):
            raise self.err(f"must be true or false, not {rnd!r}", raw_map, "random", field=f"{field}.random",
                           fix="write random: true")
        seed = 0
        if "seed" in raw_map:
            seed = self.integer(raw_map["seed"], raw_map, "seed", f"{field}.seed", 0, 2**31)
            if not rnd:
                raise self.err("seed without random: true", raw_map, "seed", field=f"{field}.seed",
                               fix="add random: true or drop seed")
        return Target(svc, replica=replica, zone=zone, random_member=rnd, seed=seed)

    def role_target(self, raw_map: dict, spec: Stack, field: str) -> Target:
        """``{role: primary}`` or ``{service: pg, role: primary}``: resolved when the fault is injected."""
        role, svc = raw_map["role"], raw_map.get("service")
        roles = spec.roles
        if role not in roles:
            raise self.err(f"environment {spec.name!r} declares no role {role!r}", raw_map, "role",
                           field=f"{field}.role",
                           fix=f"declare it under x-drillkit.roles (have: {', '.join(roles) or 'none'})")
        if svc is not None and svc not in roles[role].services:
            raise self.err(f"role {role!r} is held by {', '.join(roles[role].services)}, not {svc!r}", raw_map,
                           "service", field=f"{field}.service",
                           fix=f"use one of {', '.join(roles[role].services)} or drop service")
        for k in ("replica", "zone", "random", "seed"):
            if k in raw_map:
                raise self.err(f"a role names its node by itself: no {k} with it", raw_map, k,
                               field=f"{field}.{k}", fix=f"drop {k}")
        return Target(svc, role=role)

    def nodes_of(self, target: Target | Targets | None, spec: Stack) -> set[str]:
        if target is None:
            return set()
        if isinstance(target, Targets):
            return set().union(*(self.nodes_of(p, spec) for p in target.parts))
        if target.role is not None:
            return {f"role:{target.role}"}
        s = spec.services[target.service]
        nodes = [r for r in range(1, s.replicas + 1)
                 if (target.zone is None or s.zone_of(r) == target.zone)
                 and (target.replica is None or r == target.replica)]
        if target.random_member:
            return {f"{target.service}-random({target.seed})"}
        return {f"{target.service}-{r}" for r in nodes}

    def schedule(self, faults: list[FaultStep], observe: float, spec: Stack, max_nodes: int | None,
                 top: dict | None = None) -> None:
        last = max((o.start for s in faults for o in s.occurrences()), default=0.0)
        end = last + observe
        if end > S.MAX_SCHEDULE + _EPS:
            raise ConfigError(f"the schedule ends {duration_words(end)} after inject starts (last injection at "
                              f"{last:g} s, then observe {observe:g} s), later than {duration_words(S.MAX_SCHEDULE)}",
                              file=self.f, line=line_of(top, "observe") if top is not None else None, field="observe",
                              fix=f"inject earlier or observe less: a drill ends within "
                                  f"{duration_words(S.MAX_SCHEDULE)} (docs/scenarios.md, Bounds)")
        windows = []
        for step in faults:
            for o in step.occurrences():
                if o.end is not None and o.end > end + _EPS:
                    raise ConfigError(f"heals at {o.end:g} s, after observe ends at {end:g} s", file=self.f,
                                      line=step.line, field=f"faults[{step.index}].for",
                                      fix=f"shorten for, or raise observe to ≥ {o.end - last:g}s")
                windows.append((o.start, o.end if o.end is not None else end, step))
        if max_nodes is None:
            return
        self._blast_radius(windows, spec, max_nodes)

    def _blast_radius(self, windows: list[tuple[float, float, FaultStep]], spec: Stack, max_nodes: int) -> None:
        """The nodes faulted at once never exceed ``max_nodes``: a sweep over the windows in time
        (a window is live from its start until just before its end; one of no length at its start)."""
        nodes_of = {id(step): self.nodes_of(step.target, spec) for _, _, step in windows}
        order = sorted(range(len(windows)), key=lambda k: windows[k][0])
        live: dict[str, int] = {}          # node -> windows live on it
        ends: list[tuple[float, int]] = []  # (end, window) of the live windows
        i = 0
        while i < len(order):
            t = windows[order[i]][0]
            while ends and not t < ends[0][0] - _EPS:       # ended by now
                _, k = heapq.heappop(ends)
                for n in nodes_of[id(windows[k][2])]:
                    live[n] -= 1
                    if not live[n]:
                        del live[n]
            group = []
            while i < len(order) and windows[order[i]][0] <= t + _EPS:   # every window starting now
                k = order[i]
                group.append(k)
                heapq.heappush(ends, (windows[k][1], k))
                for n in nodes_of[id(windows[k][2])]:
                    live[n] = live.get(n, 0) + 1
                i += 1
            if len(live) > max_nodes:
                step = windows[group[0]][2]
                raise ConfigError(f"{len(live)} nodes faulted at once at {t:g} s ({', '.join(sorted(live))}), "
                                  f"max_nodes is {max_nodes}", file=self.f, line=step.line,
                                  field=f"faults[{step.index}].target",
                                  fix="narrow the target, move the fault in time, or raise max_nodes")

    # -- the stack contract: entry point, ground truth, heal, runbooks ------------------------------
    def entrypoint_needed(self, spec: Stack, raw: dict, probe: dict | None) -> None:
        """The probe talks to the entry point: without one, refuse now, not after start-up. (HTTP user
        kinds need one too: checked where they are declared.)"""
        if spec.entrypoint is not None:
            return
        add = f"add x-drillkit.entrypoint: {{service: ..., port: ...}} to {spec.file}"
        if probe is not None:
            key = "probe" if "probe" in raw else "environment"
            raise self.err(f"the probe needs an entry point, and environment {spec.name!r} declares none",
                           raw, key, field="probe", fix=f"write probe: false, or {add}")

    def ground_truth(self, raw: Any, top: dict, spec: Stack) -> dict[str, Any]:
        if raw is None:
            return {}
        return parse_readers(raw, self.f, spec.services, spec.roles, self.path.parent, where="ground_truth")

    def compose_path(self, value: str, item: dict, field: str) -> str:
        """A Compose file (or its folder) named relative to the scenario file; refused when missing."""
        p = Path(value)
        p = p if p.is_absolute() else self.path.parent / p
        if p.is_dir():
            p = p / "compose.yaml"
        if not p.is_file():
            raise self.err(f"no Compose file {value!r} (looked for {p})", item, "to", field=field,
                           fix="give the path of the other Compose file relative to the scenario, e.g. to: ../v2/compose.yaml")
        return str(p)

    def settle(self, raw: Any, top: dict, spec: Stack) -> S.Settle:
        """``settle: 2s`` or ``settle: {time: 1s, until: {http: {path: /pending, contains: ...},
        deadline: 30s}}`` (``until``: a gate — a name of ``x-drillkit.gates`` or the keys of a wait_until)."""
        line = line_of(top, "settle")
        if not isinstance(raw, dict):
            return S.Settle(self.duration(raw, top, "settle", "settle", S.MAX_SETTLE), None, line)
        m = self.mapping(raw, top, "settle", "settle", S.SETTLE_KEYS,
                         "{time: 1s, until: {http: {path: /pending, contains: '\"pending\": 0'}, deadline: 30s}}")
        seconds = self.duration(m.get("time", 0), m, "time", "settle.time", S.MAX_SETTLE)
        until = None
        if m.get("until") is not None:
            until = parse_one_gate(m["until"], self.f, line_of(m, "until"), spec, where="settle.until",
                                   name="settle")
        if not seconds and until is None:
            raise self.err("settle says neither a time nor a condition", top, "settle", field="settle",
                           fix="write settle: 2s, or settle: {until: {...}}, or drop it (the data is then read at once)")
        return S.Settle(seconds, until, line)

    def _steps(self, raw: Any, line: int | None, where: str, spec: Stack, *, in_heal: bool):
        return parse_steps(raw, self.f, line, where, spec, code_steps(spec), in_heal=in_heal,
                           base_dir=self.path.parent)

    def heal(self, item: dict, spec: Stack, where: str) -> Any:
        """``heal: start | none | <runbook name> | [steps]`` -> "start", "none" or a Runbook."""
        v, line, field = item["heal"], line_of(item, "heal"), f"{where}.heal"
        if v in ("start", "none"):
            return v
        if isinstance(v, str):
            if v not in spec.runbooks:
                raise self.err(f"heal {v!r} is neither start, none nor a runbook of {spec.name!r}", item, "heal",
                               field=field, fix=f"use start, none, a list of steps, or one of: "
                                                f"{', '.join(spec.runbooks) or '(no x-drillkit.runbooks)'}")
            return spec.runbooks[v]
        if isinstance(v, list):
            return Runbook(f"{where}.heal", self._steps(v, line, field, spec, in_heal=True), file=self.f, line=line)
        raise self.err(f"heal must be start, none, a runbook name or a list of steps, not {_kind(v)}", item, "heal",
                       field=field, fix="e.g. heal: none, or heal: [{start: {wait: true}}]")

    def runbook_entries(self, raw: Any, top: dict, spec: Stack, faults: list[FaultStep],
                        observe: float) -> list[RunbookEntry]:
        if raw is None:
            return []
        example = "- {at: 10s, run: promote-replica}  or  - {after: faults[0], steps: [...]}"
        if not isinstance(raw, list) or not raw:
            raise self.err(f"must be a non-empty list, not {_kind(raw)}", top, "runbook", field="runbook", fix=example)
        last = max((o.start for st in faults for o in st.occurrences()), default=0.0)
        out = []
        for i, e in enumerate(raw):
            where = f"runbook[{i}]"
            line = line_of(e) or line_of(raw)
            if not isinstance(e, dict):
                raise self.err(f"must be a mapping, not {_kind(e)}", field=where, line=line, fix=example)
            self.mapping(e, raw, i, where, S.RUNBOOK_ENTRY_KEYS)
            if ("at" in e) == ("after" in e):
                raise self.err("needs either `at` (in the schedule) or `after` (a fault)", field=where, line=line,
                               fix="at: 10s  or  after: faults[0]")
            if ("run" in e) == ("steps" in e):
                raise self.err("needs either `run` (a runbook's name) or `steps`", field=where, line=line,
                               fix=f"run: one of {', '.join(spec.runbooks) or '(no x-drillkit.runbooks)'}, or steps: [...]")
            at = after = None
            if "at" in e:
                at = self.duration(e["at"], e, "at", f"{where}.at")
                if at > last + observe + _EPS:
                    raise self.err(f"starts at {at:g} s, after observe ends at {last + observe:g} s", e, "at",
                                   field=f"{where}.at", fix=f"start it earlier or raise observe to ≥ {at - last:g}s")
            else:
                a = e["after"]
                m = re.fullmatch(r"faults\[(\d+)\]", a) if isinstance(a, str) else None
                idx = int(m.group(1)) if m else a if isinstance(a, int) and not isinstance(a, bool) else None
                if idx is None or not 0 <= idx < len(faults):
                    raise self.err(f"after {a!r} names no fault of this scenario", e, "after", field=f"{where}.after",
                                   fix=f"write after: faults[N] with N in 0..{len(faults) - 1}")
                after = idx
            if "run" in e:
                name = e["run"]
                if name not in spec.runbooks:
                    raise self.err(f"environment {spec.name!r} has no runbook {name!r}", e, "run",
                                   field=f"{where}.run",
                                   fix=f"use one of {', '.join(spec.runbooks) or '(none: declare x-drillkit.runbooks)'}, "
                                       "or write steps: [...]")
                rb = spec.runbooks[name]
                if rb.needs_fault:
                    raise self.err(f"runbook {name!r} acts on a fault's nodes (a step without target or "
                                   "`fault`), so it can only be a fault's heal", e, "run", field=f"{where}.run",
                                   fix=f"use it as heal: {name} of a fault, or name the targets in its steps")
            else:
                name = e.get("name", where)
                if not isinstance(name, str) or not name.strip():
                    raise self.err("name must be text", e, "name", field=f"{where}.name", fix="e.g. name: promote")
                rb = Runbook(name.strip(), self._steps(e["steps"], line_of(e, "steps"), f"{where}.steps", spec,
                                                        in_heal=False), file=self.f, line=line)
            out.append(RunbookEntry(i, rb, at=at, after=after, line=line))
        return out

    def findings(self, raw: Any, top: dict) -> Any:
        """``findings: report | fail | critical | [kinds]``: whether what nobody asked about fails the drill."""
        value = list(raw) if isinstance(raw, list) else raw
        if isinstance(value, list):
            unknown = [k for k in value if k not in FINDING_KINDS]
            if unknown or not value:
                raise self.err(f"no finding kind {unknown[0]!r}" if unknown else "must not be empty", top, "findings",
                               field="findings", fix=f"use {', '.join(FINDING_KINDS)}")
        try:
            findings_policy(value)
        except DrillkitError:
            raise self.err(f"findings: {raw!r} is not report, fail, critical or a list of finding kinds", top,
                           "findings", field="findings",
                           fix="findings: fail (critical and warning findings fail the drill)") from None
        return value

    # -- guards and expectations -----------------------------------------------------------------
    def guards(self, raw: Any, top: dict, populations: list[str]) -> list[Guard]:
        if raw is None:
            return []
        if not isinstance(raw, list):
            raise self.err(f"must be a list, not {_kind(raw)}", top, "guards", field="guards",
                           fix="- {population: existing-sessions, availability_below: 0.5, for: 5s}")
        out = []
        for i, g in enumerate(raw):
            where = f"guards[{i}]"
            if not isinstance(g, dict):
                raise self.err(f"must be a mapping, not {_kind(g)}", field=where, line=line_of(raw),
                               fix="{population: existing-sessions, availability_below: 0.5, for: 5s}")
            self.mapping(g, raw, i, where, S.GUARD_KEYS)
            for k in S.GUARD_KEYS:
                if k not in g:
                    raise self.err(f"missing `{k}`", field=f"{where}.{k}", line=line_of(g),
                                   fix="write {population: existing-sessions, availability_below: 0.5, for: 5s}")
            pop = self.population(g["population"], g, "population", f"{where}.population", populations)
            below = self.ratio(g["availability_below"], g, "availability_below", f"{where}.availability_below")
            window = self.duration(g["for"], g, "for", f"{where}.for")
            if window <= 0:
                raise self.err("must be longer than 0 s", g, "for", field=f"{where}.for", fix="e.g. for: 5s")
            out.append(Guard(pop, below, window, line_of(g)))
        return out

    def facts(self, populations: list[str], spec: Stack, faults: list[FaultStep], *,
              session_pops: list[str] = (), writers: list[str] = ()) -> VR.Facts:
        """What this scenario provides, for the verdicts' requirements (``drillkit.verdicts.table``):
        all of it from the stack contract — the kinds' own populations, sessions and writes, and the
        ground-truth readers the environment, its plug-in or the scenario declares."""
        return VR.Facts(
            stack=spec.stack, populations=tuple(populations),
            session_populations=tuple(session_pops),
            writers=tuple(writers),
            ground_truth=tuple(ground_truth_names(spec, getattr(self, "_readers", None))),
            faults=len(faults) or (1 if getattr(self, "_explore", None) is not None else 0),   # a trial has ≥ 1
            extra={"environment": spec.name, "services": tuple(spec.services),
                   "config": {n: st.services for n, st in (getattr(spec, "config", None) or {}).items()},
                   "loads": tuple(ld.label for ld in getattr(self, "_loads", ())),
                   "search": getattr(self, "_search", None) is not None})

    def expect(self, raw: Any, top: dict, populations: list[str], spec: Stack,
               faults: list[FaultStep], *, session_pops: list[str] = (), writers: list[str] = ()) -> Expectations:
        """Each key is a verdict of the verdict table: its parameters parsed with this checker's helpers,
        then its requirements asked of the scenario's facts."""
        if raw is None:
            return Expectations()
        m = self.mapping(raw, top, "expect", "expect", example="{sessions_lost: 0}")
        for k in m:
            if k not in VR.VERDICTS:
                raise self.err(f"unknown expectation {k!r}", m, k, field=f"expect.{k}",
                               fix=f"use {', '.join(VR.VERDICTS)} (docs/verdicts.md)")
        facts = self.facts(populations, spec, faults, session_pops=session_pops, writers=writers)
        items = []
        for key, value in m.items():
            if value is None:
                continue
            kind = VR.VERDICTS[key]
            params = VR.parse(kind, value, m, key, self, facts)
            problem = VR.unmet(kind, facts, params)
            if problem is not None:
                raise self.err(problem.message, m, key, field=f"expect.{key}",
                               fix=problem.fix.replace("{key}", key))
            items.append(Expectation(key, params, line_of(m, key)))
        return Expectations(tuple(items))

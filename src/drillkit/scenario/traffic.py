"""A scenario's ``users:`` and ``clients:``: kinds from the environment, or defined in place.

``users: {clerks: 20}`` or ``{clerks: {count: 20, think: 500ms}}`` starts a kind the environment
declares (``x-drillkit.users``; code-defined plug-in kinds are found by the same
:func:`drillkit.clients.kinds.lookup`). An entry with ``steps:``, ``sequence:`` or ``login:`` is a
full definition in the scenario itself (it needs a ``count``). ``clients:`` work the same way with
``x-drillkit.clients``; an entry with ``kind:`` (postgres, redis) is a full definition.

What the scenario's traffic can measure — its populations, which of them hold sessions, whether
anyone writes — is :func:`capabilities`: scenario validation and the verdict requirements read it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from drillkit.clients.declare import (
    CLIENT_KINDS,
    DEFINITION_KEYS,
    OPTION_KEYS,
    ClientSpec,
    _line,
    _Reader,
    parse_client,
    parse_user_kind,
)
from drillkit.clients.journey import UserKind
from drillkit.clients.kinds import CodeKind
from drillkit.errors import ConfigError
from drillkit.stack.kinds import kind_names, lookup

__all__ = ["Traffic", "scenario_users", "scenario_clients", "capabilities", "Capabilities"]


@dataclass(frozen=True)
class Traffic:
    """One entry of a scenario's users:/clients:: the kind (options applied) and how many."""

    name: str
    kind: Any            # UserKind | ClientSpec | CodeKind | a plug-in factory / Client class
    count: int
    section: str         # users | clients

    @property
    def populations(self) -> tuple[str, ...]:
        return tuple(getattr(self.kind, "populations", (self.name,)))

    @property
    def session_populations(self) -> tuple[str, ...]:
        return tuple(getattr(self.kind, "session_populations", ()))

    @property
    def writes(self) -> bool:
        return bool(getattr(self.kind, "writes", False))


@dataclass(frozen=True)
class Capabilities:
    populations: tuple[str, ...] = ()
    session_populations: tuple[str, ...] = ()     # populations whose users hold sessions (sessions_lost)
    writes: bool = False                          # someone writes (writes_lost needs a ledger)
    ledgers: tuple[str, ...] = ()


def capabilities(traffic: Iterable[Traffic]) -> Capabilities:
    pops: list[str] = []
    sess: list[str] = []
    ledgers: list[str] = []
    writes = False
    for t in traffic:
        pops += [p for p in t.populations if p not in pops]
        sess += [p for p in t.session_populations if p not in sess]
        writes = writes or t.writes
        kind = t.kind
        steps = getattr(kind, "steps", ()) or ()
        for w in [s.write for s in steps if getattr(s, "write", None)] + [getattr(kind, "write", None)]:
            if w is not None and w.ledger not in ledgers:
                ledgers.append(w.ledger)
        ledgers += [b for b in getattr(kind, "ledgers", ()) or () if b not in ledgers]
    return Capabilities(tuple(pops), tuple(sess), writes, tuple(ledgers))


def _options(r: _Reader, val: Any, m: dict, name: str, where: str, default_count: int | None) -> dict[str, Any]:
    if isinstance(val, dict):
        opts = r.mapping(val, m, name, where, OPTION_KEYS, "{count: 20, think: 500ms}")
    else:
        opts = {"count": val}
    out: dict[str, Any] = {}
    for k, v in opts.items():
        parent, key, fld = (opts, k, f"{where}.{k}") if isinstance(val, dict) else (m, name, where)
        if k == "count":
            out[k] = r.integer(v, parent, key, fld, 1, 500)
        elif k == "seed":
            out[k] = r.integer(v, parent, key, fld, 0, 2**31)
        elif k == "first":
            out[k] = r.integer(v, parent, key, fld, 0, 10**6)
        elif k == "think":
            out[k] = r.duration(v, parent, key, fld, 0, 60)
        else:
            out[k] = r.duration(v, parent, key, fld, 0.05, 120)
    if "count" not in out and default_count is None:
        raise r.err("missing `count`", m, name, f"{where}.count", "add count: 20 (or write the number: kind: 20)")
    return out


def _apply(kind: Any, opts: dict[str, Any]) -> tuple[Any, int | None]:
    count = opts.pop("count", None)
    if isinstance(kind, (UserKind, ClientSpec, CodeKind)):
        if count is None:
            count = kind.count
        return kind.with_options(**opts), count
    return kind, count


def scenario_users(raw: Any, top: Any, spec: Any, file: str) -> list[Traffic]:
    """The entries of ``users:``: kinds the environment offers (data or plug-in), or defined here."""
    r = _Reader(file)
    out: list[Traffic] = []
    if raw is None:
        return out
    for name, val in raw.items():
        where = f"users.{name}"
        declared = lookup(spec, str(name), "users")
        if isinstance(val, dict) and DEFINITION_KEYS & set(val):
            if declared is not None:
                raise r.err(f"user kind {name!r} is declared by the environment too", raw, name, where,
                            "use another name for the scenario's own kind, or drop its definition here")
            if spec.entrypoint is None:
                raise r.err("users need the environment's entry point", raw, name, where,
                            f"add x-drillkit.entrypoint to {spec.file}")
            kind = parse_user_kind(str(name), val, file=file, where=where, parent=raw)
            if kind.count is None:
                raise r.err("missing `count`", raw, name, f"{where}.count", "add count: 20")
            out.append(Traffic(str(name), kind, kind.count, "users"))
            continue
        if declared is None:
            have = kind_names(spec, "users")
            raise r.err(f"unknown user kind {name!r}", raw, name, where,
                        f"declare it under x-drillkit.users of {spec.file.name} (or in its plug-in) or define "
                        f"it here (steps: / "
                        f"sequence:){'; have: ' + ', '.join(have) if have else ''}")
        opts = _options(r, val, raw, str(name), where, getattr(declared, "count", None))
        kind, count = _apply(declared, opts)
        out.append(Traffic(str(name), kind, count, "users"))
    return out


def scenario_clients(raw: Any, top: Any, spec: Any, file: str) -> list[Traffic]:
    r = _Reader(file)
    out: list[Traffic] = []
    if raw is None:
        return out
    if not isinstance(raw, dict):
        raise ConfigError("must be a mapping", file=file, line=_line(top, "clients"), field="clients",
                          fix="write clients: {writers: 5}")
    for name, val in raw.items():
        where = f"clients.{name}"
        declared = lookup(spec, str(name), "clients")
        if isinstance(val, dict) and "kind" in val:
            if declared is not None:
                raise r.err(f"client {name!r} is declared by the environment too", raw, name, where,
                            "use another name, or drop its definition here")
            c = parse_client(str(name), val, file=file, where=where, parent=raw, services=spec.services,
                             roles=getattr(spec, "roles", None) or {})
            if c.count is None:
                raise r.err("missing `count`", raw, name, f"{where}.count", "add count: 5")
            out.append(Traffic(str(name), c, c.count, "clients"))
            continue
        if declared is None:
            have = kind_names(spec, "clients")
            raise r.err(f"unknown client {name!r}", raw, name, where,
                        f"declare it under x-drillkit.clients of {spec.file.name} or define it here "
                        f"(kind: {' | '.join(CLIENT_KINDS)}){'; have: ' + ', '.join(have) if have else ''}")
        opts = _options(r, val, raw, str(name), where, getattr(declared, "count", None))
        kind, count = _apply(declared, opts)
        out.append(Traffic(str(name), kind, count, "clients"))
    return out

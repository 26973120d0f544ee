"""Change faults: what operators change on purpose — a rolling upgrade, a configuration drift, a
schema migration, a cutover to a new landscape — rehearsed like any other fault, each with its undo.

They come from the incidents drillkit exists for (SCENARIOS.md): the registry failed days after a
landscape migration whose configuration had drifted (1), zero-downtime updates must carry sessions
and drafts across versions (4), a mail migration ran old and new servers and DNS names side by side (5).

Nothing here knows a stack. What is stack-specific is declared next to its Compose file:

* how a node leaves and rejoins the load balancer (``drain`` / ``undrain``), how data is copied and
  how the entry point is switched (``copy`` / ``switch`` / ``switch_back``) are **runbooks** of
  ``x-drillkit.runbooks`` (exec steps, e.g. HAProxy's runtime API ``set server app/{node} state
  drain``). ``{node}`` (``app-2``), ``{service}`` and ``{replica}`` in a runbook's steps are filled
  in for the node at hand;
* a new version is an image (``image``) or the service's own build with other build arguments
  (``build_args``); a new configuration is environment variables (``environment``), merged over the
  Compose file's;
* a migration is SQL (``statements``, ``rollback``) run with ``psql`` inside the database's container.

Every replacement goes through the lab's ``replace_replica`` (same name, aliases and zone; a new
address unless ``new_address: false``, as a new container gets under Compose and Kubernetes), so
faults, targets and clients keep working on the new node — and a load balancer that resolved its
upstreams once at start shows what it does in production. Each step is timed on the timeline as
``runbook`` records (runbook ``<kind> <fault id>``).
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from drillkit.errors import DrillkitError, FaultError, LabError
from drillkit.faults.base import Fault
from drillkit.faults.kinds import register
from drillkit.lab.compose import EnvironmentSpec, load_environment, redefined
from drillkit.lab.environment import Environment
from drillkit.lab.guard import check_blast_radius
from drillkit.lab.node import Node
from drillkit.stack.runbook import Runbook, RunbookFailed, run_runbook
from drillkit.timeline import Timeline
from drillkit.yamlsrc import DurationError, parse_duration

if TYPE_CHECKING:  # pragma: no cover
    from drillkit.stack.runbook import Runbook
    from drillkit.timeline import Timeline

__all__ = ["RollingUpgrade", "ConfigDrift", "SchemaMigration", "Cutover", "PLACEHOLDERS", "runbook_for_node",
           "ensure_variant_image"]

PLACEHOLDERS = ("{node}", "{service}", "{replica}")
ORDERS = ("ascending", "descending", "zones")


# -- attribute checks (one message, one fix: the scenario validator adds file:line and field) ---------
def _duration(kind: str, name: str, value: Any, default: float) -> float:
    if value is None:
        return default
    try:
        return parse_duration(value, maximum=86400.0)   # a change step never takes longer than a drill (24 h)
    except DurationError as exc:
        raise FaultError(f"{kind}: {name}: {exc}", fix=f"write e.g. {name}: 2s (at most 24h)") from None


def _variables(kind: str, name: str, value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not value or not all(isinstance(k, str) and k for k in value):
        raise FaultError(f"{kind}: {name} must be a mapping of variable -> value, not {value!r}",
                         fix=f"e.g. {name}: {{POOL: small}}")
    out = {}
    for k, v in value.items():
        if isinstance(v, (dict, list)) or v is None:
            raise FaultError(f"{kind}: {name}.{k} must be a plain value, not {v!r}", fix=f'e.g. {k}: "8"')
        out[k] = str(v).lower() if isinstance(v, bool) else str(v)
    return out


def _name(kind: str, attr: str, value: Any) -> str:
    if value is None or value == "":
        return ""
    if not isinstance(value, str):
        raise FaultError(f"{kind}: {attr} must be the name of a runbook, not {value!r}",
                         fix=f"e.g. {attr}: drain-node (declared under x-drillkit.runbooks)")
    return value


def _statements(kind: str, attr: str, value: Any, *, required: bool) -> tuple[str, ...]:
    if value is None and not required:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(s, str) and s.strip() for s in value):
        raise FaultError(f"{kind}: {attr} must be a list of SQL statements, not {value!r}",
                         fix=f'e.g. {attr}: ["ALTER TABLE notes ADD COLUMN tag text"]')
    return tuple(s.strip().rstrip(";") for s in value)


# -- runbooks for one node -------------------------------------------------------------------------
def _fill(value: Any, names: dict[str, str]) -> Any:
    if isinstance(value, str):
        for k, v in names.items():
            value = value.replace(k, v)
        return value
    if isinstance(value, tuple):
        return tuple(_fill(v, names) for v in value)
    if isinstance(value, list):
        return [_fill(v, names) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, names) for k, v in value.items()}
    return value


def runbook_for_node(runbook: "Runbook", node: Node) -> "Runbook":
    """The runbook with ``{node}``, ``{service}`` and ``{replica}`` filled in for ``node`` (in every
    text of its steps: commands, paths, upstreams); other braces are left as they are."""
    names = {"{node}": node.name, "{service}": node.service, "{replica}": str(node.replica)}
    steps = tuple(dataclasses.replace(s, attrs=_fill(s.attrs, names)) for s in runbook.steps)
    return dataclasses.replace(runbook, steps=steps)


def _runbook(env: Environment, kind: str, attr: str, name: str) -> "Runbook":
    books = env.spec.runbooks
    if name not in books:
        raise FaultError(f"{kind}: {attr}: environment {env.spec.name!r} has no runbook {name!r}",
                         fix=f"declare it under x-drillkit.runbooks (have: {', '.join(books) or 'none'})")
    return books[name]


class _Timed:
    """Steps of a change fault as ``runbook`` records: start/end/failed, seconds, detail."""

    def __init__(self, tl: "Timeline | None", runbook: str):
        self.tl, self.runbook = tl, runbook

    def step(self, name: str, fn, *args, **kw):
        tl = self.tl
        t = tl.now() if tl else 0.0
        if tl:
            tl.add("runbook", t=t, runbook=self.runbook, step=name, event="start", detail="")
        try:
            out = fn(*args, **kw)
        except BaseException as exc:
            if tl:
                tl.add("runbook", runbook=self.runbook, step=name, event="failed",
                       detail=" ".join(str(exc).split())[:300], seconds=round(tl.now() - t, 3))
            raise
        if tl:
            tl.add("runbook", runbook=self.runbook, step=name, event="end",
                   detail="" if out is None or not isinstance(out, str) else out[:200],
                   seconds=round(tl.now() - t, 3))
        return out


# -- images ------------------------------------------------------------------------------------------
def ensure_variant_image(env: Environment, service: str, build_args: dict[str, str]) -> str:
    """``service``'s image built with ``build_args`` over the Compose file's (the lab builds it,
    cached by content); returns the tag. Slow the first time: call it before a drill
    (``fault.prepare(env)``)."""
    try:
        return env.build_variant(service, build_args)
    except LabError as exc:
        raise FaultError(exc.message, fix=exc.fix) from None


# == replacing nodes =================================================================================
class _Replacing(Fault):
    """Nodes replaced one by one (drained first when the stack declares how), healed by replacing
    them again with what the Compose file says.

    ``drain`` and ``undrain`` are each optional: an undrain alone runs once the new node is healthy
    (e.g. reload a load balancer that resolved its upstreams at start). ``new_address``: every new
    container gets a new address, as under Compose and Kubernetes (default); ``false`` keeps the old
    one (a server upgraded in place) — a load balancer that never re-resolves its upstreams then
    hides its defect."""

    def __init__(self, target=None, *, drain: str | None = None, undrain: str | None = None,
                 drain_wait: Any = None, deadline: Any = None, new_address: bool = True, **kw):
        super().__init__(target, **kw)
        if self.target is None:
            raise FaultError(f"{self.kind} needs a target: the service (or replica) to change",
                             fix="target: {service: app} (or {service: app, replica: 2}, or [app-1, app-2])")
        if getattr(self.target, "role", None) is not None:
            raise FaultError(f"{self.kind} replaces the nodes of services, not a role's holder",
                             fix="target: {service: db} (every replica) or {service: db, replica: 1}")
        self.drain = _name(self.kind, "drain", drain)
        self.undrain = _name(self.kind, "undrain", undrain)
        self.drain_wait = _duration(self.kind, "drain_wait", drain_wait, 1.0 if self.drain else 0.0)
        if self.drain_wait and not self.drain:
            raise FaultError(f"{self.kind}: drain_wait without drain", fix="name the drain runbook, or drop drain_wait")
        self.deadline = _duration(self.kind, "deadline", deadline, 90.0)
        if self.deadline <= 0:
            raise FaultError(f"{self.kind}: deadline must be longer than 0 s", fix="e.g. deadline: 60s")
        if not isinstance(new_address, bool):
            raise FaultError(f"{self.kind}: new_address must be true or false, not {new_address!r}",
                             fix="new_address: true (a new container, a new address) or false (kept)")
        self.new_address = new_address
        self.replaced: list[Node] = []      # nodes changed so far (the heal turns these back)
        self.seconds: dict[str, float] = {}  # node -> seconds its change took
        self.addresses: dict[str, list[dict]] = {}   # node -> each replacement's addresses before/after
        self._tl: "Timeline | None" = None

    @property
    def services(self) -> tuple[str, ...]:
        """The services the target names (a list or a group: several)."""
        t = self.target
        return tuple(getattr(t, "services", None) or ((t.service,) if t.service else ()))

    # the runbooks the stack must declare (checked when a scenario is loaded)
    def runbook_attributes(self) -> dict[str, str]:
        return {a: getattr(self, a) for a in ("drain", "undrain") if getattr(self, a)}

    def check_spec(self, spec) -> tuple[str, str, str] | None:
        """(attribute, problem, fix) when the environment lacks what this fault names; else None."""
        for attr, name in self.runbook_attributes().items():
            if name not in (getattr(spec, "runbooks", {}) or {}):
                have = ", ".join(getattr(spec, "runbooks", {}) or {}) or "none"
                return attr, f"environment {spec.name!r} has no runbook {name!r}", \
                    f"declare it under x-drillkit.runbooks (have: {have})"
        return None

    def inject(self, env: Environment, tl: "Timeline") -> None:
        self._tl = tl
        for attr, name in self.runbook_attributes().items():
            _runbook(env, self.kind, attr, name)      # refuse before anything is recorded as injected
        super().inject(env, tl)

    def heal(self, env: Environment, tl: "Timeline") -> None:
        self._tl = self._tl or tl
        super().heal(env, tl)

    def _order(self, nodes: list[Node]) -> list[Node]:
        return nodes

    def _definition(self, env: Environment, node: Node):
        """The service definition a node changes to (None: the Compose file's, plus image/environment)."""
        return None

    def _replace(self, env: Environment, node: Node, *, image: str | None, environment: dict[str, str] | None,
                 what: str, record: bool, service=None) -> Node:
        timed = _Timed(self._tl, f"{self.kind} {self.fault_id}")
        t0 = time.monotonic()
        if self.drain:
            rb = runbook_for_node(_runbook(env, self.kind, "drain", self.drain), node)
            timed.step(f"{node.name} drain", self._run, env, rb)
            if self.drain_wait:
                timed.step(f"{node.name} drain-wait", time.sleep, self.drain_wait)
        before = _addresses(env, node)
        new = timed.step(f"{node.name} {what}", env.replace_replica, node, image=image, environment=environment,
                         service=service, new_address=self.new_address)
        if record:
            self.replaced.append(new)
        waited = timed.step(f"{node.name} healthy", self.wait_healthy, env, new, deadline=self.deadline)
        self.addresses.setdefault(new.name, []).append({"what": what, "before": before, "after": _addresses(env, new)})
        if self.undrain:
            rb = runbook_for_node(_runbook(env, self.kind, "undrain", self.undrain), new)
            timed.step(f"{node.name} undrain", self._run, env, rb)
        self.seconds[new.name] = round(time.monotonic() - t0, 3)
        env.progress(f"{self.kind} {self.fault_id}: {new.name} {what} in {self.seconds[new.name]:.1f} s "
                     f"(healthy after {waited:.1f} s)")
        return new

    def _run(self, env: Environment, rb: "Runbook") -> str:
        if self._tl is None:   # a fault used without a timeline: run the steps unrecorded
            res = run_runbook(env, Timeline(), rb)
        else:
            res = run_runbook(env, self._tl, rb)
        return "; ".join(d for d in res.details.values() if d)[:200]

    def _heal(self, env: Environment) -> None:
        """Back to the Compose file's definition, newest change first; a node whose change is undone
        is drained and rejoined like any other (a rollback is a deployment too: with
        ``new_address`` the old version comes back on another new address)."""
        errors = []
        for node in reversed(list(self.replaced)):
            try:
                current = env.node(node.service, node.replica)
                self._replace(env, current, image=None, environment=None, what="restore", record=False)
                self.replaced.remove(node)
            except Exception as exc:   # every node is tried; the first failure is raised
                errors.append(exc)
        if errors:
            raise errors[0]


def _addresses(env: Environment, node: Node) -> dict[str, str]:
    """The node's addresses on the run's networks, {} when it has none to show (gone, not running)."""
    try:
        return dict(env.backend.addresses(node))
    except Exception:   # noqa: BLE001 - a detail for the record, never a reason to fail the change
        return {}


def _order_names(order: Any) -> Any:
    """``order``: ascending | descending | zones, or a list of replica numbers (one service) or of
    node names (``[app-3, app-1, app-2]``, several services)."""
    if order is None:
        return "ascending"
    if isinstance(order, str) and order in ORDERS:
        return order
    if isinstance(order, list) and order and len(set(map(str, order))) == len(order) and (
            all(isinstance(r, int) and not isinstance(r, bool) and r >= 1 for r in order)
            or all(isinstance(r, str) and r for r in order)):
        return tuple(order)
    raise FaultError(f"rolling_upgrade: order must be {', '.join(ORDERS)}, a list of replica numbers or of "
                     f"node names, not {order!r}", fix="e.g. order: [3, 1, 2, 4] or order: [app-3, app-1, app-2]")


@register("rolling_upgrade")
class RollingUpgrade(_Replacing):
    """Node by node to a new version: drain at the load balancer (the stack's ``drain`` runbook, if
    any), replace the container, wait for its health check, undrain (if any), ``pace`` seconds, the
    next. The new version is ``image`` (a tag), ``build_args`` (the service's own build with other
    arguments) or ``to`` (another Compose file: each service as that file defines it — image or
    build, command, environment, health check), with ``environment`` over it. The target may name
    several services (``[app-1, app-2, app-3]``, a group): one rollout over all of their nodes.
    ``order``: ascending | descending | zones (a whole zone after the other), a list of replica
    numbers, or a list of node names. The heal (``heal: start``) rolls the Compose file's version
    back, node by node, the same way; ``heal: none`` keeps the new version."""

    def __init__(self, target=None, *, image: str | None = None, build_args: dict | None = None,
                 environment: dict | None = None, to: Any = None, order: Any = None, pace: Any = None,
                 drain: str | None = None, undrain: str | None = None, drain_wait: Any = None,
                 deadline: Any = None, new_address: bool = True, **kw):
        super().__init__(target, drain=drain, undrain=undrain, drain_wait=drain_wait, deadline=deadline,
                         new_address=new_address, **kw)
        if image is not None and (not isinstance(image, str) or not image.strip()):
            raise FaultError(f"rolling_upgrade: image must be an image tag, not {image!r}",
                             fix="e.g. image: myapp:v2")
        self.image = image or ""
        self.build_args = _variables("rolling_upgrade", "build_args", build_args)
        if self.image and self.build_args:
            raise FaultError("rolling_upgrade: image and build_args both given",
                             fix="image: a tag that exists, or build_args: the service's build with other arguments")
        self.to, self.to_spec = self._load_to(to)
        if self.to_spec is not None and (self.image or self.build_args):
            raise FaultError("rolling_upgrade: to: brings its own image or build; image/build_args given too",
                             fix="drop image/build_args, or drop to:")
        self.environment = _variables("rolling_upgrade", "environment", environment)
        if not (self.image or self.build_args or self.environment or self.to_spec is not None):
            raise FaultError("rolling_upgrade: nothing to change",
                             fix="give image:, build_args:, to: (another Compose file) and/or environment:")
        self.pace = _duration("rolling_upgrade", "pace", pace, 0.0)
        self.order = _order_names(order)
        self.new_image: str | None = self.image or None
        self.new_images: dict[str, str] = {}      # service -> the tag its new version runs (build_args, to:)

    @staticmethod
    def _load_to(to: Any):
        """``to``: a Compose file (path, or its folder) or an already loaded spec -> (path, spec)."""
        if to is None:
            return None, None
        if isinstance(to, EnvironmentSpec):
            return str(to.file), to
        if not isinstance(to, (str, Path)) or not str(to).strip():
            raise FaultError(f"rolling_upgrade: to must be the path of a Compose file, not {to!r}",
                             fix="e.g. to: ../v2/compose.yaml (relative to the scenario file)")
        try:
            spec = load_environment(to)
        except DrillkitError as exc:
            raise FaultError(f"rolling_upgrade: to: {exc.message}", fix=exc.fix or "check the path") from None
        return str(to), spec

    def check_spec(self, spec) -> tuple[str, str, str] | None:
        problem = super().check_spec(spec)
        if problem is None and self.to_spec is not None:
            missing = [s for s in self.services if s not in self.to_spec.services]
            if missing:
                return "to", f"{self.to} defines no service {missing[0]!r}", \
                    f"its services: {', '.join(self.to_spec.services)}; define {missing[0]} there"
        return problem

    def detail(self) -> dict:
        out: dict[str, Any] = {"image": self.new_image, "order": [n.name for n in self.nodes],
                               "pace": self.pace, "upgraded": [n.name for n in self.replaced],
                               "seconds": dict(self.seconds), "new_address": self.new_address,
                               "addresses": {k: v[-1] for k, v in self.addresses.items()},
                               "drain": self.drain or None, "undrain": self.undrain or None}
        if len(self.services) > 1:
            out["services"] = list(self.services)
        if self.new_images:
            out["images"] = dict(self.new_images)
        if self.to:
            out["to"] = self.to
        if self.environment:
            out["environment"] = dict(self.environment)
        if self.build_args:
            out["build_args"] = dict(self.build_args)
        return out

    def prepare(self, env: Environment) -> None:
        """Build the new version's images before the drill starts (cached by content)."""
        for service in self.services:
            if self.to_spec is not None:
                try:
                    self.new_images[service] = env.build_definition(self.to_spec.services[service])
                except LabError as exc:
                    raise FaultError(exc.message, fix=exc.fix) from None
            elif self.build_args:
                self.new_images[service] = ensure_variant_image(env, service, self.build_args)
        if self.build_args and len(set(self.new_images.values())) == 1:
            self.new_image = next(iter(self.new_images.values()))

    def _definition(self, env: Environment, node: Node):
        if self.to_spec is None:
            return None
        return redefined(env.spec.services[node.service], self.to_spec.services[node.service])

    def _order(self, nodes: list[Node]) -> list[Node]:
        rank = {s: i for i, s in enumerate(self.services)}
        key = lambda n: (rank.get(n.service, 0), n.replica)   # noqa: E731 - the target's order, then replicas
        if self.order == "ascending":
            return sorted(nodes, key=key)
        if self.order == "descending":
            return sorted(nodes, key=key, reverse=True)
        if self.order == "zones":
            first = sorted(nodes, key=key)
            zones = list(dict.fromkeys(n.zone for n in first))
            return sorted(first, key=lambda n: zones.index(n.zone))
        if all(isinstance(r, int) for r in self.order):
            if len(self.services) > 1:
                raise FaultError(f"rolling_upgrade: order {list(self.order)} gives replica numbers, but the target "
                                 f"has {len(self.services)} services", fix="list node names: order: [app-3, app-1]")
            by = {n.replica: n for n in nodes}
        else:
            by = {name: n for n in nodes for name in n.names}
        missing = [r for r in self.order if r not in by]
        if missing or len(self.order) != len(nodes):
            have = sorted(by) if all(isinstance(r, int) for r in self.order) else [n.name for n in nodes]
            raise FaultError(f"rolling_upgrade: order {list(self.order)} does not list the target's nodes "
                             f"{have}", fix="name every node of the target once")
        return [by[r] for r in self.order]

    def _inject(self, env: Environment) -> None:
        if (self.build_args or self.to_spec is not None) and not self.new_images:
            self.prepare(env)
        if self.new_image and not env.has_image(self.new_image):
            raise FaultError(f"rolling_upgrade: no image {self.new_image!r} on the engine",
                             fix="build it first (drill images, or build_args: to build the service's own)")
        self.nodes = self._order(self.nodes)
        for i, node in enumerate(self.nodes):
            if i and self.pace:
                time.sleep(self.pace)
            current = env.node(node.service, node.replica)
            image = self.image or (self.new_images.get(node.service) if self.build_args else None)
            self._replace(env, current, image=image, environment=self.environment or None, what="upgrade",
                          record=True, service=self._definition(env, current))


@register("config_drift")
class ConfigDrift(_Replacing):
    """One or all replicas started with a changed setting (``environment``: pool size, timeout, health
    interval, session store ...): each replaced by a container with those variables over the Compose
    file's. The heal starts them again with the original ones."""

    def __init__(self, target=None, *, environment: dict | None = None, drain: str | None = None,
                 undrain: str | None = None, drain_wait: Any = None, deadline: Any = None,
                 new_address: bool = True, **kw):
        super().__init__(target, drain=drain, undrain=undrain, drain_wait=drain_wait, deadline=deadline,
                         new_address=new_address, **kw)
        self.environment = _variables("config_drift", "environment", environment)
        if not self.environment:
            raise FaultError("config_drift needs environment: the settings that drift",
                             fix="e.g. environment: {DB_POOL_SIZE: \"1\"}")

    def detail(self) -> dict:
        return {"environment": dict(self.environment), "drifted": [n.name for n in self.replaced],
                "seconds": dict(self.seconds), "new_address": self.new_address,
                "addresses": {k: v[-1] for k, v in self.addresses.items()}}

    def _inject(self, env: Environment) -> None:
        rank = {s: i for i, s in enumerate(self.services)}
        for node in sorted(self.nodes, key=lambda n: (rank.get(n.service, 0), n.replica)):
            self._replace(env, env.node(node.service, node.replica), image=None, environment=self.environment,
                          what="drift", record=True)


# == schema migration ================================================================================
FAIL_MARK = "drillkit: migration failed as planned after"


@register("schema_migration")
class SchemaMigration(Fault):
    """A schema migration as SQL run with ``psql`` in the database's container (``target``).

    ``transaction: true`` (default) runs every statement in one transaction: ``hold`` keeps it open
    (its locks held) that long before it commits; ``fail_after: N`` raises an error after the Nth
    statement, so the database rolls everything back — a migration that fails halfway. With
    ``transaction: false`` each statement commits by itself and a failure leaves the first N
    applied. The heal runs ``rollback`` (the down migration) when anything was applied; a migration
    that can commit needs one (or ``heal: none``)."""

    def __init__(self, target=None, *, statements: Any = None, rollback: Any = None, hold: Any = None,
                 fail_after: int | None = None, transaction: bool = True, database: str = "postgres",
                 user: str = "postgres", host: str = "127.0.0.1", timeout: Any = None, **kw):
        super().__init__(target, **kw)
        if self.target is None:
            raise FaultError("schema_migration needs a target: the database service or role",
                             fix="target: {service: db} or target: {role: primary}")
        self.statements = _statements("schema_migration", "statements", statements, required=True)
        self.rollback = _statements("schema_migration", "rollback", rollback, required=False)
        self.hold = _duration("schema_migration", "hold", hold, 0.0)
        if fail_after is not None and (isinstance(fail_after, bool) or not isinstance(fail_after, int)
                                       or not 0 <= fail_after <= len(self.statements)):
            raise FaultError(f"schema_migration: fail_after must be 0..{len(self.statements)} (statements), "
                             f"not {fail_after!r}", fix="e.g. fail_after: 1")
        self.fail_after = fail_after
        if not isinstance(transaction, bool):
            raise FaultError("schema_migration: transaction must be true or false", fix="transaction: true")
        self.transaction = transaction
        for attr, v in (("database", database), ("user", user), ("host", host)):
            if not isinstance(v, str) or not v or any(ch in v for ch in " '\"\\;\n"):
                raise FaultError(f"schema_migration: {attr} must be a plain name, not {v!r}", fix=f"e.g. {attr}: postgres")
        self.database, self.user, self.host = database, user, host
        self.timeout = _duration("schema_migration", "timeout", timeout, 120.0 + self.hold)
        commits = self.fail_after is None or not self.transaction
        if commits and not self.rollback and self.heal_mode == "start":
            raise FaultError("schema_migration: a migration that can commit needs rollback: (its down migration)",
                             fix='add rollback: ["..."], or heal: none to keep it')
        self.outcome: str | None = None       # committed | rolled back | partly applied
        self.applied = 0                       # statements in effect after the migration
        self.seconds: float | None = None
        self.error: str | None = None
        self.rolled_back_by_heal = False

    def detail(self) -> dict:
        return {"statements": len(self.statements), "hold": self.hold, "fail_after": self.fail_after,
                "transaction": self.transaction, "outcome": self.outcome, "applied": self.applied,
                "seconds": self.seconds, "error": self.error}

    def _script(self) -> list[str]:
        """psql -c arguments: one (a transaction) or one per statement."""
        n = len(self.statements) if self.fail_after is None else self.fail_after
        body = list(self.statements[:n])
        if self.hold:
            body.append(f"SELECT pg_sleep({self.hold:.3f})")
        if self.fail_after is not None:
            body.append(f"DO $drillkit$ BEGIN RAISE EXCEPTION '{FAIL_MARK} {n} of {len(self.statements)} "
                        f"statements'; END $drillkit$")
        if self.transaction:
            return [";\n".join(["BEGIN", *body, "COMMIT"]) + ";"]
        return [s + ";" for s in body]

    def _psql(self, env: Environment, node: Node, commands: list[str]) -> tuple[int | None, str]:
        cmd = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", self.host, "-U", self.user, "-d", self.database]
        for c in commands:
            cmd += ["-c", c]
        return env.exec_bounded(node, tuple(cmd), self.timeout)

    def _inject(self, env: Environment) -> None:
        node = self.nodes[0]
        t0 = time.monotonic()
        code, out = self._psql(env, node, self._script())
        self.seconds = round(time.monotonic() - t0, 3)
        planned = self.fail_after is not None and FAIL_MARK in out
        if code == 0 and self.fail_after is None:
            self.outcome, self.applied = "committed", len(self.statements)
        elif planned:
            if self.transaction:
                self.outcome, self.applied = "rolled back", 0
            else:
                self.outcome, self.applied = "partly applied", self.fail_after
            self.error = " ".join(out.split())[:200]
        else:
            self.error = " ".join(out.split())[-300:] or f"psql exited {code}"
            raise FaultError(f"schema_migration on {node.name} failed unplanned: {self.error}",
                             fix="check the statements against the database (psql in the container)")
        env.progress(f"schema_migration {self.fault_id}: {self.outcome} in {self.seconds:.1f} s")

    def _heal(self, env: Environment) -> None:
        if not self.applied or not self.rollback:
            return
        node = self.nodes[0]
        code, out = self._psql(env, node, [";\n".join(["BEGIN", *self.rollback, "COMMIT"]) + ";"])
        if code != 0:
            raise FaultError(f"schema_migration rollback on {node.name} failed: {' '.join(out.split())[-300:]}",
                             fix="the down migration must undo the statements (run it by hand with psql)")
        self.rolled_back_by_heal = True
        self.applied = 0


# == cutover =========================================================================================
_ALIAS_KEYS = {"name", "network", "old", "new"}


@register("cutover")
class Cutover(Fault):
    """Old and new landscape side by side (services ``app``/``app-new``, ``db``/``db-new`` in one
    Compose file); the data copied (the ``copy`` runbook, optionally cut short after
    ``interrupt_copy``), then the entry point switched from old to new:

    * at the load balancer — the stack's ``switch`` runbook (e.g. HAProxy's runtime API), healed by
      its ``switch_back`` runbook;
    * or by DNS — ``alias: {name, network, old, new}``: the name moves from the old service's nodes
      to the new one's (several nodes with one name = several A records). For ``overlap`` seconds
      both answer the name (old and new in parallel); the heal moves it back.
    """

    def __init__(self, target=None, *, switch: str | None = None, switch_back: str | None = None,
                 copy: str | None = None, interrupt_copy: Any = None, alias: dict | None = None,
                 overlap: Any = None, **kw):
        super().__init__(target, **kw)
        self.switch = _name("cutover", "switch", switch)
        self.switch_back = _name("cutover", "switch_back", switch_back)
        self.copy = _name("cutover", "copy", copy)
        self.interrupt_copy = None if interrupt_copy is None else _duration("cutover", "interrupt_copy", interrupt_copy, 0)
        if self.interrupt_copy is not None and not self.copy:
            raise FaultError("cutover: interrupt_copy without copy", fix="name the copy runbook (copy: copy-data)")
        self.alias = self._check_alias(alias)
        if bool(self.switch) == bool(self.alias):
            raise FaultError("cutover needs exactly one way to switch: switch: <runbook> (load balancer) or "
                             "alias: {name, old, new} (DNS)", fix="e.g. switch: to-new, switch_back: to-old")
        if self.switch and not self.switch_back and self.heal_mode == "start":
            raise FaultError("cutover: switch without switch_back (the heal)",
                             fix="name the runbook that points the entry point back (switch_back: to-old), or heal: none")
        if self.alias is None and overlap is not None:
            raise FaultError("cutover: overlap goes with alias", fix="drop overlap, or switch by alias")
        self.overlap = _duration("cutover", "overlap", overlap, 0.0)
        self.copy_outcome: str | None = None
        self.switched = False
        self._tl: "Timeline | None" = None
        self._moved: list[tuple[Node, str]] = []   # (node, added|removed) for the heal

    @staticmethod
    def _check_alias(alias: Any) -> dict | None:
        if alias is None:
            return None
        if not isinstance(alias, dict) or set(alias) - _ALIAS_KEYS or not {"name", "old", "new"} <= set(alias) \
                or not all(isinstance(alias[k], str) and alias[k] for k in alias):
            raise FaultError(f"cutover: alias must be {{name, old, new[, network]}}, not {alias!r}",
                             fix="alias: {name: mail, old: mail-old, new: mail-new, network: dc}")
        return dict(alias)

    def describe(self) -> str:
        to = f"DNS {self.alias['name']} {self.alias['old']} -> {self.alias['new']}" if self.alias else \
            f"runbook {self.switch}"
        return f"cutover ({to})"


    def runbook_attributes(self) -> dict[str, str]:
        return {a: getattr(self, a) for a in ("switch", "switch_back", "copy") if getattr(self, a)}

    def check_spec(self, spec) -> tuple[str, str, str] | None:
        for attr, name in self.runbook_attributes().items():
            if name not in (getattr(spec, "runbooks", {}) or {}):
                have = ", ".join(getattr(spec, "runbooks", {}) or {}) or "none"
                return attr, f"environment {spec.name!r} has no runbook {name!r}", \
                    f"declare it under x-drillkit.runbooks (have: {have})"
        if self.alias:
            for k in ("old", "new"):
                if self.alias[k] not in spec.services:
                    return "alias", f"alias.{k}: no service {self.alias[k]!r} in {spec.name!r}", \
                        f"use one of {', '.join(spec.services)}"
            net = self.alias.get("network")
            if net is not None and net not in spec.networks:
                return "alias", f"alias.network: no network {net!r}", f"use one of {', '.join(spec.networks)}"
        return None

    def detail(self) -> dict:
        return {"switch": self.switch or None, "alias": self.alias, "copy": self.copy or None,
                "copy_outcome": self.copy_outcome, "interrupt_copy": self.interrupt_copy, "overlap": self.overlap}

    def inject(self, env: Environment, tl: "Timeline") -> None:
        self._tl = tl
        problem = self.check_spec(env.spec)
        if problem is not None:
            raise FaultError(f"cutover: {problem[0]}: {problem[1]}", fix=problem[2])
        if self.alias:
            self.nodes = [*env.nodes.get(self.alias["old"], []), *env.nodes.get(self.alias["new"], [])]
        else:   # the nodes the runbooks act on (the entry point): heal none leaves them to the runbook
            services = [st.attrs["target"].service for name in (self.copy, self.switch) if name
                        for st in env.spec.runbooks[name].steps
                        if st.attrs.get("target") is not None and st.attrs["target"].service]
            self.nodes = [n for s in dict.fromkeys(services) for n in env.nodes.get(s, [])]
        check_blast_radius(env, self.nodes, self.max_nodes)
        super().inject(env, tl)

    def heal(self, env: Environment, tl: "Timeline") -> None:
        self._tl = self._tl or tl
        super().heal(env, tl)

    def _runbook(self, env: Environment, name: str) -> None:
        run_runbook(env, self._tl or Timeline(), env.spec.runbooks[name])

    def _copy(self, env: Environment) -> None:
        """The copy runbook; with ``interrupt_copy`` its commands are killed (``timeout -s KILL``)
        once that much time has passed, and the steps not reached are not run: a copy cut short."""
        rb = env.spec.runbooks[self.copy]
        if self.interrupt_copy is None:
            self._runbook(env, self.copy)
            self.copy_outcome = "complete"
            return
        end = time.monotonic() + self.interrupt_copy
        done = 0
        for step in rb.steps:
            left = end - time.monotonic()
            if left <= 0:
                break
            if step.kind == "exec":
                attrs = dict(step.attrs)
                attrs["command"] = ("timeout", "-s", "KILL", f"{left:.3f}", *attrs["command"])
                step = dataclasses.replace(step, attrs=attrs)
            try:
                run_runbook(env, self._tl, Runbook(rb.name, (step,)))
            except RunbookFailed as exc:
                if "exit 137" in str(exc) or time.monotonic() >= end:
                    break       # killed by the interruption: the copy stops here
                raise FaultError(f"cutover: the copy failed before it was interrupted: {exc}",
                                 fix="run the copy runbook by hand (drill.runbook) and fix its steps") from None
            done += 1
        complete = done == len(rb.steps)
        self.copy_outcome = "complete" if complete else \
            f"interrupted after {self.interrupt_copy:g} s ({done} of {len(rb.steps)} steps done)"
        if self._tl is not None:
            self._tl.note(f"cutover {self.fault_id}: copy {self.copy_outcome}")

    def _move_alias(self, env: Environment, service: str, *, add: bool) -> None:
        net = self.alias.get("network") or next(iter(env.spec.services[service].networks))
        name = self.alias["name"]
        for node in env.nodes.get(service, []):
            if add:
                env.backend.set_network_aliases(node, net, add=(name,))
            else:
                env.backend.set_network_aliases(node, net, remove=(name,))
            self._moved.append((node, "added" if add else "removed"))

    def _inject(self, env: Environment) -> None:
        timed = _Timed(self._tl, f"cutover {self.fault_id}")
        if self.copy:
            timed.step("copy", self._copy, env)
        if self.switch:
            timed.step("switch", self._runbook, env, self.switch)
        else:
            timed.step(f"{self.alias['name']} -> {self.alias['new']}", self._move_alias, env, self.alias["new"], add=True)
            if self.overlap:
                timed.step("overlap", time.sleep, self.overlap)
            timed.step(f"{self.alias['name']} off {self.alias['old']}", self._move_alias, env, self.alias["old"],
                       add=False)
        self.switched = True

    def _heal(self, env: Environment) -> None:
        timed = _Timed(self._tl, f"cutover {self.fault_id}")
        if self.switch:
            if self.switch_back:
                timed.step("switch back", self._runbook, env, self.switch_back)
            return
        # the name back on the old nodes first, then off the new ones: never a moment without an answer
        old = {n.name for n, how in self._moved if how == "removed"}
        new = {n.name for n, how in self._moved if how == "added"}
        if old:
            timed.step(f"{self.alias['name']} -> {self.alias['old']}", self._move_alias, env, self.alias["old"], add=True)
        if new:
            timed.step(f"{self.alias['name']} off {self.alias['new']}", self._move_alias, env, self.alias["new"],
                       add=False)
        self._moved.clear()

"""Compose file -> a validated environment model (the documented subset, see docs/environments.md).

Everything is checked when the file is loaded: an unsupported key, a missing build context, a cycle
in depends_on, a port not bound to 127.0.0.1, a bad switch value — one line naming file:line, the
service and the key, with the fix. Nothing has started at that point.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from drillkit.errors import ConfigError
from drillkit.yamlsrc import MAX_BYTES, Map, Seq, line_of, load_yaml, read_text_file

__all__ = ["load_environment", "EnvironmentSpec", "ServiceSpec", "LinkSpec", "SwitchSpec", "PortSpec",
           "find_environment", "ENVIRONMENTS_DIR", "lab_variables", "link_port_variable", "LAB_KEYS",
           "MAX_SWITCH_VALUE", "MAX_INTERPOLATED", "MAX_COMPOSE_DURATION",
           "redefined", "RUNNING_FIELDS"]

ENVIRONMENTS_DIR = Path(os.environ.get("DRILLKIT_ENVIRONMENTS", "environments"))

TOP_KEYS = {"name", "version", "services", "networks", "volumes", "x-drillkit"}
SERVICE_KEYS = {"image", "build", "command", "entrypoint", "environment", "healthcheck", "depends_on",
                "networks", "deploy", "cap_add", "labels", "ports", "volumes", "tmpfs",
                "stop_grace_period", "working_dir", "user", "container_name_prefix"}
HEALTH_KEYS = {"test", "interval", "timeout", "retries", "start_period", "disable"}
DEPLOY_KEYS = {"replicas"}
BUILD_KEYS = {"context", "dockerfile", "args"}
# the keys of x-drillkit the lab reads itself; the rest of x-drillkit is the stack contract
# (drillkit.stack), which the lab carries as written (EnvironmentSpec.extensions) and never reads
LAB_KEYS = {"stack", "description", "entrypoint", "zones", "links", "switches"}
LINK_KEYS = {"name", "from", "to", "port", "listen"}
SWITCH_KEYS = {"default", "choices", "description"}
CONDITIONS = {"service_started", "service_healthy"}
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
MAX_SWITCH_VALUE = 1024                 # characters of one switch's value (an image tag, a number, a word)
MAX_INTERPOLATED = 4 * MAX_BYTES        # characters the switches' values may add to a file, in total
MAX_COMPOSE_DURATION = 86400.0          # a healthcheck's interval, timeout, start period; a stop grace period


# -- model -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PortSpec:
    container_port: int
    host_port: int | None  # None: any free port on 127.0.0.1
    protocol: str = "tcp"
    line: int | None = field(default=None, compare=False)   # of `ports:` in the Compose file


@dataclass
class ServiceSpec:
    name: str
    image: str | None
    build_context: Path | None = None
    dockerfile: str = "Dockerfile"
    build_args: dict[str, str] = field(default_factory=dict)
    command: Any = None
    entrypoint: Any = None
    environment: dict[str, str] = field(default_factory=dict)
    healthcheck: dict[str, Any] | None = None
    depends_on: dict[str, str] = field(default_factory=dict)
    networks: dict[str, list[str]] = field(default_factory=dict)
    replicas: int = 1
    cap_add: list[str] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    ports: list[PortSpec] = field(default_factory=list)
    volumes: list[tuple[str, str, str]] = field(default_factory=list)  # (volume, path, mode)
    tmpfs: list[str] = field(default_factory=list)
    stop_grace_period: float | None = None
    working_dir: str | None = None
    user: str | None = None
    zones: list[str] = field(default_factory=list)

    def zone_of(self, replica: int) -> str:
        return self.zones[(replica - 1) % len(self.zones)] if self.zones else "default"


RUNNING_FIELDS = ("image", "build_context", "dockerfile", "build_args", "command", "entrypoint", "environment",
                  "healthcheck", "stop_grace_period", "working_dir", "user", "cap_add", "labels")


def redefined(current: ServiceSpec, other: ServiceSpec) -> ServiceSpec:
    """``current`` running what ``other`` — the same service in another Compose file, e.g. the next
    release's — runs (`RUNNING_FIELDS`: image or build, command, entrypoint, environment, health
    check, grace period, working dir, user, capabilities, labels), in ``current``'s place in the lab
    (networks and aliases, ports, volumes, tmpfs, replicas, zones, dependencies)."""
    return replace(current, **{f: getattr(other, f) for f in RUNNING_FIELDS})


@dataclass(frozen=True)
class LinkSpec:
    name: str
    sources: tuple[str, ...]
    target: str
    port: int
    listen: int


@dataclass(frozen=True)
class SwitchSpec:
    name: str
    default: str
    choices: tuple[str, ...]
    description: str = ""

    @property
    def variable(self) -> str:
        return self.name.upper()


@dataclass(eq=False)
class EnvironmentSpec:
    name: str
    file: Path
    stack: str
    description: str
    services: dict[str, ServiceSpec]
    networks: list[str]
    volumes: list[str]
    links: list[LinkSpec]
    switches: dict[str, SwitchSpec]
    chosen: dict[str, str]
    entrypoint: tuple[str, int] | None
    variables: frozenset[str] = frozenset()   # every ${NAME} the file references
    extensions: dict[str, Any] = field(default_factory=dict)   # x-drillkit as written (interpolated)

    def accepts_switch(self, name: str) -> bool:
        """A declared switch, or any ``${NAME}`` the file references (``NAME`` or ``name`` for it)."""
        return name in self.switches or name in self.variables or name.upper() in self.variables

    def start_order(self) -> list[list[str]]:
        """Services grouped in levels: each level depends only on earlier ones."""
        done: set[str] = set()
        levels: list[list[str]] = []
        left = dict(self.services)
        while left:
            level = sorted(n for n, s in left.items() if set(s.depends_on) <= done)
            levels.append(level)
            done.update(level)
            for n in level:
                left.pop(n)
        return levels


# -- loading -----------------------------------------------------------------------------------
def find_environment(name_or_path: str | os.PathLike) -> Path:
    """`NAME` -> environments/NAME/compose.yaml; a path to a file or folder works too."""
    p = Path(name_or_path)
    candidates = [p, p / "compose.yaml", p / "compose.yml", ENVIRONMENTS_DIR / p / "compose.yaml",
                  ENVIRONMENTS_DIR / p / "compose.yml", ENVIRONMENTS_DIR / f"{p}.yaml"]
    for c in candidates:
        if c.is_file():
            return c
    known = sorted(d.name for d in ENVIRONMENTS_DIR.glob("*") if (d / "compose.yaml").is_file()) \
        if ENVIRONMENTS_DIR.is_dir() else []
    raise ConfigError(f"no environment {str(name_or_path)!r}", field="environment",
                      fix=f"name one of {', '.join(known) or '(none found)'} in {ENVIRONMENTS_DIR}/ "
                          "or give the path of a compose.yaml")


def load_environment(name_or_path: str | os.PathLike, switches: dict[str, str] | None = None,
                     name: str | None = None) -> EnvironmentSpec:
    path = find_environment(name_or_path)
    f = str(path)
    text = read_text_file(path, what="a Compose file")
    raw = load_yaml(text, f)
    if not isinstance(raw, dict):
        raise ConfigError("a Compose file must be a mapping with `services:`", file=f, line=1,
                          fix="start the file with `services:`")
    for key in raw:
        if key not in TOP_KEYS and not str(key).startswith("x-"):
            raise ConfigError(f"unsupported top-level key {key!r}", file=f, line=line_of(raw, key), field=key,
                              fix=f"drillkit's lab supports {', '.join(sorted(TOP_KEYS))} and x-* extensions")
    env_name = name or str(raw.get("name") or path.parent.name)
    xdk = raw.get("x-drillkit") or Map()
    if not isinstance(xdk, dict):
        raise ConfigError("x-drillkit must be a mapping", file=f, line=line_of(raw, "x-drillkit"), field="x-drillkit",
                          fix="x-drillkit: {stack: NAME, entrypoint: {service: ..., port: ...}, ...}")
    switch_specs = _switches(xdk.get("switches") or Map(), f)
    lab_vars = lab_variables(xdk.get("links"))        # the lab's own: not switches
    referenced = frozenset(_referenced(raw)) - set(lab_vars)
    chosen, variables = _choose(switch_specs, switches or {}, f, referenced)
    variables = {**lab_vars, **variables}
    raw = _interpolate(raw, variables, f)
    xdk = raw.get("x-drillkit") or Map()

    services_raw = raw.get("services")
    if not isinstance(services_raw, dict) or not services_raw:
        raise ConfigError("no services", file=f, line=line_of(raw, "services"), field="services",
                          fix="declare at least one service under `services:`")
    networks = list((raw.get("networks") or {}).keys()) or ["default"]
    volumes = list((raw.get("volumes") or {}).keys())
    services: dict[str, ServiceSpec] = {}
    for sname, sraw in services_raw.items():
        services[sname] = _service(sname, sraw, services_raw, networks, volumes, path, f)

    _check_cycles(services, services_raw, f)
    for sname, svc in services.items():   # every replica answers to <service>-<n>: one name, one service
        for r in range(1, svc.replicas + 1):
            if f"{sname}-{r}" in services:
                raise ConfigError(f"service {sname}-{r!s} has the name of replica {r} of service {sname} "
                                  f"(the lab gives that replica the DNS name {sname}-{r})", file=f,
                                  line=line_of(services_raw, f"{sname}-{r}"), field=f"services.{sname}-{r}",
                                  fix=f"rename one of them, e.g. {sname}-node-{r} or {sname}s")
    zones = xdk.get("zones") or Map()
    for sname, zl in zones.items():
        if sname not in services:
            raise ConfigError(f"zones for unknown service {sname!r}", file=f, line=line_of(zones, sname),
                              field=f"x-drillkit.zones.{sname}", fix=f"use one of {', '.join(services)}")
        if not isinstance(zl, list) or not zl or not all(isinstance(z, str) for z in zl):
            raise ConfigError("zones must be a list of zone names", file=f, line=line_of(zones, sname),
                              field=f"x-drillkit.zones.{sname}", fix="e.g. [zone-a, zone-a, zone-b, zone-b]")
        services[sname].zones = list(zl)

    links = _links(xdk.get("links") or Seq(), services, f)
    entry = None
    if xdk.get("entrypoint") is not None:
        ep = xdk["entrypoint"]
        _check_keys(ep, {"service", "port"}, f, "x-drillkit.entrypoint")
        svc, port = ep.get("service"), ep.get("port")
        if svc not in services:
            raise ConfigError(f"entrypoint service {svc!r} is not a service", file=f, line=line_of(ep, "service"),
                              field="x-drillkit.entrypoint.service", fix=f"use one of {', '.join(services)}")
        if not any(p.container_port == port for p in services[svc].ports):
            raise ConfigError(f"entrypoint port {port} is not published by {svc}", file=f,
                              line=line_of(ep, "port"), field="x-drillkit.entrypoint.port",
                              fix=f'add "{port}" under services.{svc}.ports')
        entry = (svc, int(port))
    return EnvironmentSpec(name=env_name, file=path, stack=str(xdk.get("stack") or env_name),
                           description=str(xdk.get("description") or ""), services=services,
                           networks=networks, volumes=volumes, links=links, switches=switch_specs,
                           chosen=chosen, entrypoint=entry, variables=referenced, extensions=xdk)


def link_port_variable(link: str) -> str:
    """``replication`` -> ``DRILLKIT_LINK_REPLICATION_PORT``: the port a link's sources dial."""
    return "DRILLKIT_LINK_" + re.sub(r"[^A-Za-z0-9]", "_", link).upper() + "_PORT"


def lab_variables(links: Any) -> dict[str, str]:
    """What the lab sets when it interpolates a Compose file, so that one file serves both the lab
    and plain ``docker-compose`` (where the file's defaults apply):

    * ``DRILLKIT_REPLICA_ALIASES=yes``: every replica answers to ``<service>-<n>`` (Compose has no
      such names; a load balancer can fall back to the service name, e.g. ``${...:-no}``);
    * ``DRILLKIT_LINK_<NAME>_PORT``: the port a link listens on (its ``listen``); without the lab
      there is no proxy and the default — the target's port — is a direct connection.
    """
    out = {"DRILLKIT_REPLICA_ALIASES": "yes"}
    for item in links if isinstance(links, list) else []:
        if isinstance(item, dict) and item.get("name"):
            listen = item.get("listen", item.get("port"))
            if isinstance(listen, int):
                out[link_port_variable(str(item["name"]))] = str(listen)
    return out


def _check_keys(m: Any, allowed: set[str], f: str, where: str, service: str | None = None) -> None:
    if not isinstance(m, dict):
        raise ConfigError(f"{where} must be a mapping", file=f, line=line_of(m), field=where,
                          fix="write it as `key: value` lines")
    for key in m:
        if key not in allowed and not str(key).startswith("x-"):
            who = f"service {service!r}: " if service else ""
            raise ConfigError(f"{who}unsupported key {key!r}", file=f, line=line_of(m, key),
                              field=f"{where}.{key}",
                              fix=f"supported here: {', '.join(sorted(allowed))} (see docs/environments.md)")


def _switches(raw: Any, f: str) -> dict[str, SwitchSpec]:
    out: dict[str, SwitchSpec] = {}
    _check_keys(raw, set(raw.keys()) if isinstance(raw, dict) else set(), f, "x-drillkit.switches")
    for name, spec in raw.items():
        where = f"x-drillkit.switches.{name}"
        _check_keys(spec, SWITCH_KEYS, f, where)
        choices = spec.get("choices")
        if not isinstance(choices, list) or not choices:
            raise ConfigError("a switch needs a list of choices", file=f, line=line_of(spec), field=where,
                              fix="e.g. choices: [shared, node-local]")
        default = str(spec.get("default", choices[0]))
        if default not in map(str, choices):
            raise ConfigError(f"default {default!r} is not among the choices", file=f,
                              line=line_of(spec, "default"), field=f"{where}.default",
                              fix=f"use one of {', '.join(map(str, choices))}")
        out[name] = SwitchSpec(name, default, tuple(map(str, choices)), str(spec.get("description", "")))
    return out


def _choose(specs: dict[str, SwitchSpec], wanted: dict[str, str], f: str,
            referenced: frozenset[str] = frozenset()) -> tuple[dict[str, str], dict[str, str]]:
    """The chosen value of every switch and the variables they set.

    A declared switch keeps its choices (``sessions`` sets ``${SESSIONS}``). Any other NAME is
    accepted when the file references ``${NAME}`` (or ``${NAME.upper()}``): its value is taken as
    given. Returns (chosen by switch name, values by variable name)."""
    chosen = {n: s.default for n, s in specs.items()}
    variables = {s.variable: s.default for s in specs.values()}
    by_variable = {s.variable: n for n, s in specs.items()}
    for name, value in wanted.items():
        if len(str(value)) > MAX_SWITCH_VALUE:
            raise ConfigError(f"switch {name}: its value is {len(str(value)):,} characters long "
                              f"(at most {MAX_SWITCH_VALUE:,})", file=f, field=f"x-drillkit.switches.{name}",
                              fix="give a short value (a choice, an image tag, a number)")
        name = by_variable.get(name, name)     # SESSIONS=... is the declared switch `sessions`
        if name in specs:
            if str(value) not in specs[name].choices:
                raise ConfigError(f"switch {name}={value!r} is not a choice", file=f,
                                  field=f"x-drillkit.switches.{name}",
                                  fix=f"use one of {', '.join(specs[name].choices)}")
            chosen[name] = str(value)
            variables[specs[name].variable] = str(value)
            continue
        var = name if name in referenced else name.upper() if name.upper() in referenced else None
        if var is None:
            have = [*specs, *(f"${{{v}}}" for v in sorted(referenced) if v not in variables)]
            raise ConfigError(f"unknown switch {name!r}: no declared switch and no ${{{name}}} in the file",
                              file=f, field="x-drillkit.switches",
                              fix=f"this environment has {', '.join(have) or 'no switches and no ${VAR}'}")
        chosen[name] = str(value)
        variables[var] = str(value)
    return chosen, variables


def _referenced(node: Any) -> set[str]:
    """Every variable name a ``${NAME}`` of the file refers to."""
    if isinstance(node, str):
        return {m.group(1) for m in _VAR.finditer(node) if m.group(1)}
    if isinstance(node, dict):
        return set().union(*(_referenced(v) for v in node.values())) if node else set()
    if isinstance(node, list):
        return set().union(*(_referenced(v) for v in node)) if node else set()
    return set()


_VAR = re.compile(r"\$(?:\$|\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)([^}]*))?\})")


def _interpolate(node: Any, variables: dict[str, str], f: str) -> Any:
    """The file with every ``${NAME}`` replaced. What aliases share is interpolated once and stays
    shared, and the text the values add is bounded (MAX_INTERPOLATED): a long switch value that a
    file refers to ten thousand times through an alias cannot blow the file up."""
    memo: dict[int, Any] = {}
    added = [0]

    def sub(m: re.Match) -> str:
        if m.group(0) == "$$":
            return "$"
        var, op, default = m.group(1), m.group(2), m.group(3)
        value = variables.get(var, os.environ.get(var))
        if value is None or (op == ":-" and value == ""):
            return default if default is not None else ""
        return value

    def walk(n: Any) -> Any:
        key = id(n)
        if key in memo:
            return memo[key]
        if isinstance(n, str):
            out: Any = _VAR.sub(sub, n) if "$" in n else n
            added[0] += max(0, len(out) - len(n))
            if added[0] > MAX_INTERPOLATED:
                raise ConfigError(f"the switches' values would make the file more than {MAX_INTERPOLATED:,} "
                                  "characters larger once interpolated", file=f, field="x-drillkit.switches",
                                  fix="give shorter values, or refer to them fewer times")
        elif isinstance(n, Map):
            out = Map()
            memo[key] = out
            out.update((k, walk(v)) for k, v in n.items())
            out.line, out.key_lines = n.line, n.key_lines
        elif isinstance(n, Seq):
            out = Seq()
            memo[key] = out
            out.extend(walk(v) for v in n)
            out.line = n.line
        else:
            out = n
        memo[key] = out
        return out

    return walk(node)


def _duration(value: Any, f: str, line: int | None, fieldname: str) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        total = float(value)
    else:
        m = re.fullmatch(r"\s*((?:\d+(?:\.\d+)?(?:h|m|s|ms|us))+)\s*", str(value)) if len(str(value)) < 100 else None
        if not m:
            raise ConfigError(f"not a duration: {str(value)[:40]!r}", file=f, line=line, field=fieldname,
                              fix="write e.g. 500ms, 2s, 1m30s")
        total = 0.0
        for num, unit in re.findall(r"(\d+(?:\.\d+)?)(h|ms|us|m|s)", m.group(1)):
            total += float(num) * {"h": 3600, "m": 60, "s": 1, "ms": 1e-3, "us": 1e-6}[unit]
    if not 0 <= total <= MAX_COMPOSE_DURATION:   # also NaN and infinity: Docker counts in int64 nanoseconds
        raise ConfigError(f"duration {str(value)[:40]!r} is not 0..24h", file=f, line=line, field=fieldname,
                          fix="write e.g. 500ms, 2s, 1m30s (at most 24h)")
    return total


def _kv(raw: Any, f: str, where: str) -> dict[str, str]:
    if raw is None:
        return {}
    if isinstance(raw, dict):
        return {str(k): "" if v is None else str(v) for k, v in raw.items()}
    if isinstance(raw, list):
        out = {}
        for item in raw:
            k, _, v = str(item).partition("=")
            out[k] = v
        return out
    raise ConfigError(f"{where} must be a mapping or a list of KEY=VALUE", file=f, line=line_of(raw),
                      field=where, fix="write `KEY: value` lines")


def _service(name: str, raw: Any, all_services: dict, networks: list[str], volumes: list[str],
             path: Path, f: str) -> ServiceSpec:
    where = f"services.{name}"
    if not NAME_RE.match(str(name)) or len(str(name)) < 2:
        raise ConfigError(f"service name {name!r} is not usable", file=f, line=line_of(all_services, name),
                          field=where, fix="use two or more lower-case letters, digits, - or _")
    _check_keys(raw, SERVICE_KEYS, f, where, service=name)
    s = ServiceSpec(name=name, image=raw.get("image"))
    build = raw.get("build")
    if build is not None:
        if isinstance(build, str):
            build = {"context": build}
        _check_keys(build, BUILD_KEYS, f, f"{where}.build", service=name)
        ctx = (path.parent / str(build.get("context", "."))).resolve()
        if not ctx.is_dir():
            raise ConfigError(f"service {name!r}: build context {build.get('context')!r} does not exist",
                              file=f, line=line_of(raw, "build"), field=f"{where}.build",
                              fix=f"create {ctx} or correct the path (relative to the compose file)")
        s.build_context = ctx
        s.dockerfile = str(build.get("dockerfile", "Dockerfile"))
        if not (ctx / s.dockerfile).is_file():
            raise ConfigError(f"service {name!r}: no {s.dockerfile} in build context", file=f,
                              line=line_of(raw, "build"), field=f"{where}.build.dockerfile",
                              fix=f"add {ctx / s.dockerfile} or name the right dockerfile")
        s.build_args = _kv(build.get("args"), f, f"{where}.build.args")
        if not s.image:
            s.image = f"drillkit/{path.parent.name}-{name}:dev"
    if not s.image:
        raise ConfigError(f"service {name!r} has neither image nor build", file=f, line=line_of(raw),
                          field=where, fix="add `image:` or `build:`")
    s.command = raw.get("command")
    s.entrypoint = raw.get("entrypoint")
    s.environment = _kv(raw.get("environment"), f, f"{where}.environment")
    hc = raw.get("healthcheck")
    if hc is not None:
        _check_keys(hc, HEALTH_KEYS, f, f"{where}.healthcheck", service=name)
        if not hc.get("disable"):
            test = hc.get("test")
            if isinstance(test, str):
                test = ["CMD-SHELL", test]
            if not isinstance(test, list) or not test:
                raise ConfigError(f"service {name!r}: healthcheck needs a test", file=f, line=line_of(hc),
                                  field=f"{where}.healthcheck.test", fix='e.g. test: ["CMD", "pg_isready"]')
            s.healthcheck = {
                "test": [str(t) for t in test],
                "interval": _duration(hc.get("interval", "1s"), f, line_of(hc, "interval"), f"{where}.healthcheck.interval"),
                "timeout": _duration(hc.get("timeout", "2s"), f, line_of(hc, "timeout"), f"{where}.healthcheck.timeout"),
                "retries": int(hc.get("retries", 3)),
                "start_period": _duration(hc.get("start_period", 0), f, line_of(hc, "start_period"),
                                          f"{where}.healthcheck.start_period"),
            }
    dep = raw.get("depends_on") or []
    if isinstance(dep, list):
        s.depends_on = {str(d): "service_started" for d in dep}
    elif isinstance(dep, dict):
        for d, cond in dep.items():
            c = (cond or {}).get("condition", "service_started") if isinstance(cond, dict) else "service_started"
            if c not in CONDITIONS:
                raise ConfigError(f"service {name!r}: condition {c!r} is not supported", file=f,
                                  line=line_of(dep, d), field=f"{where}.depends_on.{d}.condition",
                                  fix="use service_started or service_healthy")
            s.depends_on[str(d)] = c
    for d in s.depends_on:
        if d not in all_services:
            raise ConfigError(f"service {name!r} depends on unknown service {d!r}", file=f,
                              line=line_of(raw, "depends_on"), field=f"{where}.depends_on",
                              fix=f"use one of {', '.join(all_services)}")
        if s.depends_on[d] == "service_healthy" and not (all_services[d] or {}).get("healthcheck"):
            raise ConfigError(f"service {name!r} waits for {d!r} to be healthy, but {d!r} has no healthcheck",
                              file=f, line=line_of(raw, "depends_on"), field=f"{where}.depends_on.{d}",
                              fix=f"add a healthcheck to {d} or use condition: service_started")
    nets = raw.get("networks")
    if nets is None:
        s.networks = {networks[0]: []}
    elif isinstance(nets, list):
        s.networks = {str(n): [] for n in nets}
    else:
        for n, cfg in nets.items():
            if cfg is not None:
                _check_keys(cfg, {"aliases"}, f, f"{where}.networks.{n}", service=name)
            s.networks[str(n)] = [str(a) for a in ((cfg or {}).get("aliases") or [])]
    for n in s.networks:
        if n not in networks:
            raise ConfigError(f"service {name!r} joins undeclared network {n!r}", file=f,
                              line=line_of(raw, "networks"), field=f"{where}.networks",
                              fix=f"declare it under top-level `networks:` (have: {', '.join(networks)})")
    deploy = raw.get("deploy")
    if deploy is not None:
        _check_keys(deploy, DEPLOY_KEYS, f, f"{where}.deploy", service=name)
        reps = deploy.get("replicas", 1)
        if not isinstance(reps, int) or not 1 <= reps <= 50:
            raise ConfigError(f"service {name!r}: replicas must be 1..50, got {reps!r}", file=f,
                              line=line_of(deploy, "replicas"), field=f"{where}.deploy.replicas",
                              fix="give a whole number between 1 and 50")
        s.replicas = reps
    s.cap_add = [str(c) for c in (raw.get("cap_add") or [])]
    s.labels = _kv(raw.get("labels"), f, f"{where}.labels")
    for k in s.labels:
        if k.startswith("drillkit."):
            raise ConfigError(f"service {name!r}: label {k!r} is drillkit's own", file=f,
                              line=line_of(raw, "labels"), field=f"{where}.labels.{k}",
                              fix="remove it; the lab sets drillkit.* labels itself")
    for p in raw.get("ports") or []:
        s.ports.append(_port(p, name, s.replicas, f, line_of(raw, "ports"), f"{where}.ports"))
    for v in raw.get("volumes") or []:
        s.volumes.append(_volume(v, name, volumes, f, line_of(raw, "volumes"), f"{where}.volumes"))
    tmpfs = raw.get("tmpfs") or []
    s.tmpfs = [tmpfs] if isinstance(tmpfs, str) else [str(t) for t in tmpfs]
    if raw.get("stop_grace_period") is not None:
        s.stop_grace_period = _duration(raw["stop_grace_period"], f, line_of(raw, "stop_grace_period"),
                                        f"{where}.stop_grace_period")
    s.working_dir = raw.get("working_dir")
    s.user = raw.get("user")
    return s


def _port(p: Any, service: str, replicas: int, f: str, line: int | None, where: str) -> PortSpec:
    text = str(p)
    proto = "tcp"
    if "/" in text:
        text, proto = text.split("/", 1)
    parts = text.rsplit(":", 2) if text.count(":") >= 2 else text.split(":")
    fix = f'write "127.0.0.1:{parts[-2] if len(parts) > 1 else "HOST"}:{parts[-1]}" or just "{parts[-1]}"'
    try:
        if len(parts) == 1:
            return PortSpec(int(parts[0]), None, proto, line=line)
        if len(parts) == 3 and parts[0] == "127.0.0.1":
            host = int(parts[1]) if parts[1] else None
            if host is not None and replicas > 1:
                raise ConfigError(f"service {service!r}: fixed host port {host} with {replicas} replicas",
                                  file=f, line=line, field=where,
                                  fix=f'publish "{parts[2]}" and let the lab pick free ports')
            return PortSpec(int(parts[2]), host, proto, line=line)
    except ValueError:
        raise ConfigError(f"service {service!r}: port {p!r} is not a number", file=f, line=line,
                          field=where, fix=fix) from None
    raise ConfigError(f"service {service!r}: port {p!r} is not bound to 127.0.0.1", file=f, line=line,
                      field=where, fix=fix)


def _volume(v: Any, service: str, declared: list[str], f: str, line: int | None, where: str):
    if isinstance(v, dict):
        raise ConfigError(f"service {service!r}: long volume syntax is not supported", file=f, line=line,
                          field=where, fix='write "name:/path" with a named volume')
    parts = str(v).split(":")
    if len(parts) < 2 or parts[0].startswith((".", "/", "~")):
        raise ConfigError(f"service {service!r}: volume {v!r} is a bind mount or anonymous", file=f, line=line,
                          field=where, fix='use a named volume ("data:/var/lib/x") declared under `volumes:`, or tmpfs')
    if parts[0] not in declared:
        raise ConfigError(f"service {service!r}: volume {parts[0]!r} is not declared", file=f, line=line,
                          field=where, fix=f"declare it under top-level `volumes:`")
    return parts[0], parts[1], parts[2] if len(parts) > 2 else "rw"


def _check_cycles(services: dict[str, ServiceSpec], raw: dict, f: str) -> None:
    state: dict[str, int] = {}

    def visit(n: str, stack: list[str]) -> None:
        if state.get(n) == 2:
            return
        if state.get(n) == 1:
            cyc = stack[stack.index(n):] + [n]
            raise ConfigError(f"depends_on cycle: {' -> '.join(cyc)}", file=f,
                              line=line_of(raw[n], "depends_on"), field=f"services.{n}.depends_on",
                              fix="remove one of these dependencies")
        state[n] = 1
        for d in services[n].depends_on:
            visit(d, stack + [n])
        state[n] = 2

    for n in services:
        visit(n, [])


def _links(raw: Any, services: dict[str, ServiceSpec], f: str) -> list[LinkSpec]:
    if not isinstance(raw, list):
        raise ConfigError("links must be a list", file=f, line=line_of(raw), field="x-drillkit.links",
                          fix="- {name: app-db, from: [app], to: db, port: 5432}")
    out: list[LinkSpec] = []
    listens: dict[int, str] = {}
    for i, item in enumerate(raw):
        where = f"x-drillkit.links[{i}]"
        _check_keys(item, LINK_KEYS, f, where)
        name, src, to, port = item.get("name"), item.get("from"), item.get("to"), item.get("port")
        if not name or not NAME_RE.match(str(name)):
            raise ConfigError("a link needs a name", file=f, line=line_of(item), field=f"{where}.name",
                              fix="name: app-db")
        src = [src] if isinstance(src, str) else list(src or [])
        for s in src + [to]:
            if s not in services:
                raise ConfigError(f"link {name!r} names unknown service {s!r}", file=f, line=line_of(item),
                                  field=where, fix=f"use one of {', '.join(services)}")
        if not isinstance(port, int):
            raise ConfigError(f"link {name!r} needs the target port", file=f, line=line_of(item),
                              field=f"{where}.port", fix="port: 5432")
        listen = int(item.get("listen", port))
        if listen in listens:
            raise ConfigError(f"links {listens[listen]!r} and {name!r} both listen on {listen}", file=f,
                              line=line_of(item), field=f"{where}.listen", fix="give one of them another `listen:`")
        listens[listen] = name
        out.append(LinkSpec(str(name), tuple(src), to, port, listen))
    return out

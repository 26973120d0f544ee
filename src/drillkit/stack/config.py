"""The effective configuration inside the containers, read with testinfra — what the
``config_parity`` verdict compares: the old landscape against the new one before a cutover, a service
before and after a change.

The 11 April 2019 outage (SCENARIOS.md, incident 1) came after a migration whose configuration "was
carried over and tested"; a drifted pool size only showed under the morning load, days later. What
the containers *run with* is read, not what the Compose file intends. Settings are data in the
environment's ``x-drillkit.config`` (or a scenario's ``config:``), one way of reading each::

    x-drillkit:
      config:
        pool size:      {env: DB_POOL_SIZE, services: [app, app-new]}
        session store:  {env: SESSIONS}
        check interval: {file: /etc/haproxy/haproxy.cfg, match: 'inter (\\S+)', services: [lb]}
        synchronous_commit:
          command: psql -h 127.0.0.1 -U postgres -Atc 'SHOW synchronous_commit'
          services: [db, db-new]
        postgres:       {package: postgresql-15, services: [db, db-new]}
        somaxconn:      {sysctl: net.core.somaxconn}

``env`` (a variable of the container's environment), ``file`` (its content), ``command`` (its
output, run by ``/bin/sh -c``; ``user`` to run as), ``package`` (the installed version, dpkg/rpm as
testinfra finds it), ``sysctl`` (a kernel parameter as the container sees it); ``match``: a regular
expression whose first group (or whole match) is the value; ``services``: where the setting applies
(default: every service). Each node is read through testinfra's docker backend (``docker://NAME``,
``docker exec``), only nodes labelled with the current run.

A reading is a ``config`` record on the timeline: ``moment`` (``before``: at the end of the steady
state, before the first fault; ``after``: once every fault is injected; or a drill's own label), ``service``,
``node``, ``settings`` ({name: value}) and ``errors`` ({name: why it could not be read}).
"""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from drillkit.errors import ConfigError, FaultError
from drillkit.lab.guard import check_blast_radius
from drillkit.yamlsrc import line_of

if TYPE_CHECKING:  # pragma: no cover
    from drillkit.lab.environment import Environment, Node
    from drillkit.timeline import Timeline

__all__ = ["Setting", "Reading", "SOURCES", "parse_settings", "read_node", "read_settings", "snapshot",
           "record", "settings_for"]

SOURCES = ("env", "file", "command", "package", "sysctl")
_KEYS = {*SOURCES, "match", "services", "user"}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.:/-]{0,63}$")
MAX_VALUE = 200                 # characters of a value kept on the timeline


@dataclass(frozen=True)
class Setting:
    """One setting and how to read it."""

    name: str
    source: str                           # env | file | command | package | sysctl
    what: str                             # the variable, path, command, package or parameter
    match: re.Pattern | None = None
    services: tuple[str, ...] | None = None   # None: every service
    user: str | None = None
    line: int | None = None

    def applies_to(self, service: str) -> bool:
        return self.services is None or service in self.services

    def describe(self) -> str:
        return f"{self.source} {self.what}" + (f" ~ /{self.match.pattern}/" if self.match else "")


@dataclass
class Reading:
    """What one node runs with: values by setting, and why a setting could not be read."""

    node: str
    service: str
    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0


# -- declaring ------------------------------------------------------------------------------------------
def parse_settings(raw: Any, f: str, services: dict, *, where: str = "x-drillkit.config") -> dict[str, Setting]:
    """``config: {name: {env|file|command|package|sysctl: ..., match, services, user}}`` -> settings;
    a one-line ConfigError with file:line, field and fix on any problem."""
    if raw is None:
        return {}
    if not isinstance(raw, dict) or not raw:
        raise ConfigError("config must be a mapping of setting name -> how to read it", file=f, line=line_of(raw),
                          field=where, fix="config: {pool size: {env: DB_POOL_SIZE}}")
    out: dict[str, Setting] = {}
    for name, body in raw.items():
        fld, line = f"{where}.{name}", line_of(raw, name)
        if not isinstance(name, str) or not _NAME.match(name):
            raise ConfigError(f"setting name {name!r} is not usable", file=f, line=line, field=fld,
                              fix="letters, digits, spaces and _.:/- (e.g. pool size)")
        if not isinstance(body, dict):
            raise ConfigError(f"must be a mapping, not {type(body).__name__}", file=f, line=line, field=fld,
                              fix="e.g. {env: DB_POOL_SIZE} or {file: /etc/app.conf, match: 'pool=(\\d+)'}")
        unknown = [k for k in body if k not in _KEYS]
        if unknown:
            raise ConfigError(f"unknown key {unknown[0]!r}", file=f, line=line_of(body, unknown[0]),
                              field=f"{fld}.{unknown[0]}", fix=f"use one of {', '.join(sorted(_KEYS))}")
        sources = [k for k in SOURCES if k in body]
        if len(sources) != 1:
            raise ConfigError(f"a setting is read one way, not {len(sources)} ({', '.join(sources) or 'none'})",
                              file=f, line=line, field=fld, fix=f"give exactly one of {', '.join(SOURCES)}")
        source = sources[0]
        what = body[source]
        if not isinstance(what, str) or not what.strip() or "\n" in what and source != "command":
            raise ConfigError(f"{source} must be text, not {what!r}", file=f, line=line_of(body, source),
                              field=f"{fld}.{source}", fix=f"e.g. {source}: {_EXAMPLE[source]}")
        if source == "file" and not what.startswith("/"):
            raise ConfigError(f"file {what!r} is not an absolute path", file=f, line=line_of(body, source),
                              field=f"{fld}.file", fix="e.g. file: /etc/haproxy/haproxy.cfg")
        if source in ("env", "package", "sysctl") and not re.fullmatch(r"[A-Za-z0-9_.+:-]+", what):
            raise ConfigError(f"{source} {what!r} is not a plain name", file=f, line=line_of(body, source),
                              field=f"{fld}.{source}", fix=f"e.g. {source}: {_EXAMPLE[source]}")
        match = None
        if "match" in body:
            try:
                match = re.compile(str(body["match"]), re.M)
            except re.error as exc:
                raise ConfigError(f"match is not a regular expression: {exc}", file=f, line=line_of(body, "match"),
                                  field=f"{fld}.match", fix="e.g. match: 'inter (\\S+)'") from None
        svcs = body.get("services")
        if svcs is not None:
            if isinstance(svcs, str):
                svcs = [svcs]
            if not isinstance(svcs, list) or not svcs or not all(isinstance(s, str) for s in svcs):
                raise ConfigError("services must be a list of service names", file=f, line=line_of(body, "services"),
                                  field=f"{fld}.services", fix="e.g. services: [app, app-new]")
            bad = [s for s in svcs if s not in services]
            if bad:
                raise ConfigError(f"no service {bad[0]!r} in this environment", file=f,
                                  line=line_of(body, "services"), field=f"{fld}.services",
                                  fix=f"use {', '.join(services)}")
            svcs = tuple(svcs)
        user = body.get("user")
        if user is not None and (source != "command" or not isinstance(user, str) or not user):
            raise ConfigError("user goes with command (a user name)", file=f, line=line_of(body, "user"),
                              field=f"{fld}.user", fix="e.g. user: postgres")
        out[name] = Setting(name, source, what.strip(), match, svcs, user, line)
    return out


_EXAMPLE = {"env": "DB_POOL_SIZE", "file": "/etc/haproxy/haproxy.cfg", "command": "'postgres -V'",
            "package": "haproxy", "sysctl": "net.core.somaxconn"}


def settings_for(env_or_spec: Any, names: tuple[str, ...] | list[str] | None = None) -> dict[str, Setting]:
    """The declared settings (``x-drillkit.config``), all or those named."""
    spec = getattr(env_or_spec, "spec", env_or_spec)
    declared: dict[str, Setting] = getattr(spec, "config", None) or {}
    if names is None:
        return dict(declared)
    missing = [n for n in names if n not in declared]
    if missing:
        raise ConfigError(f"no setting {missing[0]!r} in x-drillkit.config of {spec.name!r}",
                          field="config_parity.settings",
                          fix=f"declare it, or use one of {', '.join(declared) or '(none declared)'}")
    return {n: declared[n] for n in names}


# -- reading ------------------------------------------------------------------------------------------
def _host(node: "Node", user: str | None = None):
    import testinfra  # deferred: testinfra, only when settings are read inside nodes
    spec = f"docker://{user + '@' if user else ''}{node.container_name}"
    return testinfra.get_host(spec)


def _value(text: str, setting: Setting) -> str:
    text = text.strip()
    if setting.match is not None:
        m = setting.match.search(text)
        if m is None:
            raise ValueError(f"/{setting.match.pattern}/ does not match")
        text = (m.group(1) if m.groups() else m.group(0)).strip()
    return text[:MAX_VALUE]


def _read_one(host, setting: Setting, node: "Node") -> str:
    if setting.source == "env":
        environment = host.environment()
        if setting.what not in environment:
            raise ValueError(f"variable {setting.what} not set")
        return _value(environment[setting.what], setting)
    if setting.source == "file":
        f = host.file(setting.what)
        if not f.exists:
            raise ValueError(f"no file {setting.what}")
        return _value(f.content_string, setting)
    if setting.source == "command":
        cmd = _host(node, setting.user).run(setting.what) if setting.user else host.run(setting.what)
        if cmd.rc != 0:
            raise ValueError(f"exit {cmd.rc}: {' '.join((cmd.stderr or cmd.stdout).split())[:120]}")
        return _value(cmd.stdout, setting)
    if setting.source == "package":
        pkg = host.package(setting.what)
        if not pkg.is_installed:
            raise ValueError(f"package {setting.what} not installed")
        return _value(str(pkg.version), setting)
    if setting.source == "sysctl":
        return _value(str(host.sysctl(setting.what)), setting)
    raise ValueError(f"unknown source {setting.source}")  # pragma: no cover - parse_settings refuses it


def read_node(env: "Environment", node: "Node", settings: dict[str, Setting]) -> Reading:
    """Every setting that applies to the node's service, read inside it with testinfra. Refuses a
    node that does not carry the current run's label (faults' blast-radius rule)."""
    check_blast_radius(env, [node])
    reading = Reading(node.name, node.service)
    t0 = time.monotonic()
    host = _host(node)
    for name, setting in settings.items():
        if not setting.applies_to(node.service):
            continue
        try:
            reading.values[name] = _read_one(host, setting, node)
        except Exception as exc:   # the setting could not be read on this node: say why, keep going
            why = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            reading.errors[name] = why[:160]
    reading.seconds = round(time.monotonic() - t0, 3)
    return reading


def read_settings(env: "Environment", services: list[str] | tuple[str, ...],
                  settings: dict[str, Setting] | None = None) -> list[Reading]:
    """Readings of every running node of ``services`` (in service, replica order)."""
    settings = settings_for(env) if settings is None else settings
    if not settings:
        raise FaultError(f"environment {env.spec.name!r} declares no config settings to read",
                         fix="declare them under x-drillkit.config (docs/environments.md)")
    nodes = [n for s in dict.fromkeys(services) for n in env.nodes.get(s, []) if env.is_running(n)]
    with ThreadPoolExecutor(max_workers=max(1, min(8, len(nodes)))) as pool:
        return list(pool.map(lambda n: read_node(env, n, settings), nodes))


def record(tl: "Timeline", moment: str, readings: list[Reading]) -> None:
    for r in readings:
        tl.add("config", moment=moment, service=r.service, node=r.node, settings=dict(r.values),
               errors=dict(r.errors), seconds=r.seconds)


def snapshot(env: "Environment", tl: "Timeline", services: list[str] | tuple[str, ...], *, moment: str,
             names: list[str] | tuple[str, ...] | None = None) -> list[Reading]:
    """Read the settings on every running node of ``services`` now and record them as ``moment``."""
    readings = read_settings(env, services, settings_for(env, names))
    record(tl, moment, readings)
    return readings

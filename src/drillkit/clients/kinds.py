"""From a kind (a data definition, a code-defined kind, or a Client class / factory) to a pool.

A stack plug-in defines kinds in code with :class:`CodeKind`: how to make one user, and what its
users measure (populations, sessions, ledgers) — what a data kind says about itself, so that
scenario validation and the verdicts' requirements treat both alike. Kinds are found *by name* one
floor up, in the stack's contract (`drillkit.stack.kinds`).
"""

from __future__ import annotations

import dataclasses
import inspect
from dataclasses import dataclass, field
from typing import Any, Callable

from drillkit.clients.contract import Client
from drillkit.clients.declare import ClientSpec
from drillkit.clients.journey import HttpJourney, UserKind
from drillkit.clients.pool import ClientPool
from drillkit.errors import ConfigError

__all__ = ["pool_of", "factory_for", "CodeKind", "KIND_OPTIONS"]

KIND_OPTIONS = ("timeout", "first")   # options that change a kind itself (the rest: the pool's)


@dataclass(frozen=True)
class CodeKind:
    """A user kind defined in code, e.g. by a stack plug-in (``StackPlugin(users={"form-clerks":
    CodeKind(...)})``).

    ``make(i, **options)`` returns the client of user ``i`` (0-based in its pool); ``options`` are
    what a drill or scenario chose of :data:`KIND_OPTIONS` (``timeout``, ``first``). The rest says
    what the kind's users measure, as a data kind says it about itself: ``populations`` of their
    requests, ``session_populations`` (users holding a session the service may refuse: the
    ``sessions_lost`` verdict), ``ledgers`` their acknowledged writes go to (``writes`` by default);
    ``think``, ``seed`` and ``count`` are the pool's defaults.
    """

    make: Callable[..., Client]
    populations: tuple[str, ...] = ()
    session_populations: tuple[str, ...] = ()
    ledgers: tuple[str, ...] = ()
    think: float = 0.2
    seed: int = 0
    count: int | None = None
    name: str = ""
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def writes(self) -> bool:
        return bool(self.ledgers)

    def client(self, i: int) -> Client:
        return self.make(i, **self.options)

    __call__ = client

    def with_options(self, **opts: Any) -> "CodeKind":
        """A copy with a drill's or scenario's options: ``timeout``/``first`` go to ``make``,
        ``think``/``seed``/``count`` replace the defaults."""
        own = {k: opts[k] for k in KIND_OPTIONS if opts.get(k) is not None}
        rest = {k: v for k, v in opts.items() if k not in KIND_OPTIONS and v is not None}
        return dataclasses.replace(self, options={**self.options, **own}, **rest)


def factory_for(kind: Any, *, name: str = "") -> tuple[Callable[[int], Client], dict[str, Any]]:
    """``make_client(i)`` for a kind, and the kind's own pool defaults (think, seed, count)."""
    if isinstance(kind, UserKind):
        return (lambda i: HttpJourney(kind, kind.client_name(i), i)), \
            {"think": kind.think, "seed": kind.seed, "count": kind.count, "name": kind.name}
    if isinstance(kind, ClientSpec):
        return kind.make, {"think": kind.think, "seed": kind.seed, "count": kind.count, "name": kind.name}
    if isinstance(kind, CodeKind):
        return kind.client, {"think": kind.think, "seed": kind.seed, "count": kind.count,
                             "name": kind.name or name or "users"}
    if inspect.isclass(kind) and issubclass(kind, Client):
        label = name or kind.__name__.lower()
        return (lambda i: kind()), {"name": label}
    if callable(kind):
        return kind, {"name": name or getattr(kind, "__name__", "clients")}
    raise ConfigError(f"{kind!r} is not a user or client kind", field="kind",
                      fix="pass a kind's name, a UserKind/ClientSpec/CodeKind, a Client subclass or a factory(i) -> Client")


def pool_of(kind: Any, count: int | None, *, timeline: Any, env: Any = None, section: str = "users",
            name: str = "", label: str = "", **opts: Any) -> ClientPool:
    """A (not yet started) pool of ``count`` clients of ``kind`` (a kind object, not a name); the
    pool is called ``label`` when given (a drill's ``name=``), else after its kind."""
    kind_opts = {k: opts.pop(k) for k in KIND_OPTIONS if opts.get(k) is not None}
    if kind_opts:
        if not hasattr(kind, "with_options"):
            raise ConfigError(f"{', '.join(kind_opts)} apply to kinds declared as data or as a CodeKind only",
                              field=section,
                              fix="pass them to your Client class yourself")
        kind = kind.with_options(**kind_opts)
    make, defaults = factory_for(kind, name=name)
    count = count if count is not None else defaults.get("count")
    if count is None:
        raise ConfigError(f"how many {defaults['name']}?", field=f"{section}.count", fix="give a count")
    pool_opts = {"think": defaults.get("think", 0.2), "seed": defaults.get("seed", 0),
                 "name": label or defaults["name"]}
    pool_opts.update({k: v for k, v in opts.items() if v is not None})
    base_url = pool_opts.pop("base_url", None)
    return ClientPool(make, count, timeline=timeline, env=env, base_url=base_url, **pool_opts)

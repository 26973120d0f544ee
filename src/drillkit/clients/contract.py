"""The client contract (Jepsen's ``client.clj``): ``open`` / ``invoke`` / ``close``.

drillkit never knows an endpoint, a token or a table. A client does: it opens its connection,
turns one :class:`Op` into a request of its protocol and says what came back as an :class:`Outcome`
— ``ok``, ``fail`` or ``unknown`` (timed out or cut off after sending: it may have happened). The
:class:`~drillkit.clients.pool.ClientPool` runs clients, times every invoke and writes the timeline;
a client writes nothing itself.

What a client does in one iteration is its :meth:`Client.ops` generator: it yields ops and is sent
each op's outcome, so a journey can stop early or use an answer in its next step::

    class Counter(Client):
        def open(self, ctx):
            self.conn = connect(ctx.address("db", 5432))
        def ops(self, n):
            yield Op("increment", population="writers", write=True)
        def invoke(self, op):
            row = self.conn.execute("INSERT INTO counts DEFAULT VALUES RETURNING id").fetchone()
            return Outcome("ok", id=row[0])
        def close(self):
            self.conn.close()
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Generator

import drillkit.clients.address as addresses
from drillkit.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from drillkit.timeline import Timeline

__all__ = ["Op", "Outcome", "Client", "ClientContext", "OK", "FAIL", "UNKNOWN", "STATUSES",
           "SESSION_VALID", "SESSION_REJECTED", "SESSION_NONE"]

OK, FAIL, UNKNOWN = "ok", "fail", "unknown"
STATUSES = (OK, FAIL, UNKNOWN)
SESSION_VALID, SESSION_REJECTED, SESSION_NONE = "valid", "rejected", "none"


@dataclass(frozen=True)
class Op:
    """One operation a client is asked to perform.

    ``name`` is what the timeline's ``probe`` record calls it (``POST /moves``, ``insert``);
    ``population`` the user population it counts for (``existing-sessions``, ``new-logins``,
    ``citizens``, ``writers``…); ``write`` marks an op whose acknowledgement goes into the ledger;
    ``data`` is the client's own (a journey step, a statement).
    """

    name: str
    population: str
    write: bool = False
    data: Any = None


@dataclass
class Outcome:
    """What came back. ``status``: ``ok`` | ``fail`` | ``unknown``.

    ``id`` is the id of an acknowledged write (or, for an unknown write, the id the client chose
    itself, if any). ``http_status``, ``node`` (the replica that answered, e.g. ``app-2``), ``error``
    (``timeout``, ``ConnectionRefusedError``…), ``session`` (``valid``: the service accepted the
    session; ``rejected``: it refused a session it had accepted before — a session lost; ``none``),
    ``notice`` (the answer was the service's disruption notice). ``ledger`` names the ground truth a
    write is compared with (default ``writes``), ``write_op`` what the ledger calls it (default the
    op's name) and ``attrs`` extra ledger fields (e.g. ``slot``). ``op`` overrides the name the
    probe record gets (e.g. the path template instead of the path).
    """

    status: str
    id: Any = None
    http_status: int | None = None
    node: str | None = None
    error: str | None = None
    session: str = SESSION_NONE
    notice: bool = False
    ledger: str = "writes"
    write_op: str | None = None
    attrs: dict[str, Any] = field(default_factory=dict)
    op: str | None = None

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"outcome status {self.status!r} is not one of {', '.join(STATUSES)}")

    @property
    def ok(self) -> bool:
        return self.status == OK


@dataclass
class ClientContext:
    """What a client gets when it opens: its name and number, a seeded generator, the timeline
    clock, and (in a drill) the environment, from which it resolves addresses of the run — and
    ``roles``, where a role of the stack is now: ``roles("primary") -> ("redis", 2)``. The stack
    floor provides it (`drillkit.stack.roles.RoleLocator`: the roles' own checks, run when asked);
    this floor knows roles only by name."""

    name: str
    index: int
    rng: random.Random
    timeline: "Timeline"
    env: Any = None
    base_url: str | None = None
    roles: Callable[[str], tuple[str, int]] | None = None

    def url(self) -> str:
        """The environment's user-facing entry point (``http://127.0.0.1:PORT``)."""
        if self.base_url is None:
            if self.env is None:
                raise RuntimeError("no environment and no base_url: pass one of them to the pool")
            self.base_url = self.env.url()
        return self.base_url

    def address(self, service: str, port: int, replica: int = 1) -> tuple[str, int]:
        """Where to reach ``service:port`` of this run from here (see :mod:`drillkit.clients.address`)."""
        return addresses.resolve(self.env, service, port, replica)

    def role_holder(self, role: str) -> tuple[str, int]:
        """``(service, replica)`` of the node holding ``role`` now (raises when none does)."""
        if self.roles is None:
            raise ConfigError(f"nothing here knows where role {role!r} is now", field="clients.role",
                              fix="start the client in a drill (drill.clients(...), a scenario's clients:): "
                                  "the stack resolves its roles")
        return self.roles(role)


class Client:
    """Base class of every client. Subclasses override :meth:`invoke` and usually :meth:`open`,
    :meth:`ops` and :meth:`close`. One instance per simulated user, used by one thread only."""

    #: the op :meth:`ops` yields by default, once per iteration
    op: Op | None = None

    def __init__(self, name: str = "") -> None:
        self.name = name
        self.ctx: ClientContext | None = None

    def open(self, ctx: ClientContext) -> None:
        """Connect (no traffic is recorded here). Raise to have the pool retry later."""
        self.ctx = ctx

    @property
    def ready(self) -> bool:
        """True once the client can work on behalf of its user (e.g. logged in); the pool waits
        for every client to be ready before the drill goes on."""
        return self.ctx is not None

    def ops(self, iteration: int) -> Generator[Op, Outcome, None]:
        """One iteration of work: yield ops; each ``yield`` returns that op's outcome."""
        if self.op is None:
            raise NotImplementedError(f"{type(self).__name__} must define `op` or override ops()")
        yield self.op

    def invoke(self, op: Op) -> Outcome:
        raise NotImplementedError

    def close(self) -> None:
        """Release connections; called once, also after a failed open."""


ClientFactory = Callable[[int], Client]

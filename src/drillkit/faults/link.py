"""Link faults: Toxiproxy toxics on a link declared in ``x-drillkit.links``, and ``link_down``.

A link fault addresses a link by name (``link: app-db``), not a service. Each toxic fault adds one
toxic named ``drillkit-<fault_id>-<type>`` and its heal deletes exactly that toxic (a toxic with
toxicity 0 still acts, so it is never "turned down", only deleted). ``link_down`` sets the proxy's
``enabled: false`` (the listener closes, open connections drop) and its heal enables it again.
Everything goes through the lab's :class:`~drillkit.lab.links.LinkServer`.
"""

from __future__ import annotations

import inspect
from typing import Any

from drillkit.errors import FaultError, LinkError
from drillkit.faults.base import Fault
from drillkit.faults.kinds import register
from drillkit.lab.environment import Environment
from drillkit.lab.links import LinkServer, Toxic
from drillkit.timeline import Timeline

__all__ = ["LinkFault", "ToxicFault", "Latency", "Bandwidth", "SlowClose", "Timeout", "ResetPeer",
           "Slicer", "LimitData", "LinkDown"]

DOWN = "downstream"
REQUIRED = inspect.Parameter.empty   # a toxic attribute without a default


def _count(kind: str, name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or value != int(value):
        raise FaultError(f"{kind}: {name} must be a whole number ≥ 0, not {value!r}",
                         fix=f"e.g. {name}: 100")
    return int(value)


class LinkFault(Fault):
    """Base of the faults on one Toxiproxy link."""

    def __init__(self, target=None, *, link: str, **kw):
        if target is not None:
            raise FaultError(f"{type(self).__name__} acts on a link, not on a target ({target})",
                             fix="write link: <name of an x-drillkit.links entry> instead of target")
        super().__init__(None, **kw)
        self.link = link

    def describe(self) -> str:
        return f"{self.kind} link {self.link}"

    def targets(self) -> list[str]:
        return [f"link:{self.link}"]

    def server(self, env: Environment) -> LinkServer:
        names = [l.name for l in env.spec.links]
        if self.link not in names:
            raise FaultError(f"{self.kind}: {env.name} has no link {self.link!r}",
                             fix=f"use one of {', '.join(names)}" if names else
                             "declare the link under x-drillkit.links in the environment's compose.yaml")
        if env.links is None:
            raise FaultError(f"{self.kind}: the links of {env.name} are not running",
                             fix="bring the environment up (env.up()) before injecting link faults")
        return env.links

    def inject(self, env: Environment, tl: Timeline) -> None:
        self.server(env)  # refuse an unknown link before anything is recorded as injected
        super().inject(env, tl)


class ToxicFault(LinkFault):
    """One toxic on the link; ``stream`` is ``downstream`` (server→client, default) or ``upstream``.

    A toxic kind is data, as in Toxiproxy: its type (the kind's name) and ``toxic_attributes``, each
    with its default (`REQUIRED`: none). Each subclass gets an ``__init__`` signature naming them,
    since a kind's scenario attributes are read from its class's ``__init__``.
    """

    toxic_attributes: dict[str, Any] = {}

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        base = ToxicFault.__init__

        def __init__(self, target=None, **kwargs):  # noqa: N807 - the kind's own signature, below
            base(self, target, **kwargs)

        K = inspect.Parameter.KEYWORD_ONLY
        __init__.__signature__ = inspect.Signature([
            inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD),
            inspect.Parameter("target", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None),
            inspect.Parameter("link", K),
            *(inspect.Parameter(n, K, default=d) for n, d in cls.toxic_attributes.items()),
            inspect.Parameter("stream", K, default=DOWN), inspect.Parameter("toxicity", K, default=1.0),
            inspect.Parameter("kw", inspect.Parameter.VAR_KEYWORD)])
        cls.__init__ = __init__

    def __init__(self, target=None, *, link: str, stream: str = DOWN, toxicity: float = 1.0, **kw):
        values = {n: kw.pop(n, d) for n, d in self.toxic_attributes.items()}
        missing = [n for n, v in values.items() if v is REQUIRED]
        if missing:
            raise TypeError(f"{type(self).__name__}() missing keyword argument {missing[0]!r}")
        super().__init__(target, link=link, **kw)
        self.stream = stream
        self.toxicity = toxicity
        self.attributes = {k: _count(self.kind, k, v) for k, v in values.items()}
        for k, v in self.attributes.items():
            setattr(self, k, v)
        try:
            self.toxic = Toxic(self.kind, self.attributes, stream=stream, toxicity=toxicity,
                               name=f"drillkit-{self.fault_id}-{self.kind}")
        except (LinkError, TypeError, ValueError) as exc:
            raise FaultError(f"{self.kind}: {getattr(exc, 'message', exc)}",
                             fix=getattr(exc, "fix", None) or "toxicity: a fraction 0..1") from None

    def describe(self) -> str:
        args = " ".join(f"{k}={v}" for k, v in self.attributes.items())
        return f"{self.kind} {args} on link {self.link} ({self.stream})"

    def detail(self) -> dict:
        return {"link": self.link, "stream": self.stream, "toxicity": self.toxicity,
                "toxic": self.toxic.key, **self.attributes}

    def _inject(self, env: Environment) -> None:
        self.server(env).add_toxic(self.link, self.toxic)

    def _heal(self, env: Environment) -> None:
        links = self.server(env)
        if any(t.get("name") == self.toxic.key for t in links.toxics(self.link)):
            links.remove_toxic(self.link, self.toxic.key)
        if any(t.get("name") == self.toxic.key for t in links.toxics(self.link)):
            raise FaultError(f"toxic {self.toxic.key} is still on link {self.link}")


# The toxic kinds: Toxiproxy's toxics/*.go, each attribute with its default (REQUIRED: none).
@register("latency")
class Latency(ToxicFault):
    """Every chunk of data waits ``latency`` ms (± ``jitter`` ms)."""

    toxic_attributes = {"latency": REQUIRED, "jitter": 0}


@register("bandwidth")
class Bandwidth(ToxicFault):
    """The link carries at most ``rate`` KB/s."""

    toxic_attributes = {"rate": REQUIRED}


@register("slow_close")
class SlowClose(ToxicFault):
    """A connection's close is held back by ``delay`` ms."""

    toxic_attributes = {"delay": REQUIRED}


@register("timeout")
class Timeout(ToxicFault):
    """Data stops flowing; the connection closes after ``timeout`` ms (0: it hangs until healed)."""

    toxic_attributes = {"timeout": 0}


@register("reset_peer")
class ResetPeer(ToxicFault):
    """Connections are reset (TCP RST) after ``timeout`` ms (0: at once)."""

    toxic_attributes = {"timeout": 0}


@register("slicer")
class Slicer(ToxicFault):
    """Data is cut into pieces of ``average_size`` ± ``size_variation`` bytes, ``delay`` µs apart."""

    toxic_attributes = {"average_size": 64, "size_variation": 32, "delay": 10}


@register("limit_data")
class LimitData(ToxicFault):
    """A connection is closed after ``bytes`` bytes have passed."""

    toxic_attributes = {"bytes": REQUIRED}


@register("link_down")
class LinkDown(LinkFault):
    """The link is down: Toxiproxy closes its listener and drops open connections."""

    def detail(self) -> dict:
        return {"link": self.link}

    def _inject(self, env: Environment) -> None:
        self.server(env).set_enabled(self.link, False)

    def _heal(self, env: Environment) -> None:
        links = self.server(env)
        links.set_enabled(self.link, True)
        if not links.proxy(self.link).get("enabled"):
            raise FaultError(f"link {self.link} is still disabled after heal")

"""Link faults: Toxiproxy toxics on a link declared in ``x-drillkit.links``, and ``link_down``.

A link fault addresses a link by name (``link: app-db``), not a service. Each toxic fault adds one
toxic named ``drillkit-<fault_id>-<type>`` and its heal deletes exactly that toxic (a toxic with
toxicity 0 still acts, so it is never "turned down", only deleted). ``link_down`` sets the proxy's
``enabled: false`` (the listener closes, open connections drop) and its heal enables it again.
Everything goes through the lab's :class:`~drillkit.lab.links.LinkServer`.
"""

from __future__ import annotations

from typing import Any

from drillkit.errors import FaultError, LinkError
from drillkit.faults.base import Fault
from drillkit.faults.registry import register
from drillkit.lab.environment import Environment
from drillkit.lab.links import LinkServer, Toxic
from drillkit.timeline import Timeline

__all__ = ["LinkFault", "ToxicFault", "Latency", "Bandwidth", "SlowClose", "Timeout", "ResetPeer",
           "Slicer", "LimitData", "LinkDown"]

DOWN = "downstream"


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

    Subclasses name ``stream`` and ``toxicity`` in their own signature: a kind's scenario
    attributes are read from its class's ``__init__``.
    """

    toxic_type = ""

    def __init__(self, target=None, *, link: str, stream: str = DOWN, toxicity: float = 1.0, **kw):
        super().__init__(target, link=link, **kw)
        self.stream = stream
        self.toxicity = toxicity
        self.attributes = {k: _count(self.kind, k, v) for k, v in self._attributes().items()}
        try:
            self.toxic = Toxic(self.toxic_type, self.attributes, stream=stream, toxicity=toxicity,
                               name=f"drillkit-{self.fault_id}-{self.toxic_type}")
        except (LinkError, TypeError, ValueError) as exc:
            raise FaultError(f"{self.kind}: {getattr(exc, 'message', exc)}",
                             fix=getattr(exc, "fix", None) or "toxicity: a fraction 0..1") from None

    def _attributes(self) -> dict[str, Any]:  # pragma: no cover - abstract
        raise NotImplementedError

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


@register("latency")
class Latency(ToxicFault):
    """Every chunk of data waits ``latency`` ms (± ``jitter`` ms)."""

    toxic_type = "latency"

    def __init__(self, target=None, *, link: str, latency: int, jitter: int = 0,
                 stream: str = DOWN, toxicity: float = 1.0, **kw):
        self.latency, self.jitter = latency, jitter
        super().__init__(target, link=link, stream=stream, toxicity=toxicity, **kw)

    def _attributes(self) -> dict[str, Any]:
        return {"latency": self.latency, "jitter": self.jitter}


@register("bandwidth")
class Bandwidth(ToxicFault):
    """The link carries at most ``rate`` KB/s."""

    toxic_type = "bandwidth"

    def __init__(self, target=None, *, link: str, rate: int,
                 stream: str = DOWN, toxicity: float = 1.0, **kw):
        self.rate = rate
        super().__init__(target, link=link, stream=stream, toxicity=toxicity, **kw)

    def _attributes(self) -> dict[str, Any]:
        return {"rate": self.rate}


@register("slow_close")
class SlowClose(ToxicFault):
    """A connection's close is held back by ``delay`` ms."""

    toxic_type = "slow_close"

    def __init__(self, target=None, *, link: str, delay: int,
                 stream: str = DOWN, toxicity: float = 1.0, **kw):
        self.delay = delay
        super().__init__(target, link=link, stream=stream, toxicity=toxicity, **kw)

    def _attributes(self) -> dict[str, Any]:
        return {"delay": self.delay}


@register("timeout")
class Timeout(ToxicFault):
    """Data stops flowing; the connection closes after ``timeout`` ms (0: it hangs until healed)."""

    toxic_type = "timeout"

    def __init__(self, target=None, *, link: str, timeout: int = 0,
                 stream: str = DOWN, toxicity: float = 1.0, **kw):
        self.timeout = timeout
        super().__init__(target, link=link, stream=stream, toxicity=toxicity, **kw)

    def _attributes(self) -> dict[str, Any]:
        return {"timeout": self.timeout}


@register("reset_peer")
class ResetPeer(ToxicFault):
    """Connections are reset (TCP RST) after ``timeout`` ms (0: at once)."""

    toxic_type = "reset_peer"

    def __init__(self, target=None, *, link: str, timeout: int = 0,
                 stream: str = DOWN, toxicity: float = 1.0, **kw):
        self.timeout = timeout
        super().__init__(target, link=link, stream=stream, toxicity=toxicity, **kw)

    def _attributes(self) -> dict[str, Any]:
        return {"timeout": self.timeout}


@register("slicer")
class Slicer(ToxicFault):
    """Data is cut into pieces of ``average_size`` ± ``size_variation`` bytes, ``delay`` µs apart."""

    toxic_type = "slicer"

    def __init__(self, target=None, *, link: str, average_size: int = 64, size_variation: int = 32,
                 delay: int = 10, stream: str = DOWN, toxicity: float = 1.0, **kw):
        self.average_size, self.size_variation, self.delay = average_size, size_variation, delay
        super().__init__(target, link=link, stream=stream, toxicity=toxicity, **kw)

    def _attributes(self) -> dict[str, Any]:
        return {"average_size": self.average_size, "size_variation": self.size_variation, "delay": self.delay}


@register("limit_data")
class LimitData(ToxicFault):
    """A connection is closed after ``bytes`` bytes have passed."""

    toxic_type = "limit_data"

    def __init__(self, target=None, *, link: str, bytes: int,
                 stream: str = DOWN, toxicity: float = 1.0, **kw):  # noqa: A002 - Toxiproxy's name
        self.bytes = bytes
        super().__init__(target, link=link, stream=stream, toxicity=toxicity, **kw)

    def _attributes(self) -> dict[str, Any]:
        return {"bytes": self.bytes}


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

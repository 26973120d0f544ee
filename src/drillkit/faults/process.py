"""Process faults: kill (SIGKILL), stop (SIGTERM with grace), pause (freeze), restart.

Their heal brings the node back and waits for its health check, so a drill ends as it began.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from drillkit.faults.base import Fault
from drillkit.faults.registry import register
from drillkit.lab.environment import Environment

__all__ = ["Kill", "Stop", "Pause", "Restart"]


def _each(nodes, fn) -> None:
    with ThreadPoolExecutor(max_workers=max(1, len(nodes))) as pool:
        list(pool.map(fn, nodes))


class _BringBack(Fault):
    heal_deadline = 60.0

    def _heal(self, env: Environment) -> None:
        api = env.docker.api

        def back(n):
            st = api.inspect_container(n.container_name)["State"]
            if st["Paused"]:
                api.unpause(n.container_name)
            elif not st["Running"]:
                api.start(n.container_name)
            env.wait_healthy(n, deadline=self.heal_deadline)
        _each(self.nodes, back)


@register("kill")
class Kill(_BringBack):
    """SIGKILL: the node is gone at once, as in a power loss."""

    def _inject(self, env: Environment) -> None:
        _each(self.nodes, lambda n: env.docker.api.kill(n.container_name, signal="SIGKILL"))


@register("stop")
class Stop(_BringBack):
    """SIGTERM, then SIGKILL after the grace period: an orderly shutdown."""

    def __init__(self, target=None, *, grace: float = 5.0, **kw):
        super().__init__(target, **kw)
        self.grace = grace

    def detail(self) -> dict:
        return {"grace": self.grace}

    def _inject(self, env: Environment) -> None:
        _each(self.nodes, lambda n: env.docker.api.stop(n.container_name, timeout=int(self.grace)))


@register("pause")
class Pause(_BringBack):
    """Freeze every process of the node (cgroup freezer): it holds its connections but answers nothing."""

    def _inject(self, env: Environment) -> None:
        _each(self.nodes, lambda n: env.docker.api.pause(n.container_name))


@register("restart")
class Restart(_BringBack):
    """Restart the node (SIGTERM with a short grace, then start)."""

    def _inject(self, env: Environment) -> None:
        _each(self.nodes, lambda n: env.docker.api.restart(n.container_name, timeout=1))

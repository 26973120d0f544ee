"""Process faults: kill (SIGKILL, or the ``signal`` asked), stop (SIGTERM with grace), pause (freeze),
restart, crash_loop.

Their heal brings the node back and waits for its health check, so a drill ends as it began — unless
the fault's ``heal`` says otherwise (``none`` or a runbook step: see faults/base.py). A restart has
started its node again already: its heal starts it only if it is down by then, and waits for its
health check (the heal record's ``healthy`` says when it passed).

``grace`` (stop, restart) is the seconds between the container's stop signal and SIGKILL; 0 means
SIGKILL at once, as a power loss (a hard restart without writing it as kill + heal). The signals
sent are on the timeline: ``signal`` of a kill, ``stop_signal`` (the image's, e.g. SIGTERM or
SIGQUIT) of a stop or restart.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from drillkit.errors import FaultError
from drillkit.faults.base import Fault
from drillkit.faults.kinds import register
from drillkit.lab.environment import Environment
from drillkit.timeline import Timeline

__all__ = ["Kill", "Stop", "Pause", "Restart", "CrashLoop"]


def _each(nodes, fn) -> None:
    with ThreadPoolExecutor(max_workers=max(1, len(nodes))) as pool:
        list(pool.map(fn, nodes))


MAX_GRACE = 600.0


def check_grace(kind: str, grace) -> float:
    """A grace period in seconds: a number from 0 (SIGKILL at once) to 600."""
    if isinstance(grace, bool) or not isinstance(grace, (int, float)) or not 0 <= grace <= MAX_GRACE:
        raise FaultError(f"{kind}: grace must be a number of seconds from 0 to {MAX_GRACE:g} "
                         f"(0 = SIGKILL at once), got {grace!r}", fix="e.g. grace: 2")
    return float(grace)


SIGNALS = ("SIGKILL", "SIGTERM", "SIGINT", "SIGQUIT", "SIGHUP", "SIGUSR1", "SIGUSR2")


def stop_with_grace(env: Environment, node, grace: float) -> str:
    """The node's stop signal (SIGTERM unless its image says otherwise), SIGKILL once ``grace``
    seconds have passed; with grace 0 SIGKILL alone. Returns (when the node is down) the first
    signal sent."""
    backend = env.backend
    sent = "SIGKILL"
    if grace <= 0:
        backend.kill(node, "SIGKILL")
    else:
        sent = backend.stop_signal(node)
        backend.kill(node, sent)     # a node already down: nothing happens
        end = time.monotonic() + grace
        while env.is_running(node) and time.monotonic() < end:
            time.sleep(0.05)
        if env.is_running(node):
            backend.kill(node, "SIGKILL")
    # the kill is asynchronous: wait (bounded) until the backend reports the node down
    end = time.monotonic() + 10
    while time.monotonic() < end:
        if not backend.state(node).running:
            return sent
        time.sleep(0.02)
    raise FaultError(f"{node}: still running 10 s after SIGKILL", fix="check the docker engine (`docker info`)")


def _one_or_each(signals: dict[str, str]):
    """One signal when every node got the same (the usual case), else node -> signal."""
    values = set(signals.values())
    return next(iter(values)) if len(values) == 1 else (dict(signals) or None)


class _BringBack(Fault):
    heal_deadline = 60.0

    def _heal(self, env: Environment) -> None:
        backend = env.backend

        def back(n):
            st = backend.state(n)
            if st.paused:
                backend.unpause(n)
            elif not st.running:
                backend.start(n)
            self.wait_healthy(env, n, deadline=self.heal_deadline)
        _each(self.nodes, back)


@register("kill")
class Kill(_BringBack):
    """SIGKILL (default): the node is gone at once, as in a power loss. ``signal`` sends another one
    instead, once (SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1, SIGUSR2): what the process does with it
    is its own — exit, reload its configuration, ignore it. The heal starts the node if it is down
    and waits for its health check."""

    def __init__(self, target=None, *, signal: str = "SIGKILL", **kw):
        super().__init__(target, **kw)
        name = signal.upper() if isinstance(signal, str) else signal
        if isinstance(name, str) and not name.startswith("SIG"):
            name = "SIG" + name
        if name not in SIGNALS:
            raise FaultError(f"kill: signal must be one of {', '.join(SIGNALS)}, not {signal!r}",
                             fix="e.g. signal: SIGTERM (default SIGKILL)")
        self.signal = name

    def detail(self) -> dict:
        return {"signal": self.signal}

    def _inject(self, env: Environment) -> None:
        _each(self.nodes, lambda n: env.backend.kill(n, signal=self.signal))


@register("stop")
class Stop(_BringBack):
    """SIGTERM, then SIGKILL after the grace period: an orderly shutdown."""

    def __init__(self, target=None, *, grace: float = 5.0, **kw):
        super().__init__(target, **kw)
        self.grace = check_grace("stop", grace)
        self.stop_signals: dict[str, str] = {}

    def detail(self) -> dict:
        return {"grace": self.grace, "stop_signal": _one_or_each(self.stop_signals)}

    def _inject(self, env: Environment) -> None:
        def stop(n) -> None:
            self.stop_signals[n.name] = stop_with_grace(env, n, self.grace)
        _each(self.nodes, stop)


@register("pause")
class Pause(_BringBack):
    """Freeze every process of the node (cgroup freezer): it holds its connections but answers nothing."""

    def _inject(self, env: Environment) -> None:
        _each(self.nodes, lambda n: env.backend.pause(n))


@register("restart")
class Restart(_BringBack):
    """Restart the node: its stop signal, SIGKILL after ``grace`` seconds (default 1; 0 = SIGKILL at
    once, a hard restart), then started again at once. The heal (at ``for``, or when observe ends)
    starts the node only if it is down by then and waits for its health check: the fault's window
    lasts until the node is known to be back. ``heal: none`` does not wait."""

    def __init__(self, target=None, *, grace: float = 1.0, **kw):
        super().__init__(target, **kw)
        self.grace = check_grace("restart", grace)
        self.stop_signals: dict[str, str] = {}

    def detail(self) -> dict:
        return {"grace": self.grace, "stop_signal": _one_or_each(self.stop_signals), "started_again": True}

    def _inject(self, env: Environment) -> None:
        def restart(n) -> None:
            self.stop_signals[n.name] = stop_with_grace(env, n, self.grace)
            env.backend.start(n)
        _each(self.nodes, restart)


@register("crash_loop")
class CrashLoop(_BringBack):
    """A node that keeps crashing: killed, brought back after ``restart_after`` s (as a supervisor
    would), up for ``up_for`` s, killed again — for ``duration`` s. Then the loop ends by itself and
    the nodes are started; heal stops the loop early, starts the nodes and waits for their health.

    A background thread watches each node's container state every ``check_interval`` s, so a node
    started by someone else is killed too. Every kill and start is a note on the timeline;
    ``crashes`` counts the kills per node.
    """

    def __init__(self, target=None, *, duration: float, check_interval: float = 0.2,
                 restart_after: float = 1.0, up_for: float = 0.5, **kw):
        super().__init__(target, **kw)
        for name, value, least in (("duration", duration, 0), ("check_interval", check_interval, 0),
                                   ("restart_after", restart_after, None), ("up_for", up_for, None)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or value == least:
                raise FaultError(f"crash_loop: {name} must be a number {'>' if least == 0 else '≥'} 0 (seconds), "
                                 f"got {value!r}", fix=f"e.g. {name}: 30" if name == "duration" else f"e.g. {name}: 1")
        self.duration = duration
        self.check_interval = check_interval
        self.restart_after = restart_after
        self.up_for = up_for
        self.crashes: dict[str, int] = {}
        self.loop_error: BaseException | None = None
        self._stop_loop = threading.Event()
        self._thread: threading.Thread | None = None
        self._tl: Timeline | None = None

    def detail(self) -> dict:
        return {"duration": self.duration, "restart_after": self.restart_after, "up_for": self.up_for,
                "check_interval": self.check_interval}

    def inject(self, env: Environment, tl: Timeline) -> None:
        self._tl = tl  # the loop notes each kill and start on the drill's timeline
        super().inject(env, tl)

    def _note(self, text: str) -> None:
        if self._tl is not None:
            self._tl.note(f"crash_loop {self.fault_id}: {text}")

    def _inject(self, env: Environment) -> None:
        backend = env.backend
        _each(self.nodes, lambda n: backend.kill(n, signal="SIGKILL"))
        now = time.monotonic()
        for n in self.nodes:
            self.crashes[str(n)] = 1
        self._stop_loop.clear()
        self._thread = threading.Thread(target=self._loop, args=(env, now), daemon=True,
                                        name=f"crash-loop-{self.fault_id}")
        self._thread.start()

    def _loop(self, env: Environment, started: float) -> None:
        backend = env.backend
        end = started + self.duration
        # per node: when it was last seen going down / coming up
        down_since = {n.container_name: started for n in self.nodes}
        up_since: dict[str, float] = {}
        try:
            while not self._stop_loop.wait(self.check_interval) and time.monotonic() < end:
                for n in self.nodes:
                    name = n.container_name
                    now = time.monotonic()
                    if env.is_running(n):
                        down_since.pop(name, None)
                        since = up_since.setdefault(name, now)
                        if now - since >= self.up_for:
                            backend.kill(n, signal="SIGKILL")   # gone down by itself meanwhile: nothing happens
                            up_since.pop(name, None)
                            down_since[name] = time.monotonic()
                            self.crashes[str(n)] = self.crashes.get(str(n), 0) + 1
                            self._note(f"killed {n.name} (crash {self.crashes[str(n)]})")
                    else:
                        up_since.pop(name, None)
                        since = down_since.setdefault(name, now)
                        if now - since >= self.restart_after:
                            backend.start(n)
                            up_since[name] = time.monotonic()
                            down_since.pop(name, None)
                            self._note(f"started {n.name}")
            if not self._stop_loop.is_set():  # the loop ran its course: the nodes come back for good
                for n in self.nodes:
                    if not env.is_running(n):
                        backend.start(n)
                self._note("loop ended, nodes started")
        except BaseException as exc:  # noqa: BLE001 - reported by heal
            self.loop_error = exc
            self._note(f"loop failed: {exc}")

    def _stop(self, env: Environment) -> None:
        """Stop the loop (also when heal is ``none`` or a runbook: no thread outlives the fault)."""
        self._stop_loop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            if self._thread.is_alive():
                raise FaultError(f"crash_loop {self.fault_id}: the loop thread did not stop",
                                 fix="the docker engine may hang; check `docker info`")

    def _heal(self, env: Environment) -> None:
        self._stop(env)
        super()._heal(env)

"""Resource faults inside a node: CPU stress, memory pressure, a full disk, exhausted database
connections and a skewed clock.

Each runs inside the target's containers with `docker exec` and needs a few tools in the image (named
in the kind's docstring; a missing one is a FaultError that says what to add). Processes a fault
starts run detached in their own process group, stop by themselves after ``limit`` seconds even if
heal never comes, and heal kills the whole group and checks it is gone.
"""

from __future__ import annotations

import re
import shlex
import time
import uuid

from drillkit.errors import FaultError
from drillkit.faults.base import Fault
from drillkit.faults.kinds import register
from drillkit.faults.process import _each
from drillkit.lab.environment import Environment
from drillkit.lab.node import Node
from drillkit.stack.target import Target

__all__ = ["CpuStress", "MemoryPressure", "DiskFull", "ConnectionExhaustion", "ClockSkew"]

ROOT = "0"  # exec as root: write anywhere in the container, signal any process
AWAIT_S = 30   # connection_exhaustion: seconds for every client to connect or be refused


def _run(env: Environment, node: Node, cmd: str, *, user: str = "", environment: dict | None = None,
         ) -> tuple[int, str]:
    """Run a shell command in the node; (exit code, output)."""
    return env.backend.exec(node, ["sh", "-c", cmd], user=user, environment=environment)


def _check(env: Environment, node: Node, cmd: str, what: str, **kw) -> str:
    code, out = _run(env, node, cmd, **kw)
    if code != 0:
        raise FaultError(f"{node}: {what} failed (exit {code}): {out.strip()[-300:]}")
    return out


class _Detached(Fault):
    """Starts one shell command detached in every target node, in its own process group (pid file in
    /tmp), and kills that group at heal."""

    requires: tuple[tuple[str, str], ...] = ()   # (tool, Debian package)
    limit: float

    def _tag(self) -> str:
        if not hasattr(self, "_tag_value"):
            self._tag_value = f"drillkit-{self.kind}-{self.fault_id}-{uuid.uuid4().hex[:6]}"
        return self._tag_value

    def _files(self) -> tuple[str, str]:
        return f"/tmp/{self._tag()}.pid", f"/tmp/{self._tag()}.log"

    def _command(self) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def _environment(self) -> dict | None:
        return None

    def _await(self) -> str:
        """Shell run after the start (same exec) until the effect is in place; prints what it saw."""
        return ""

    def _started(self, env: Environment, node: Node, output: str) -> None:
        """Reads what `_await` printed."""

    def _start(self, env: Environment, node: Node) -> None:
        # One `docker exec` (each costs 0.1-0.5 s): check the tools, start the group detached, wait for
        # its pid file, make sure it did not exit at once (e.g. a bad option), then `_await`.
        pidfile, logfile = self._files()
        inner = f"echo $$ > {pidfile}; exec {self._command()}"
        tools = " ".join(t for t, _ in self.requires)
        script = (f"for t in {tools}; do command -v $t >/dev/null || {{ echo \"missing $t\"; exit 3; }}; done\n"
                  f"setsid sh -c {shlex.quote(inner)} >{logfile} 2>&1 </dev/null &\n"
                  f"i=0; while [ ! -s {pidfile} ] && [ $i -lt 250 ]; do sleep 0.02; i=$((i+1)); done\n"
                  f"sleep 0.1\n"
                  f'test -s {pidfile} && kill -0 -"$(cat {pidfile})" 2>/dev/null || {{ tail -n 5 {logfile}; exit 4; }}\n'
                  f"{self._await()}\n")
        code, out = _run(env, node, script, environment=self._environment())
        if code == 3:
            tool = out.split()[-1]
            package = dict(self.requires).get(tool, tool)
            raise FaultError(f"{node}: `{tool}` is not in the image of service {node.service!r}",
                             fix=f"add it to that service's Dockerfile: RUN apt-get update && apt-get install -y "
                                 f"--no-install-recommends {package}")
        if code != 0:
            raise FaultError(f"{node}: {self.kind} did not start (exit {code}): {out.strip()[-300:] or 'no output'}")
        self._started(env, node, out)

    def _stop(self, env: Environment, node: Node, deadline: float = 10.0) -> None:
        # SIGKILL the whole group until no process of it is left (as root: any user's processes)
        pidfile, logfile = self._files()
        tries = int(deadline / 0.05)
        code, out = _run(env, node, f'test -s {pidfile} || exit 0; pg=$(cat {pidfile}); i=0\n'
                                    f'while kill -0 -"$pg" 2>/dev/null; do kill -KILL -"$pg" 2>/dev/null; '
                                    f'[ $i -ge {tries} ] && {{ ps -o pid,args -g "$pg"; exit 1; }}; '
                                    f'sleep 0.05; i=$((i+1)); done\nrm -f {pidfile} {logfile}', user=ROOT)
        if code != 0:
            raise FaultError(f"{node}: processes of {self.kind} still alive after {deadline:.0f} s: "
                             f"{out.strip()[-300:]}")

    def _inject(self, env: Environment) -> None:
        _each(self.nodes, lambda n: self._start(env, n))

    def _heal(self, env: Environment) -> None:
        _each(self.nodes, lambda n: self._stop(env, n))


def _positive(kind: str, **values: float) -> None:
    for name, v in values.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0:
            raise FaultError(f"{kind}: {name} must be a number > 0, got {v!r}", fix=f"give a positive {name}")


@register("cpu_stress")
class CpuStress(_Detached):
    """Busy CPUs inside the node: ``workers`` stress-ng CPU workers at ``load`` percent each.

    Needs stress-ng in the image. Ends at heal, or by itself after ``limit`` seconds.
    """

    requires = (("stress-ng", "stress-ng"), ("setsid", "util-linux"))

    def __init__(self, target=None, *, workers: int = 1, load: int = 100, limit: float = 600.0, **kw):
        super().__init__(target, **kw)
        _positive("cpu_stress", workers=workers, limit=limit)
        if not 1 <= load <= 100:
            raise FaultError(f"cpu_stress: load must be 1..100 percent, got {load!r}", fix="e.g. load: 80")
        self.workers, self.load, self.limit = int(workers), int(load), limit

    def detail(self) -> dict:
        return {"workers": self.workers, "load": self.load}

    def _command(self) -> str:
        return f"stress-ng --cpu {self.workers} --cpu-load {self.load} --timeout {int(self.limit)}s"


@register("memory_pressure")
class MemoryPressure(_Detached):
    """``megabytes`` of memory taken and kept resident inside the node (one stress-ng VM worker that
    touches its pages and then holds them without burning CPU).

    Needs stress-ng in the image. Ends at heal, or by itself after ``limit`` seconds.
    """

    requires = (("stress-ng", "stress-ng"), ("setsid", "util-linux"))

    def __init__(self, target=None, *, megabytes: int, limit: float = 600.0, **kw):
        super().__init__(target, **kw)
        _positive("memory_pressure", megabytes=megabytes, limit=limit)
        self.megabytes, self.limit = int(megabytes), limit

    def detail(self) -> dict:
        return {"megabytes": self.megabytes}

    def _command(self) -> str:
        # --vm-hang 0: after dirtying the pages, hold them (sleep) instead of rewriting them in a loop
        return (f"stress-ng --vm 1 --vm-bytes {self.megabytes}M --vm-keep --vm-populate --vm-hang 0 "
                f"--timeout {int(self.limit)}s")


@register("disk_full")
class DiskFull(Fault):
    """The filesystem under ``path`` filled up (a file of all its free space but ``leave_mb``), so
    writes there fail with ENOSPC; heal removes the file.

    Meant for a small named volume or a sized tmpfs (``tmpfs: ["/data:size=64m"]``): a filesystem
    with more than ``max_mb`` free is refused, so the fault never fills the host's disk through the
    container's root overlay or a volume on the host.
    """

    def __init__(self, target=None, *, path: str, leave_mb: int = 0, max_mb: int = 2048, **kw):
        super().__init__(target, **kw)
        if not str(path).startswith("/"):
            raise FaultError(f"disk_full: path must be absolute, got {path!r}", fix="e.g. path: /var/lib/postgresql/data")
        if leave_mb < 0:
            raise FaultError(f"disk_full: leave_mb must be ≥ 0, got {leave_mb}", fix="e.g. leave_mb: 0")
        self.path, self.leave_mb, self.max_mb = str(path).rstrip("/") or "/", int(leave_mb), int(max_mb)
        self.filled_mb: dict[str, float] = {}

    @property
    def fill_file(self) -> str:
        return f"{self.path.rstrip('/')}/.drillkit-disk-full-{self.fault_id}"

    def detail(self) -> dict:
        return {"path": self.path, "leave_mb": self.leave_mb, "filled_mb": self.filled_mb}

    def _fill(self, env: Environment, node: Node) -> None:
        # one exec: measure, refuse a big filesystem, fill. fallocate is instant where supported, dd
        # otherwise; with leave_mb 0 a last dd writes until ENOSPC (root may use ext4's reserved blocks).
        p, f = shlex.quote(self.path), shlex.quote(self.fill_file)
        script = (f"test -d {p} || {{ echo notadir; exit 3; }}\n"
                  f"set -- $(stat -f -c '%S %f %T' {p}); free=$(($1 * $2))\n"
                  f"[ $free -gt {self.max_mb * 2**20} ] && {{ echo \"$free $3\"; exit 4; }}\n"
                  f"size=$((free - {self.leave_mb * 2**20}))\n"
                  f"if [ $size -gt 0 ]; then fallocate -l $size {f} 2>/dev/null || "
                  f"dd if=/dev/zero of={f} bs=1M count=$((size / 1048576)) 2>/dev/null; fi\n"
                  + (f"dd if=/dev/zero bs=4096 >>{f} 2>/dev/null\n" if self.leave_mb == 0 else "")
                  + f"if [ -e {f} ]; then du -k {f} | cut -f1; else echo 0; fi")
        code, out = _run(env, node, script, user=ROOT)
        if code == 3:
            raise FaultError(f"{node}: disk_full path {self.path} is not a directory in the container",
                             fix="name a mounted directory of the service, e.g. its data volume")
        if code == 4:
            free, fstype = out.split()[-2:]
            raise FaultError(f"{node}: {self.path} is on a {fstype} filesystem with {int(free) / 2**30:.1f} GiB "
                             f"free; disk_full fills at most {self.max_mb} MiB",
                             fix=f'mount a small volume there (tmpfs: ["{self.path}:size=64m"]) or raise max_mb')
        if code != 0:
            raise FaultError(f"{node}: filling {self.path} failed (exit {code}): {out.strip()[-300:]}")
        self.filled_mb[str(node)] = round(int(out.split()[-1]) / 1024, 1)

    def _inject(self, env: Environment) -> None:
        _each(self.nodes, lambda n: self._fill(env, n))

    def _heal(self, env: Environment) -> None:
        _each(self.nodes, lambda n: _check(env, n, f"rm -f {shlex.quote(self.fill_file)}",
                                           f"removing {self.fill_file}", user=ROOT))


@register("connection_exhaustion")
class ConnectionExhaustion(_Detached):
    """``connections`` PostgreSQL connections opened and held idle inside the database node (psql
    clients in the container, as a leaking pool would), so new connections fail with "too many
    clients" once they reach max_connections. Heal closes them and checks the server let them go.

    ``host`` empty means the local socket. Needs psql in the image (any PostgreSQL server image has
    it). Held connections end by themselves after ``limit`` seconds.
    """

    requires = (("psql", "postgresql-client"), ("setsid", "util-linux"))

    def __init__(self, target=None, *, connections: int, service: str = "db", database: str = "postgres",
                 user: str = "postgres", password: str = "", host: str = "", port: int = 5432,
                 limit: float = 600.0, **kw):
        super().__init__(target if target is not None else Target(service), **kw)
        _positive("connection_exhaustion", connections=connections, limit=limit)
        self.connections, self.limit = int(connections), limit
        self.database, self.user, self.password, self.host, self.port = database, user, password, host, int(port)
        self.held: dict[str, int] = {}
        self.refused: dict[str, str] = {}

    def detail(self) -> dict:
        return {"connections": self.connections, "database": self.database, "user": self.user,
                "held": self.held, "refused": self.refused}

    def _environment(self) -> dict:
        e = {"PGAPPNAME": self._tag(), "PGDATABASE": self.database, "PGUSER": self.user,
             "PGPORT": str(self.port), "PGCONNECT_TIMEOUT": "5"}
        if self.host:
            e["PGHOST"] = self.host
        if self.password:
            e["PGPASSWORD"] = self.password
        return e

    def _out(self) -> str:
        return f"/tmp/{self._tag()}.held"

    def _command(self) -> str:
        # each client announces itself once connected, then waits on stdin (idle connection); when the
        # group is killed the server sees EOF and ends the backend at once
        # (\warn goes to stderr, unbuffered; a refused client's error lands in the same file)
        client = (f"{{ echo '\\warn held'; exec sleep {int(self.limit)}; }} | "
                  f"psql -X -q -w -v ON_ERROR_STOP=1 >/dev/null 2>>{self._out()} &")
        return f"sh -c {shlex.quote(f'i=0; while [ $i -lt {self.connections} ]; do i=$((i+1)); {client} done; wait')}"

    def _await(self) -> str:
        # until every client is connected or refused (AWAIT_S at most, by the node's clock: a count of
        # loop rounds ran out early on a busy machine, before the refused clients had said so), then
        # what they said
        out = self._out()
        return (f"end=$(( $(date +%s) + {AWAIT_S} )); while [ $(date +%s) -lt $end ]; do "
                f"h=$(cat {out} 2>/dev/null | grep -c '^held$'); "
                f"e=$(cat {out} 2>/dev/null | grep -c 'psql: error'); "
                f"[ $((h + e)) -ge {self.connections} ] && break; sleep 0.05; done\n"
                f"echo @@clients; cat {out} 2>/dev/null")

    def _started(self, env: Environment, node: Node, output: str) -> None:
        lines = output.split("@@clients", 1)[-1].splitlines()
        held = sum(1 for l in lines if l.strip() == "held")
        # counted as the wait counts them: a refusal's line may start after another client's output
        errors = [l.strip()[l.strip().index("psql: error"):] for l in lines if "psql: error" in l]
        self.held[str(node)] = held
        if errors:
            self.refused[str(node)] = f"{len(errors)} × {errors[0].rsplit('FATAL:', 1)[-1].strip()[:200]}"
        if held == 0:
            self._stop(env, node)
            raise FaultError(f"{node}: connection_exhaustion could not open any connection: "
                             f"{self.refused.get(str(node)) or f'no answer within {AWAIT_S} s'}",
                             fix="check database, user, password and host against the service")

    def _stop(self, env: Environment, node: Node, deadline: float = 10.0) -> None:
        super()._stop(env, node, deadline)
        # the server must have let the connections go, not just the clients
        q = f"SELECT count(*) FROM pg_stat_activity WHERE application_name = '{self._tag()}'"
        code, out = _run(env, node, f"rm -f {self._out()}; i=0\n"
                                    f"while [ $i -lt {int(deadline / 0.05)} ]; do "
                                    f"n=$(psql -X -q -w -At -c {shlex.quote(q)} 2>&1) && [ \"$n\" = 0 ] && exit 0; "
                                    f"sleep 0.05; i=$((i+1)); done; echo \"$n\"; exit 1",
                         environment={**self._environment(), "PGAPPNAME": "drillkit-heal-check"})
        if code != 0:
            raise FaultError(f"{node}: connections of {self.kind} still open after {deadline:.0f} s "
                             f"({out.strip()[-200:]})")


_OFFSET = re.compile(r"^[+-]\d+(\.\d+)?[smhdy]?$")
_UNIT = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "y": 365 * 86400}


@register("clock_skew")
class ClockSkew(Fault):
    """The node's wall clock off by ``offset`` ("+2h", "-30m", "+90s", "+1d"), through libfaketime.

    Image prerequisite: libfaketime preloaded into every process and told to read its offset from a
    file, e.g. in the Dockerfile (Debian: ``apt-get install libfaketime``)::

        RUN echo "+0" > /etc/faketimerc
        ENV LD_PRELOAD=/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1 \\
            FAKETIME_TIMESTAMP_FILE=/etc/faketimerc FAKETIME_CACHE_DURATION=1

    The fault writes the offset into that file: new processes see it at once, running ones within
    FAKETIME_CACHE_DURATION seconds. Heal writes back what was there. Statically linked programs and
    the kernel's file times are not skewed. libfaketime shifts the monotonic clocks too, unless the
    image sets FAKETIME_DONT_FAKE_MONOTONIC=1 (closer to a wrong NTP source, but with Debian 12's
    libfaketime 0.9.10 it makes Python >= 3.11's time.sleep fail with EINVAL, libfaketime #426).
    """

    def __init__(self, target=None, *, offset: str, **kw):
        super().__init__(target, **kw)
        offset = str(offset).strip()
        if not _OFFSET.match(offset):
            raise FaultError(f"clock_skew: offset {offset!r} is not a signed amount",
                             fix='write e.g. "+2h", "-30m", "+90s" or "+1d"')
        self.offset = offset
        self.seconds = float(offset[:-1] if offset[-1] in "smhdy" else offset) * _UNIT[
            offset[-1] if offset[-1] in "smhdy" else ""]
        self._previous: dict[str, str] = {}

    def detail(self) -> dict:
        return {"offset": self.offset, "seconds": self.seconds}

    FIX = ("preload libfaketime in that service's image: apt-get install libfaketime, and set "
           "LD_PRELOAD=/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1, "
           "FAKETIME_TIMESTAMP_FILE=/etc/faketimerc (containing +0), FAKETIME_CACHE_DURATION=1")

    def _setup(self, env: Environment, node: Node) -> tuple[str, str]:
        """(preloaded libfaketime, its timestamp file) from the container's environment."""
        envs = env.backend.environment_of(node)
        lib = next((p for p in re.split(r"[: ]", envs.get("LD_PRELOAD", "")) if "faketime" in p), None)
        path = envs.get("FAKETIME_TIMESTAMP_FILE")
        if not lib or not path:
            raise FaultError(f"{node}: service {node.service!r} does not preload libfaketime with a "
                             f"FAKETIME_TIMESTAMP_FILE", fix=self.FIX)
        return lib, path

    def _skew(self, env: Environment, node: Node) -> None:
        lib, path = self._setup(env, node)
        f = shlex.quote(path)
        code, out = _run(env, node, f"test -e {shlex.quote(lib)} || {{ echo nolib; exit 3; }}\n"
                                    f"cat {f} 2>/dev/null; echo @@; printf '%s\\n' {shlex.quote(self.offset)} > {f} "
                                    f"&& date +%s", user=ROOT)
        if code == 3:
            raise FaultError(f"{node}: LD_PRELOAD names {lib}, which is not in the image", fix=self.FIX)
        if code != 0:
            raise FaultError(f"{node}: writing the offset to {path} failed (exit {code}): {out.strip()[-200:]}")
        previous, seen = out.split("@@")
        self._previous[str(node)] = previous.strip() or "+0"
        if abs(float(seen) - time.time() - self.seconds) > 5:
            raise FaultError(f"{node}: the clock did not move ({self.offset} written to {path}, `date` "
                             f"is off by {float(seen) - time.time():+.0f} s)",
                             fix="check that libfaketime reads FAKETIME_TIMESTAMP_FILE (and that FAKETIME is unset)")

    def _unskew(self, env: Environment, node: Node) -> None:
        _, path = self._setup(env, node)
        previous = self._previous.get(str(node), "+0")
        _check(env, node, f"printf '%s\\n' {shlex.quote(previous)} > {shlex.quote(path)}",
               "restoring the offset", user=ROOT)

    def _inject(self, env: Environment) -> None:
        _each(self.nodes, lambda n: self._skew(env, n))

    def _heal(self, env: Environment) -> None:
        _each(self.nodes, lambda n: self._unskew(env, n))

"""The Docker engine connection, with one clear error when no engine answers."""

from __future__ import annotations

import fcntl
import functools
import os
import random
import threading
import time
from collections.abc import Mapping
from typing import Any

from drillkit import labels as L
from drillkit.errors import DockerUnavailable, LabError
from drillkit.lab.images import HASH_LABEL, TOXIPROXY_IMAGE

__all__ = ["client", "ENGINE_HINT", "ENGINE_SLOTS", "EngineSlots", "pick_subnet", "engine_facts"]


class EngineSlots:
    """At most ``per_process`` of this process's threads, and at most ``per_host`` callers among every
    drillkit process on the machine (parallel test workers, a drill beside the suite), in a short
    engine call at once. Docker 20.10 can deadlock under many concurrent container starts and execs
    (seen here: a wedged engine, containers stuck in "Created"), and the engine is the host's, not a
    process's: the host-wide bound is a flock on one of ``per_host`` slot files under the runs'
    folder (drillkit.labels.RUN_DIR); the kernel frees a slot whose holder dies."""

    def __init__(self, per_process: int, per_host: int, folder=None):
        self._threads = threading.BoundedSemaphore(per_process)
        self.per_host = max(1, per_host)
        self._folder = folder
        self._held = threading.local()

    def _slot_dir(self):
        folder = self._folder or (L.RUN_DIR / "engine-slots")
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def __enter__(self) -> "EngineSlots":
        self._threads.acquire()
        try:
            folder = self._slot_dir()
            start = random.randrange(self.per_host)
            pause = 0.002
            while True:
                for i in range(self.per_host):
                    fd = os.open(folder / f"slot-{(start + i) % self.per_host}", os.O_CREAT | os.O_RDWR, 0o644)
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    except BlockingIOError:
                        os.close(fd)
                        continue
                    stack = getattr(self._held, "fds", None) or []
                    stack.append(fd)
                    self._held.fds = stack
                    return self
                time.sleep(pause)
                pause = min(pause * 2, 0.05)
        except BaseException:
            self._threads.release()
            raise

    def __exit__(self, *exc) -> None:
        fd = self._held.fds.pop()
        try:
            os.close(fd)        # closing the file releases its flock
        finally:
            self._threads.release()


# the lab keeps its own short engine calls to a few at a time, in this process and on the host
ENGINE_SLOTS = EngineSlots(per_process=4, per_host=int(os.environ.get("DRILLKIT_ENGINE_SLOTS", "4") or 4))

ENGINE_HINT = ("start one: `sudo dockerd >/tmp/dockerd.log 2>&1 &` (Debian: `apt-get install docker.io`), "
               "or run `./drill run`, which installs and starts it; set DOCKER_HOST for a remote engine")


@functools.lru_cache(maxsize=1)
def client():
    """A docker SDK client that negotiates the API version (the 20.10 engine speaks 1.41)."""
    import docker  # deferred: the SDK is heavy and only a lab that starts needs it

    try:
        c = docker.from_env(timeout=120)
        c.ping()
    except Exception as exc:  # DockerException, requests errors, FileNotFoundError on the socket
        reason = str(exc).split("\n")[0][:160]
        raise DockerUnavailable(f"no Docker engine answers ({reason})", fix=ENGINE_HINT) from None
    return c


def pick_subnet(c, name: str, labels: dict[str, str], *, driver: str = "bridge", prefix: str = "172.29",
                attachable: bool = False) -> tuple[str, str]:
    """Create network ``name`` on a free /24 of ``prefix``.0.0/16; returns (network id, "a.b.c")."""
    import docker.types  # deferred: the SDK is heavy and only a lab that starts needs it
    rng = random.Random()
    for attempt in range(64):
        third = rng.randrange(0, 256)
        ipam = docker.types.IPAMConfig(pool_configs=[
            docker.types.IPAMPool(subnet=f"{prefix}.{third}.0/24", gateway=f"{prefix}.{third}.1")])
        try:
            net = c.api.create_network(name, driver=driver, check_duplicate=True, ipam=ipam, labels=labels,
                                       attachable=attachable or None)
        except Exception as exc:
            if "overlap" in str(exc).lower() and attempt < 63:
                continue
            raise
        return net["Id"], f"{prefix}.{third}"
    raise LabError(f"no free /24 in {prefix}.0.0/16 for network {name}", fix="run `drill gc`")


def engine_facts(docker: Any, specs: Mapping[str, Any]) -> dict[str, str]:
    """What a report says about the engine a run used: each built image's content hash
    (``image.<tag>``), the engine's version (``docker.engine``) and its host (``docker.host``).
    A fact the engine does not answer is left out, never guessed."""
    facts: dict[str, str] = {}
    tags = sorted({svc.image for spec in specs.values() for svc in spec.services.values()
                   if getattr(svc, "build_context", None)})
    if any(getattr(spec, "links", None) for spec in specs.values()):
        tags.append(TOXIPROXY_IMAGE)
    for tag in tags:
        try:
            labels = docker.api.inspect_image(tag).get("Config", {}).get("Labels") or {}
        except Exception:
            continue
        if labels.get(HASH_LABEL):
            facts[f"image.{tag}"] = str(labels[HASH_LABEL])[:16]
    try:
        version = docker.version()
        facts["docker.engine"] = f"{version.get('Version')} (API {version.get('ApiVersion')})"
    except Exception:
        pass
    try:
        info = docker.info()
        facts["docker.host"] = f"{info.get('Name')} ({info.get('OperatingSystem')}, {info.get('NCPU')} CPUs, " \
                               f"{int(info.get('MemTotal', 0)) // 2**30} GiB)"
    except Exception:
        pass
    return facts

"""The Docker engine connection, with one clear error when no engine answers."""

from __future__ import annotations

import functools

from drillkit.errors import DockerUnavailable

__all__ = ["client", "ENGINE_HINT"]

ENGINE_HINT = ("start one: `sudo dockerd >/tmp/dockerd.log 2>&1 &` (Debian: `apt-get install docker.io`), "
               "or run `./drill run`, which installs and starts it; set DOCKER_HOST for a remote engine")


@functools.lru_cache(maxsize=1)
def client():
    """A docker SDK client that negotiates the API version (the 20.10 engine speaks 1.41)."""
    import docker  # heavy import, only when a lab is used

    try:
        c = docker.from_env(timeout=120)
        c.ping()
    except Exception as exc:  # DockerException, requests errors, FileNotFoundError on the socket
        reason = str(exc).split("\n")[0][:160]
        raise DockerUnavailable(f"no Docker engine answers ({reason})", fix=ENGINE_HINT) from None
    return c

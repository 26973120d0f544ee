"""Helpers for tests against real containers (importable from test modules)."""

from pathlib import Path

from drillkit import labels as L

HERE = Path(__file__).parent
TINY = HERE / "environments" / "tiny" / "compose.yaml"


def run_objects(docker, run_id: str) -> tuple[list, list, list]:
    """Containers, networks and volumes labelled with one run."""
    flt = {"label": f"{L.RUN}={run_id}"}
    return (docker.api.containers(all=True, filters=flt), docker.api.networks(filters=flt),
            (docker.api.volumes(filters=flt) or {}).get("Volumes") or [])


def serving_from(env, nodes: set[str], path: str = "/", deadline: float = 30.0) -> None:
    """Wait until the entry point has answered from every one of ``nodes`` (X-Drillkit-Node): the
    lb's own health checks passed. Bounded; raises AssertionError with what it saw."""
    import time
    import urllib.request
    seen: set[str] = set()
    end = time.monotonic() + deadline
    while not nodes <= seen:
        try:
            with urllib.request.urlopen(env.url(path), timeout=2) as r:
                seen.add(r.headers.get("X-Drillkit-Node", ""))
        except OSError:
            pass
        if time.monotonic() > end:
            raise AssertionError(f"{env.name}: the entry point did not answer from {sorted(nodes)} within "
                                 f"{deadline:.0f} s (saw {sorted(seen)})")
        time.sleep(0.05)

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

"""Reaping by label: a run's own teardown, and `drill gc` for runs whose process is gone.

Nothing without a ``drillkit.run`` label is ever touched. `collect` reaps every dead run, or with
``origin`` only the dead runs made for one report folder (``drillkit.origin``): what `drill run` and
the pytest plugin do at their start, so that a run never reaps what other people left on a shared
engine. A network the engine will not let go of (Docker 20.10's phantom endpoints) is reported once,
naming its run; later attempts stay quiet until dockerd is restarted and the network goes.
"""

from __future__ import annotations

import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from drillkit import labels as L
from drillkit.lab.backend import backend_class, backend_names

__all__ = ["remove_run", "collect", "GcReport", "list_runs"]


@dataclass
class GcReport:
    runs: list[str] = field(default_factory=list)
    containers: int = 0
    networks: int = 0
    volumes: int = 0
    kept_alive: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        if not self.runs:
            alive = f" ({len(self.kept_alive)} live run(s) kept)" if self.kept_alive else ""
            failed = f"; could not remove: {'; '.join(self.failed)}" if self.failed else ""
            return f"nothing collected{alive}{failed}"
        text = (f"removed {self.containers} container(s), {self.networks} network(s), "
                f"{self.volumes} volume(s) of {len(self.runs)} dead run(s): {', '.join(self.runs)}")
        if self.failed:
            text += f"; could not remove: {'; '.join(self.failed)}"
        return text


def _remove_container(c, cid: str, networks: list[str]) -> None:
    """Kill, leave each network, then remove: the orderly path through the engine's network
    bookkeeping (force-removing running containers in parallel can leave a network with phantom
    endpoints on Docker 20.10)."""
    try:
        c.api.kill(cid, signal="SIGKILL")
    except Exception:
        pass  # not running
    for net in networks:
        try:
            c.api.disconnect_container_from_network(cid, net, force=True)
        except Exception:
            pass
    try:
        c.api.remove_container(cid, force=True, v=True)
    except Exception as exc:  # already gone
        if "No such container" not in str(exc) and "is already in progress" not in str(exc):
            raise


def _remove_network(c, net_id: str, attempts: int = 20) -> None:
    """A network is refused while a just-removed container is still detaching ("has active
    endpoints"); that settles within moments, so try again briefly."""
    for i in range(attempts):
        try:
            c.api.remove_network(net_id)
            return
        except Exception as exc:
            text = str(exc).lower()
            if "not found" in text:
                return
            if "active endpoints" not in text:
                raise
            if i == attempts // 2:
                _disconnect_stale(c, net_id)
            elif i == attempts - 1:
                attached = (c.api.inspect_network(net_id).get("Containers") or {})
                if attached:
                    raise
                raise PhantomEndpoints(net_id) from None
            time.sleep(0.25)


class PhantomEndpoints(Exception):
    """The engine counts endpoints on a network that has no container attached (a Docker 20.10
    bookkeeping leak); only restarting dockerd frees the network."""

    def __init__(self, net_id: str):
        self.net_id = net_id
        super().__init__(f"network {net_id[:12]} has no container attached but the engine still counts "
                         "endpoints on it (a Docker 20.10 leak); restart dockerd, then `drill gc` removes it")


PHANTOM_SUFFIX = ".phantom"   # RUN_DIR/<run>.phantom: the stuck networks of a run already reported


def _phantoms_known(run_id: str) -> set[str]:
    try:
        return set(L.run_file(run_id, PHANTOM_SUFFIX).read_text(encoding="utf-8").split())
    except OSError:
        return set()


def _warn_once(run_id: str, phantom: list[PhantomEndpoints]) -> None:
    """One warning per stuck network, naming its run; remembered beside the run's lock, so the next
    `drill run` on this machine does not say it again."""
    known = _phantoms_known(run_id)
    new = [exc for exc in phantom if exc.net_id not in known]
    if new:
        sys.stderr.write(f"drillkit: warning: run {run_id}: " + "; ".join(str(e) for e in new) +
                         " (said once; `drill ps` and `drill gc` still show it)\n")
    try:
        L.RUN_DIR.mkdir(parents=True, exist_ok=True)
        L.run_file(run_id, PHANTOM_SUFFIX).write_text("\n".join(sorted(known | {e.net_id for e in phantom})) + "\n",
                                                     encoding="utf-8")
    except OSError:
        pass


def _disconnect_stale(c, net_id: str) -> None:
    """Endpoints can outlive their containers (an engine restart mid-run): force them off, but only
    endpoints of the run's own network, which gc has already decided to remove."""
    try:
        info = c.api.inspect_network(net_id)
    except Exception:
        return
    for endpoint in (info.get("Containers") or {}):
        try:
            c.api.disconnect_container_from_network(endpoint, net_id, force=True)
        except Exception:
            pass


def remove_run(c, run_id: str) -> tuple[int, int, int]:
    """Remove every container, network and volume labelled ``drillkit.run=<run_id>``; in parallel."""
    flt = {"label": f"{L.RUN}={run_id}"}
    containers = c.api.containers(all=True, filters=flt)
    if containers:
        def nets(x):
            return list(((x.get("NetworkSettings") or {}).get("Networks") or {}).keys())
        with ThreadPoolExecutor(max_workers=min(8, len(containers))) as pool:
            list(pool.map(lambda x: _remove_container(c, x["Id"], nets(x)), containers))
    nets = c.api.networks(filters=flt)
    phantom = []
    known = _phantoms_known(run_id)
    for n in nets:
        try:   # a network known to be stuck is tried once more (dockerd may have been restarted)
            _remove_network(c, n["Id"], attempts=3 if n["Id"] in known else 20)
        except PhantomEndpoints as exc:
            phantom.append(exc)
    if not phantom and known:
        L.run_file(run_id, PHANTOM_SUFFIX).unlink(missing_ok=True)
    vols = (c.api.volumes(filters=flt) or {}).get("Volumes") or []
    for v in vols:
        try:
            c.api.remove_volume(v["Name"], force=True)
        except Exception as exc:
            if "no such volume" not in str(exc).lower():
                raise
    if phantom:
        _warn_once(run_id, phantom)
    for name in backend_names():   # what a backend leaves on the host outside the engine
        for why in backend_class(name).host_leftovers(run_id, containers)[:1]:
            sys.stderr.write(f"drillkit: warning: {run_id}: {why}\n")
    return len(containers), len(nets) - len(phantom), len(vols)


def _run_labels(c) -> dict[str, dict[str, str]]:
    """run id -> the labels of its first object seen, for every labelled object on the engine."""
    runs: dict[str, dict[str, str]] = {}
    flt = {"label": L.RUN}
    for x in c.api.containers(all=True, filters=flt):
        runs.setdefault(x["Labels"][L.RUN], x.get("Labels") or {})
    for n in c.api.networks(filters=flt):
        runs.setdefault(n["Labels"][L.RUN], n.get("Labels") or {})
    for v in (c.api.volumes(filters=flt) or {}).get("Volumes") or []:
        runs.setdefault(v["Labels"][L.RUN], v.get("Labels") or {})
    return runs


def list_runs(c) -> dict[str, str]:
    """run id -> owner token, for every labelled object on the engine."""
    return {run: labels.get(L.OWNER, "") for run, labels in _run_labels(c).items()}


def collect(c, *, include_alive: bool = False, origin: str | None = None) -> GcReport:
    """Remove the objects of every run whose owning process is gone (or all runs, if asked); with
    ``origin`` (`labels.origin_of(report_dir)`) only runs made for that report folder — runs of
    other people, other checkouts, or made before runs carried an origin, are left alone."""
    report = GcReport()
    for run, labels in sorted(_run_labels(c).items()):
        owner = labels.get(L.OWNER, "")
        if origin is not None and labels.get(L.ORIGIN) != origin:
            continue
        if not include_alive and owner and L.owner_alive(owner, run):
            report.kept_alive.append(run)
            continue
        try:
            n_c, n_n, n_v = remove_run(c, run)
        except Exception as exc:  # one stuck object must not keep gc from the other runs
            report.failed.append(f"{run}: {str(exc).splitlines()[0][:160]}")
            continue
        # the run is gone: its lock and ad-hoc state go too; a stuck network's marker stays while it does
        L.forget_run(run, keep=(PHANTOM_SUFFIX,) if _phantoms_known(run) else ())
        report.runs.append(run)
        report.containers += n_c
        report.networks += n_n
        report.volumes += n_v
    return report

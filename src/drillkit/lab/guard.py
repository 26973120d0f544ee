"""The blast radius: a fault, a runbook step or a reset touches only nodes of the current run, and
never more of them than the drill allows. Asked of the backend (the node's labels), so it holds on
every backend."""

from __future__ import annotations

from typing import TYPE_CHECKING

from drillkit import labels as L
from drillkit.errors import BlastRadiusError, FaultError

if TYPE_CHECKING:  # pragma: no cover
    from drillkit.lab.environment import Environment
    from drillkit.lab.node import Node

__all__ = ["check_blast_radius"]


def check_blast_radius(env: "Environment", nodes: list["Node"], max_nodes: int | None = None) -> None:
    """Refuse any object that does not carry the current run's label, and more nodes than allowed."""
    if max_nodes is not None and len(nodes) > max_nodes:
        raise BlastRadiusError(f"fault would touch {len(nodes)} nodes, the drill allows {max_nodes}",
                               fix="narrow the target or raise the drill's max_nodes")
    for n in nodes:
        try:
            lbl = env.backend.labels(n)
        except Exception as exc:
            raise FaultError(f"{n}: container not found ({exc})") from None
        if lbl.get(L.RUN) != env.run_id:
            raise BlastRadiusError(f"{n.container_name} does not belong to run {env.run_id}",
                                   fix="faults only touch objects labelled with the current run")

"""A node: one replica of a service, what faults aim at and backends act on."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Node"]


@dataclass(frozen=True)
class Node:
    """One replica of a service. ``container_name`` is the name the backend knows the replica by
    (a container; on Swarm, the replica's service).

    Its ``name`` — in sentences, on the timeline, ``{node}`` in runbooks, its hostname and
    ``DRILLKIT_NODE`` — is ``<service>-<n>`` (``app-2``), except for a service of one replica
    (``single``), which keeps its own name (a service ``app-2`` is the node ``app-2``, not
    ``app-2-1``). Every node also answers to ``replica_name`` (``<service>-<n>``, always) as a DNS
    alias, and drillkit accepts it wherever a node is named, so configurations that say
    ``app-2-1`` keep working."""

    environment: str
    service: str
    replica: int
    zone: str
    container_name: str
    run: str
    single: bool = False      # the only replica of its service

    @property
    def name(self) -> str:
        return self.service if self.single else self.replica_name

    @property
    def replica_name(self) -> str:
        """``<service>-<n>``: the replica's alias on every network, also for a single replica."""
        return f"{self.service}-{self.replica}"

    @property
    def names(self) -> tuple[str, ...]:
        """Every name the node answers to: ``name``, then ``replica_name`` when it differs."""
        return tuple(dict.fromkeys((self.name, self.replica_name)))

    def __str__(self) -> str:
        return f"{self.environment}/{self.name}"

"""The Swarm backend: an environment as Docker Swarm services on several hosts of one machine.

    plan      where each replica, port and image goes (pure, decided before anything starts)
    cluster   the hosts: Docker-in-Docker swarm nodes, one per zone, made and removed per run
    backend   SwarmBackend: the lab's Backend interface on that swarm
"""

from drillkit.lab.backends.swarm.backend import SwarmBackend

__all__ = ["SwarmBackend"]

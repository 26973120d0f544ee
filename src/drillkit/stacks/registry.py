"""The registry stack (environments/registry): ground truth read straight from its database."""

from __future__ import annotations

from drillkit.lab.environment import Environment

__all__ = ["stored_move_ids", "psql"]


def psql(env: Environment, sql: str, *, service: str = "db", replica: int = 1) -> list[str]:
    """Run one query in the database container (no port is published for it); rows as text lines."""
    out = env.exec(env.node(service, replica),
                   ["psql", "-h", "127.0.0.1", "-U", "registry", "-d", "registry", "-At", "-c", sql])
    return [line for line in out.splitlines() if line.strip()]


def stored_move_ids(env: Environment) -> list[str]:
    """Ids of every registered move the database holds: the ground truth for the users' ledger."""
    return psql(env, "SELECT id FROM moves ORDER BY id")

"""Compatibility table: ground truths of the shipped stacks that do not declare theirs yet.

Ground truth is data now (`drillkit.truth`: readers declared in ``x-drillkit.ground_truth`` or a
scenario, or added by a stack plug-in). Until the shipped stacks declare theirs (phase 2), this table
keeps the registry's reader: ``stack -> (what, reader(env) -> ids)``. A declared reader of the same
name wins over it. The registry's reader is the same as the ``sql`` reader
``{kind: sql, on: db, query: SELECT id FROM moves ORDER BY id, user: registry, database: registry,
host: 127.0.0.1}`` (tests/lab/test_runbook_registry.py shows both give the same ids).
"""

from __future__ import annotations

from typing import Any, Callable

__all__ = ["GROUND_TRUTH", "read_ground_truth", "legacy_readers"]


def _registry_moves(env: Any) -> list[str]:
    from drillkit.stacks.registry import stored_move_ids
    return stored_move_ids(env)


# stack -> (what the ledger calls it, reader)
GROUND_TRUTH: dict[str, tuple[str, Callable[[Any], list[str]]]] = {
    "registry": ("writes", _registry_moves),
}


def legacy_readers(stack: str) -> dict[str, Callable[[Any], list[str]]]:
    """The compatibility readers of a stack, by name (empty for any stack not in the table)."""
    if stack not in GROUND_TRUTH:
        return {}
    what, reader = GROUND_TRUTH[stack]
    return {what: reader}


def read_ground_truth(stack: str, env: Any) -> tuple[str, list[str]]:
    """Deprecated: use `drillkit.truth.read_ground_truth` (declared readers first)."""
    what, reader = GROUND_TRUTH[stack]
    return what, list(reader(env))

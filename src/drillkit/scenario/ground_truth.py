"""What a stack holds after recovery, per stack: the ground truth the users' ledger is compared with.

A stack plugs in by adding ``stack -> (what, reader)``; ``reader(env)`` returns the ids it holds.
(Kept here until a stack-level registry exists; the readers themselves live in `drillkit.stacks`.)
"""

from __future__ import annotations

from typing import Any, Callable

__all__ = ["GROUND_TRUTH", "read_ground_truth"]


def _registry_moves(env: Any) -> list[str]:
    from drillkit.stacks.registry import stored_move_ids
    return stored_move_ids(env)


# stack -> (what the ledger calls it, reader)
GROUND_TRUTH: dict[str, tuple[str, Callable[[Any], list[str]]]] = {
    "registry": ("writes", _registry_moves),
}


def read_ground_truth(stack: str, env: Any) -> tuple[str, list[str]]:
    what, reader = GROUND_TRUTH[stack]
    return what, list(reader(env))

"""The `Stack`: a Compose environment together with its contract — what ``x-drillkit`` declares
beyond the lab (users, clients, roles, ground truth, runbooks, gates, config settings, the plug-in).

A `Stack` *is* the lab's `EnvironmentSpec` (so an `Environment` runs it as it runs any spec) with
the contract parsed and checked (`drillkit.stack.load_stack`). The lab never reads the contract; the
floors above ask for it with `stack_of(env)`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from drillkit.errors import ConfigError
from drillkit.lab.compose import EnvironmentSpec

__all__ = ["Stack", "stack_of", "CONTRACT_KEYS"]

# the keys of x-drillkit that are the stack contract (the lab reads the others: LAB_KEYS)
CONTRACT_KEYS = {"users", "clients", "plugin", "roles", "ground_truth", "runbooks", "config", "gates", "groups",
                 "reset"}


@dataclass(eq=False)
class Stack(EnvironmentSpec):
    """An environment with its contract: every name a drill or scenario may use of this stack."""

    # every section by name; the parsers of this floor make the values (the model imports none of
    # them: they all ask `stack_of` for the Stack they work on)
    users: dict[str, Any] = field(default_factory=dict)          # clients.UserKind
    clients: dict[str, Any] = field(default_factory=dict)        # clients.ClientSpec
    plugin: Any = None                                           # stack.plugin.StackPlugin (x-drillkit.plugin)
    roles: dict[str, Any] = field(default_factory=dict)          # stack.roles.RoleSpec
    ground_truth: dict[str, Any] = field(default_factory=dict)   # stack.truth.ReaderSpec
    runbooks: dict[str, Any] = field(default_factory=dict)       # stack.runbook.Runbook
    config: dict[str, Any] = field(default_factory=dict)         # stack.config.Setting
    gates: dict[str, Any] = field(default_factory=dict)          # stack.gate.Gate
    groups: dict[str, tuple[str, ...]] = field(default_factory=dict)  # group name -> its services
    reset: Any = None                                            # stack.runbook.Runbook: steps that bring the
                                                                 # stack's data back between runs (x-drillkit.reset)

    @classmethod
    def extending(cls, spec: EnvironmentSpec, **contract: Any) -> "Stack":
        """A Stack with ``spec``'s lab fields and the given contract sections."""
        lab = {f.name: getattr(spec, f.name) for f in fields(EnvironmentSpec)}
        return cls(**lab, **contract)


def stack_of(env_or_spec: Any) -> Stack:
    """The Stack an environment runs (``env.spec``), or a spec's. A spec loaded by the lab alone
    (`drillkit.lab.compose.load_environment`) has an empty contract — unless its Compose file
    declares one, which then must be loaded with `drillkit.stack.load_stack` (refused here rather
    than silently ignored)."""
    spec = getattr(env_or_spec, "spec", env_or_spec)
    if isinstance(spec, Stack) or not isinstance(spec, EnvironmentSpec):
        return spec     # a Stack, or something that offers the same attributes (a test's stand-in)
    declared = sorted(k for k in (getattr(spec, "extensions", None) or {}) if k in CONTRACT_KEYS)
    if declared:
        raise ConfigError(f"environment {spec.name!r} was loaded without its stack contract "
                          f"(x-drillkit.{declared[0]})", file=str(spec.file),
                          fix="load it with drillkit.stack.load_stack(...) instead of load_environment")
    return Stack.extending(spec)

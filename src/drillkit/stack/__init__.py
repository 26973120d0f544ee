"""The stack contract: everything ``x-drillkit`` declares beyond the lab, as one typed `Stack`.

    load_stack(path, switches)   Compose file (through the lab) + x-drillkit -> Stack
    stack_of(env)                the Stack an environment runs
    StackPlugin                  what a stack adds in code (docs/plugins.md)
    Target                       which nodes: service, replica, zone, random member, role
"""

from drillkit.stack.contract import load_stack
from drillkit.stack.model import Stack, stack_of
from drillkit.stack.plugin import StackPlugin, plugin_for
from drillkit.stack.target import Target
from drillkit.stack.truth import GroundTruth

__all__ = ["load_stack", "Stack", "stack_of", "StackPlugin", "plugin_for", "Target", "GroundTruth"]

"""Python hooks for doorlab: a ground-truth reader (x-drillkit.ground_truth.computed) and a runbook
step function (tests/lab/test_stack_contract.py) — the hooks for what data cannot express."""


def booking_ids(env):
    """Ids of the bookings table, read by hand through the lab's exec on whichever node is primary."""
    from drillkit.stack.roles import resolve_role
    node = resolve_role(env, "primary")
    out = env.exec(node, ["psql", "-h", "127.0.0.1", "-U", "registry", "-d", "registry", "-Atc",
                          "SELECT id FROM bookings ORDER BY id"])
    return {"ids": [line for line in out.splitlines() if line.strip()]}


def note(env, timeline, text="hook ran"):
    """A runbook step in Python: writes a note on the timeline and says which nodes run."""
    running = [n.name for n in env.all_nodes() if env.is_running(n)]
    timeline.note(f"{text}: {len(running)} nodes running")
    return f"{len(running)} nodes running"

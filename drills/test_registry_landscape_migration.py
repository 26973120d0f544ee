"""The 11 April 2019 landscape migration, rehearsed (SCENARIOS.md, incident 1).

Over a weekend the registry moved to a rebuilt landscape; "the configuration was carried over and
tested, the tests passed". On the Thursday morning response times grew and new logins became
impossible while clerks already logged in kept working, slowly.

The drill:

1. the old landscape in steady state: a few clerks at work (before 8:00); the database is a network
   hop away (15 ms round trip on the link app-db, in the old landscape as in the new);
2. the migration: every app node in turn is drained, replaced by the new landscape's container with
   the configuration carried over (the switch ``migration_pool``: ``sound`` = the old pool, or
   ``small`` = DEFECT, the pool of 1 connection that drifted in), healthy, back in rotation — and
   ``config_parity`` compares what each node runs with (read inside the containers with testinfra)
   before and after: it names a drifted setting *before* any load could find it;
3. the Thursday morning: many more clerks at work and clerks logging in (newcomers: a fresh login
   every time), for MORNING_S seconds;
4. the verdicts: availability per population during the morning (the phase ``observe``: existing
   sessions ≥ 95 %, new logins ≥ 90 %) and the contrast sentence, which names the 11 April pattern
   when it happens ("new logins failed ... while existing sessions stayed available ... but slow");
   the logged-in clerks' p95 in the morning at most 3× the one before the migration.

Heal: the migration rolled back node by node (the old landscape's configuration).

What the lab measured (2 cores, 8 -> 24 clerks and 24 logging in): carried over sound, both
populations 100 % and the clerks' p95 1.1-1.2x the steady state; carried over ``small``, config_parity
names ``pool: old sound, new small`` before the morning, and the morning finds it as slowness (p95
5-7x), not as failed logins: in this registry a login waits in the same pool queue as a read, and a
clerk gives up (1.5 s) long before a login does (8 s), so more load fails logged-in clerks first
(48 logging in: existing sessions 96.1 %, new logins 100 %; with identity's pool drifted to 1 as well,
the same). The source's "new logins impossible while logged-in users kept working" needs a login path
that queues apart from the clerks' reads; the contrast verdict would then say so in the source's words.
"""

from __future__ import annotations

import pytest

from drillkit import verdicts as V
from drillkit.verdicts.base import FAIL, PASS, UNKNOWN, Verdict
from drillkit.faults.base import Target
from drillkit.faults.change import RollingUpgrade
from drillkit.faults.link import Latency

EXISTING, NEW_LOGINS = "existing-sessions", "new-logins"
DB_RTT_MS = 15             # the database on its own server: a network hop (both landscapes)
BEFORE_8 = 8               # clerks at work before the morning
MORNING_CLERKS = 16        # more clerks at work ...
MORNING_NEWCOMERS = 24     # ... and clerks logging in (a fresh login every iteration)
MORNING_S = 12.0
MINIMUMS = {EXISTING: 0.95, NEW_LOGINS: 0.90}
SLOWDOWN_MAX = 3.0         # logged-in clerks' p95 in the morning at most this many times the one before


def landscape_migration(drill, pool: str) -> list:
    """The drill with ``pool`` carried over to the new landscape; returns every verdict (raises
    DrillFailed, from ``drill.check``, when one fails). The config_parity verdict is judged right after
    the migration, before the morning load, and kept in the timeline in that order."""
    tl = drill.timeline
    # the old landscape's settings, read before anybody works (reading takes docker execs: outside the
    # steady state, whose answer times are the morning's reference)
    drill.config_snapshot(["app"], moment="before")
    with drill.phase("steady"):
        rtt = drill.inject(Latency(link="app-db", latency=DB_RTT_MS))
        drill.users("clerks", BEFORE_8, name="clerks-before-8")
        drill.wait(3.0)
        drill.check(V.availability(tl, population=EXISTING, minimum=0.99, label="steady state"))
    migration = RollingUpgrade(Target("app"), environment={"POOL": pool}, drain="drain-node",
                               undrain="undrain-node", drain_wait="500ms")
    with drill.phase("inject"):                 # the migration weekend
        drill.inject(migration)
        drill.config_snapshot(["app"], moment="after")
    parity = V.config_parity(tl, "app", at="across")
    drill.progress(f"before the morning load: {parity.sentence}")
    tl.note(f"before the morning load: {parity.sentence}")
    with drill.phase("observe"):                # the Thursday morning
        # they arrive over the morning: nobody waits for them to be logged in before the clock runs
        drill.users("clerks", MORNING_CLERKS, name="clerks-morning", first=BEFORE_8 + 1, require_all=False,
                    wait_ready=1.0)
        drill.users("newcomers", MORNING_NEWCOMERS, require_all=False, wait_ready=1.0)
        drill.wait(MORNING_S)
    with drill.phase("recover"):
        drill.stop_traffic()
        drill.heal(migration)                   # back to the old landscape's configuration
        drill.heal(rtt)
    with drill.phase("verify"):
        verdicts = [parity, *V.availability_by_population(tl, MINIMUMS, phase="observe"), slowdown(tl)]
        return drill.check(*verdicts)


def slowdown(tl) -> Verdict:
    """The logged-in clerks' p95 in the morning against the steady state's (same drill, same machine):
    "available but slow" is a ratio, not a number of milliseconds."""
    lat = V.latency_by_phase(tl, EXISTING, phases=("steady", "observe"))
    phases = lat.details.get("phases", {})
    before, morning = (phases.get(p, {}).get("p95_ms") for p in ("steady", "observe"))
    target = f"≤ {SLOWDOWN_MAX:g}× the steady state"
    if not before or not morning:
        return Verdict("morning slowdown", UNKNOWN, "logged-in clerks' answers in the morning: not measured",
                       target=target, details=phases)
    ratio = morning / before
    return Verdict("morning slowdown", FAIL if ratio > SLOWDOWN_MAX else PASS,
                   f"logged-in clerks' answers in the morning: p95 {morning:.0f} ms, {ratio:.1f}× the {before:.0f} ms "
                   f"before the migration (target {target})", value=round(ratio, 2), unit="×", target=target,
                   details=phases)


@pytest.mark.drill("registry", fault="landscape migration (rolling_upgrade of every app node)",
                   scenario="landscape migration, then the morning load: config parity and logins",
                   source="SCENARIOS.md incident 1: registry outage of 11 April 2019 after a landscape migration",
                   severity="critical")
def test_registry_landscape_migration(drill):
    """The migration carries the switch ``migration_pool`` over; sound: parity holds and both
    populations stay available through the morning."""
    landscape_migration(drill, drill.env.spec.chosen.get("migration_pool", "sound"))

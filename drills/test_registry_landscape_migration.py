"""The 11 April 2019 landscape migration, rehearsed (SCENARIOS.md, incident 1).

Over a weekend the registry moved to a rebuilt landscape; "the configuration was carried over and
tested, the tests passed". On the Thursday morning response times grew and new logins became
impossible while clerks already logged in kept working, slowly.

The drill:

1. the old landscape in steady state: a few clerks at work (before 8:00); the database is a network
   hop away (25 ms round trip on the link app-db, in the old landscape as in the new);
2. the migration: every app node in turn is drained, replaced by the new landscape's container with
   the datasource configuration carried over (the switch ``migration_pool``: ``sound`` = the old
   landscape's pools, or ``small`` = DEFECT, a test landscape's pools that drifted in: the clerks' pool
   1 connection, ``POOL``, and the login realm's pool 2, ``LOGIN_POOL``), healthy, back in rotation —
   and ``config_parity`` compares what each node runs with (read inside the containers with
   testinfra) before and after: it names the drifted settings *before* any load could find them;
3. the Thursday morning: more clerks arrive one after another and log in (the office fills up),
   then clerks logging in all at once (newcomers: a fresh login every time), for MORNING_S seconds;
4. the verdicts: availability per population during the morning (the phase ``observe``: existing
   sessions ≥ 95 %, new logins ≥ 90 %) and the contrast sentence, which names the 11 April pattern
   when it happens ("new logins failed ... while existing sessions stayed available ... but slow", slow
   against the steady state: the migration itself, under load, is no reference);
   the logged-in clerks' p95 in the morning at most 3× the one before the migration.

Heal: the migration rolled back node by node (the old landscape's configuration).

Why both symptoms, and why only under load: a login queues apart from the clerks' reads, on the
login realm's own datasource (registry_app.py, ``LOGIN_POOL``), as in a Java app server. A login holds
one of its connections for the whole login (the clerk, the identity service's check) and takes a
second one for the clerk's profile, a transaction of its own. A pool of 2 serves one login at a time,
so a test login passes; two logins at once on a node each hold one connection and wait for the
other's (pool locking), and every login queued behind them gets a 503 after 2 s. The clerks' reads
never touch that pool: they keep working, slowly, on their own pool of 1.

What the lab measured (2 cores; 8 -> 24 clerks at work, 24 logging in, DB 25 ms away; the pair in
tests/lab/test_registry_change_drills.py, ~43 s each). Carried over sound: config parity "6 settings
agree", both populations 100 % (945 clerks' requests, 285 logins), the clerks' p95 1.8x the steady
state (0.7-1.0x at 20/15 ms). Carried over ``small``: before the morning, "config parity: 2 settings
differ — pool: old sound, new small (app-1, app-2, app-3, app-4, before vs after the change); login
pool: old sound, new small (...)"; the morning: new logins 31.1 % of 106 (73 failed, all 503 after
the login pool's 2 s; those that got in are mostly the 16 clerks arriving one by one — of the rush about
1 in 5), existing sessions 100 % of 530 but slow, p95 5.3x the steady state; the contrast as printed:
"new logins failed for 13.4 s while existing sessions stayed available (100.0%) but slow (p95 594 ms,
5.3× the 113 ms before) — the pattern of the 11 April 2019 outage". The test's own count of failed
logins (the timeline's probes in the morning): 73 of 106, as the verdict's. Earlier settings (20 ms,
12 s): new logins 28-31 %, clerks 100 %, 3.4x.
"""

from __future__ import annotations

import pytest

from drillkit import verdicts as V
from drillkit.verdicts.base import FAIL, PASS, UNKNOWN, Verdict
from drillkit.faults.base import Target
from drillkit.faults.change import RollingUpgrade
from drillkit.faults.link import Latency

EXISTING, NEW_LOGINS = "existing-sessions", "new-logins"
DB_RTT_MS = 25             # the database on its own server, a network hop away (both landscapes)
WARM_UP_S = 1.0            # the clerks' first answers open the pools: not part of the reference
BEFORE_8 = 8               # clerks at work before the morning
MORNING_CLERKS = 16        # more clerks at work (they arrive one after another) ...
MORNING_NEWCOMERS = 24     # ... and clerks logging in (a fresh login every iteration)
MORNING_S = 10.0
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
    # the database a hop away, and the clerks at work; their first answers open the nodes' pools
    # (connections over the slow link): a warm-up, outside the steady state that is the reference
    rtt = drill.inject(Latency(link="app-db", latency=DB_RTT_MS))
    drill.users("clerks", BEFORE_8, name="clerks-before-8")
    drill.wait(WARM_UP_S)
    with drill.phase("steady"):
        drill.wait(3.0)
        drill.check(V.availability(tl, population=EXISTING, minimum=0.99, label="steady state"))
    # the datasource settings carried over: the clerks' pool and the login realm's pool
    migration = RollingUpgrade(Target("app"), environment={"POOL": pool, "LOGIN_POOL": pool}, drain="drain-node",
                               undrain="undrain-node", drain_wait="500ms")
    with drill.phase("inject"):                 # the migration weekend
        drill.inject(migration)
        drill.config_snapshot(["app"], moment="after")
    parity = V.config_parity(tl, "app", at="across")
    drill.progress(f"before the morning load: {parity.sentence}")
    tl.note(f"before the morning load: {parity.sentence}")
    with drill.phase("observe"):                # the Thursday morning
        # the office fills up: clerks arrive one after another, each logs in and starts work (a login
        # that fails is retried by the clerk and counts as a failed new login)
        for i in range(MORNING_CLERKS):
            drill.users("clerks", 1, name=f"clerks-morning-{i + 1:02d}", first=BEFORE_8 + 1 + i, require_all=False,
                        wait_ready=2.0)
        # then the rush: clerks logging in at once; nobody waits for them before the clock runs
        drill.users("newcomers", MORNING_NEWCOMERS, require_all=False, wait_ready=1.0)
        drill.wait(MORNING_S)
    with drill.phase("recover"):
        drill.stop_traffic()
        drill.heal(migration)                   # back to the old landscape's configuration
        drill.heal(rtt)
    with drill.phase("verify"):
        verdicts = [parity, *V.availability_by_population(tl, MINIMUMS, phase="observe", baseline="steady"), slowdown(tl)]
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
    """The migration carries the switch ``migration_pool`` over (the clerks' and the login realm's
    pools); sound: parity holds and both populations stay available through the morning."""
    landscape_migration(drill, drill.env.spec.chosen.get("migration_pool", "sound"))

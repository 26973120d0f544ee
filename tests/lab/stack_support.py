"""What drillkit's own lab tests need to poke at the shipped stacks directly — never what a drill needs
(drills use the stack contract: user kinds, ground truths, roles, runbooks of each Compose file).

The tests' *independent counts* come from here: rows read straight from a database with ``psql``,
keys counted in Redis, HTTP calls made by hand — so that a verdict's figure can be checked against
a count the verdict did not make.
"""

from __future__ import annotations

import http.client
import importlib.util
import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from drillkit.errors import LabError

ROOT = Path(__file__).resolve().parents[2]


def plugin_module(stack: str, file: str = "drill_plugin.py") -> Any:
    """A stack's own Python module beside its Compose file (environments/<stack>/<file>)."""
    path = ROOT / "environments" / stack / file
    name = f"stack_{stack}_{path.stem}"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def call(base_url: str, method: str, path: str, body: Any = None, *, token: str | None = None,
         node: str | None = None, raw: bytes | None = None, headers: dict | None = None,
         timeout: float = 10.0) -> tuple[int, Any, dict]:
    """One request to the entry point (base_url = env.url()). ``node`` pins it to an app node through the
    lb's stickiness cookie (``SRV=app-<n>``); ``raw`` sends bytes as the body as they are.
    Returns (status, JSON body or text, headers with lower-case names)."""
    u = urlsplit(base_url)
    assert u.hostname == "127.0.0.1", base_url           # the lab's published port only
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    hdrs = dict(headers or {})
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    if data is not None and not any(k.lower() == "content-type" for k in hdrs):
        hdrs["Content-Type"] = "application/json"
    if token:
        hdrs["Authorization"] = f"Bearer {token}"
    if node:
        hdrs["Cookie"] = f"SRV={node}"
    try:
        conn.request(method, path, body=data, headers=hdrs)
        resp = conn.getresponse()
        payload = resp.read()
        out_headers = {k.lower(): v for k, v in resp.getheaders()}
        status = resp.status
    finally:
        conn.close()
    try:
        parsed: Any = json.loads(payload)
    except ValueError:
        parsed = payload.decode("utf-8", "replace")
    return status, parsed, out_headers


def login(base_url: str, user: str = "clerk-001", *, node: str | None = None, password: str = "drill",
          retry_s: float = 20.0) -> str:
    """Log in and return the token. A 502-504 (the stack busy: the lab machine is shared) is retried for
    up to ``retry_s``; any other answer but 200 raises LabError."""
    end = time.monotonic() + retry_s
    while True:
        status, body, _ = call(base_url, "POST", "/login", {"user": user, "password": password}, node=node)
        if status == 200 and isinstance(body, dict) and "token" in body:
            return body["token"]
        if status not in (502, 503, 504) or time.monotonic() > end:
            raise LabError(f"login of {user} answered {status}: {str(body)[:200]}")
        time.sleep(0.5)


def psql(env: Any, sql: str, *, database: str, user: str | None = None, service: str = "db", replica: int = 1,
         check: bool = True) -> list[str]:
    """One query in a database container (no port is published for it); rows as ``|``-separated lines."""
    out = env.exec(env.node(service, replica),
                   ["psql", "-h", "127.0.0.1", "-U", user or database, "-d", database, "-At", "-F", "|", "-v",
                    "ON_ERROR_STOP=1", "-c", sql], check=check)
    return [line for line in out.splitlines() if line.strip()]


# --- registry -------------------------------------------------------------------------------------
DATABASES = ("db", "db-replica")


def registry_psql(env: Any, sql: str, *, service: str = "db", replica: int = 1, user: str = "registry",
                  check: bool = True) -> list[str]:
    return psql(env, sql, database="registry", user=user, service=service, replica=replica, check=check)


def stored_move_ids(env: Any, *, service: str = "db") -> list[str]:
    """Ids of every registered move a registry database holds, read directly (not through a reader)."""
    return registry_psql(env, "SELECT id FROM moves ORDER BY id", service=service)


def replication_status(env: Any) -> dict:
    """The registry primary's view of its standby: {"state", "sync_state", "replay_lag_bytes"} or {}."""
    rows = registry_psql(env, "SELECT state, sync_state, pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)"
                              " FROM pg_stat_replication WHERE application_name = 'db_replica'", user="postgres")
    if not rows:
        return {}
    state, sync_state, lag = rows[0].split("|")
    return {"state": state, "sync_state": sync_state, "replay_lag_bytes": int(float(lag or 0))}


def primaries(env: Any, *, answer_within: float = 15.0) -> list[str]:
    """The registry database nodes that run and are not in recovery: each one would take writes (two is
    split brain). A running node that does not answer within ``answer_within`` s (still starting) is
    counted too: it may come up as a primary. Independent of the role ``primary``'s own check."""
    found = []
    for service in DATABASES:
        for node in env.nodes.get(service, []):
            end = time.monotonic() + answer_within
            while env.is_running(node):
                rows = registry_psql(env, "SELECT NOT pg_is_in_recovery()", service=service, replica=node.replica,
                                     user="postgres", check=False)
                if rows[-1:] in (["t"], ["f"]):
                    if rows[-1] == "t":
                        found.append(node.name)
                    break
                if time.monotonic() > end:
                    found.append(node.name)
                    break
                time.sleep(0.5)
    return found


def promote_replica(env: Any, timeline: Any = None) -> Any:
    """The registry's runbook ``promote-replica`` (data in its compose.yaml), run now; its result
    (seconds and detail per step). A failed step raises RunbookFailed."""
    from drillkit.stack.runbook import run_runbook
    from drillkit.timeline import Timeline
    return run_runbook(env, timeline or Timeline(), env.spec.runbooks["promote-replica"])


def store_count(env: Any, pattern: str) -> int:
    """How many keys of the registry's session store match ``pattern`` (``session:*``, ``draft:*``)."""
    out = env.exec(env.node("sessions"), ["sh", "-c", f"redis-cli --scan --pattern '{pattern}' | wc -l"])
    return int(out.strip().splitlines()[-1])


_EXPIRE_DRAFT = """
import json, sys, redis
r = redis.Redis(host="sessions", port=6379, socket_timeout=5)
key = "draft:" + sys.argv[1]
d = json.loads(r.get(key))
d["expires_at"] = 0
r.set(key, json.dumps(d), keepttl=True)
print("ok")
"""


def expire_draft(env: Any, draft_id: str) -> None:
    """Make a registry draft expired now (as if DRAFT_TTL had passed): it then answers 410."""
    env.exec(env.node("app", 1), ["python3", "-c", _EXPIRE_DRAFT, draft_id])


def latency_by_node_group(base_url: str, tokens: dict[str, str], groups: dict[str, set[str]], *,
                          clients: int = 16, duration: float = 5.0, path: str = "/residents?q=Sch",
                          timeout: float = 10.0) -> dict:
    """``clients`` concurrent clients for ``duration`` s, client i pinned to node sorted(tokens)[i % n]
    (its token from ``tokens``), each sending GET ``path`` back to back. Latency per group of nodes:
    {group: {"n", "p50_ms", "p95_ms"}, "errors": n}. Bounded in clients (≤ 64) and time (≤ 60 s)."""
    import threading
    if not 0 < clients <= 64 or not 0 < duration <= 60:
        raise ValueError("clients 1..64, duration 0..60 s")
    nodes = sorted(tokens)
    lat: dict[str, list[float]] = {g: [] for g in groups}
    errors: list = []
    lock = threading.Lock()
    end = time.monotonic() + duration

    def run(i: int) -> None:
        node = nodes[i % len(nodes)]
        group = next(g for g, members in groups.items() if node in members)
        while time.monotonic() < end:
            t = time.monotonic()
            try:
                status = call(base_url, "GET", path, token=tokens[node], node=node, timeout=timeout)[0]
            except OSError as exc:
                status = type(exc).__name__
            with lock:
                if status == 200:
                    lat[group].append(time.monotonic() - t)
                else:
                    errors.append(status)

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(clients)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(duration + timeout + 5)
    out: dict = {}
    for g, values in lat.items():
        values.sort()
        if values:
            out[g] = {"n": len(values), "p50_ms": round(1000 * values[len(values) // 2]),
                      "p95_ms": round(1000 * values[min(len(values) - 1, int(len(values) * 0.95))])}
        else:
            out[g] = {"n": 0, "p50_ms": None, "p95_ms": None}
    out["errors"] = len(errors)
    if errors:                                   # what failed, for the assertion's message
        out["error_kinds"] = {str(k): v for k, v in sorted(Counter(map(str, errors)).items())}
    return out


# --- booking --------------------------------------------------------------------------------------
def booking_psql(env: Any, sql: str) -> list[str]:
    return psql(env, sql, database="booking")


def booking_rows(env: Any) -> dict[str, Any]:
    """Every booking row read directly: {"active": {id: slot}, "cancelled": [ids]}."""
    active, cancelled = {}, []
    for line in booking_psql(env, "SELECT id, slot_id, cancelled_at IS NOT NULL FROM bookings ORDER BY id"):
        i, slot, gone = line.split("|")
        if gone == "t":
            cancelled.append(i)
        else:
            active[i] = slot
    return {"active": active, "cancelled": cancelled}


def booking_counts(env: Any) -> dict[str, int]:
    """Rows per table and double-booked slots: for tests that check nothing was written."""
    line = booking_psql(env, """SELECT (SELECT count(*) FROM bookings), (SELECT count(*) FROM holds),
                               (SELECT count(*) FROM bookings WHERE cancelled_at IS NULL),
                               (SELECT count(*) FROM (SELECT slot_id FROM bookings
                                  WHERE cancelled_at IS NULL GROUP BY slot_id
                                  HAVING count(*) > 1) d)""")[0]
    b, h, a, d = (int(x) for x in line.split("|"))
    return {"bookings": b, "holds": h, "active": a, "double_booked_slots": d}


# --- identity -------------------------------------------------------------------------------------
def identity_psql(env: Any, sql: str, service: str = "db") -> list[str]:
    return psql(env, sql, database="identity", service=service)


def stored_pin_requests(env: Any) -> list[str]:
    return identity_psql(env, "SELECT id FROM pin_resets ORDER BY id")


def login_counts(env: Any) -> dict[str, Any]:
    """Successful and refused logins the identity database recorded, in total and per node."""
    out: dict[str, Any] = {"ok": 0, "refused": 0, "by_node": {}}
    for line in identity_psql(env, "SELECT coalesce(node, '?'), ok, count(*) FROM logins GROUP BY 1, 2 ORDER BY 1, 2"):
        node, ok, n = line.split("|")
        key = "ok" if ok == "t" else "refused"
        out[key] += int(n)
        out["by_node"].setdefault(node, {"ok": 0, "refused": 0})[key] += int(n)
    return out


def burst(base_url: str, slot_id: int, count: int = 20, *, timeout: float = 5.0, prefix: str = "rush") -> list[dict]:
    """``count`` citizens try to hold and book the *same* booking slot at the same instant (a barrier
    releases them together). One dict per citizen: {"hold", "book", "id"} (statuses; the booking id
    when acknowledged) — more than one id is a double booking. Bounded: two requests each."""
    import threading
    if not 1 <= count <= 100:
        raise ValueError(f"burst count must be 1..100, got {count}")
    gate = threading.Barrier(count)
    out: list[dict] = [{} for _ in range(count)]

    def go(k: int) -> None:
        try:
            gate.wait(timeout=10)
        except threading.BrokenBarrierError:
            pass
        res = out[k]
        try:
            status, body, _ = call(base_url, "POST", "/holds", {"slot_id": slot_id, "citizen": f"{prefix}-{k:02d}"},
                                   timeout=timeout)
            res["hold"] = status
            if status == 201:
                status, body, _ = call(base_url, "POST", "/bookings", {"hold_id": body["hold_id"]}, timeout=timeout)
                res["book"] = status
                if status == 201:
                    res["id"] = str(body["id"])
        except OSError as exc:
            res["error"] = type(exc).__name__

    threads = [threading.Thread(target=go, args=(k,), daemon=True) for k in range(count)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=3 * timeout + 10)
    return out

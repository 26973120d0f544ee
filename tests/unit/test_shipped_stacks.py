"""The shipped stacks on the stack contract, exactly as a user's stack would be (nothing starts here).

Each stack's users, ground truths, roles and runbooks are data in its compose.yaml; what data cannot
say is in the registry's plug-in (environments/registry/drill_plugin.py). These tests pin what the
data says against what the removed code classes did (Clerk, Newcomer, Citizen, IdentityUser,
FormClerk; drillkit.stacks.*), prove the plug-in's form clerk against a small service on 127.0.0.1
(drafts lost counted both ways against the service's own count), and check that what the verdicts
may ask of a scenario comes from the contract alone.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from drillkit.clients import ClientPool, CodeKind
from drillkit.errors import ConfigError
from drillkit.scenario.model import load_scenario
from drillkit.stack import load_stack
from drillkit.stack.kinds import lookup
from drillkit.stack.plugin import plugin_for
from drillkit.timeline import Timeline

ROOT = Path(__file__).resolve().parents[2]
REGISTRY, BOOKING, IDENTITY = (ROOT / "environments" / n / "compose.yaml" for n in ("registry", "booking", "identity"))


@pytest.fixture(scope="module")
def registry():
    return load_stack(REGISTRY)


# -- what each stack declares -------------------------------------------------------------------------
def test_registry_users_are_the_old_clerks_and_newcomers_as_data(registry):
    clerks, busy, newcomers = (registry.users[k] for k in ("clerks", "busy-clerks", "newcomers"))
    # Clerk: clerk-001..., login through identity (10 s), a read, every 4th a move; 401 = session lost
    assert clerks.client_name(0) == "clerk-001" and clerks.login.request.timeout == 10.0
    assert clerks.populations == ("new-logins", "existing-sessions") and clerks.has_sessions
    assert clerks.session_rejected == (401,) and clerks.think == 0.2
    assert clerks.timeout == 1.5        # under the lb's 2-s redispatch path, by 0.5 s (see compose.yaml)
    assert [s.every for s in clerks.steps] == [None, 4] and [s.every for s in busy.steps] == [None, 2]
    move = clerks.steps[1]
    assert (move.name, move.write.op, move.write.ledger) == ("POST /moves", "move", "writes")
    assert clerks.steps[0].name == "GET /residents/{id}"
    # Newcomer: clerk-101..., a fresh login every iteration (new-logins), its read and logout apart
    assert newcomers.client_name(0) == "clerk-101" and newcomers.login.every_iteration
    assert newcomers.populations == ("new-logins", "newcomers") and not newcomers.has_sessions
    assert newcomers.timeout == 8.0 and newcomers.think == 0.5


def test_registry_login_pool_is_a_switch_and_a_setting_config_parity_reads(registry):
    """The login realm's own pool (the 11 April drill's drift): sound by default, LOGIN_POOL on the app
    nodes, declared for config_parity next to the clerks' pool."""
    assert registry.services["app"].environment["LOGIN_POOL"] == "sound"
    assert registry.switches["login_pool"].default == "sound" and registry.switches["login_pool"].choices == ("sound", "small")
    assert load_stack(REGISTRY, {"login_pool": "small"}).services["app"].environment["LOGIN_POOL"] == "small"
    config = list(registry.config)
    assert config[:4] == ["pool", "pool size", "login pool", "login pool size"]
    assert registry.switches["migration_pool"].default == "sound"


def test_registry_ground_truth_role_and_runbook(registry):
    writes = registry.ground_truth["writes"]
    assert writes.kind == "sql" and writes.attrs["on"].role == "primary"
    assert writes.attrs["query"] == "SELECT id FROM moves ORDER BY id"
    steps = [s.name for s in registry.runbooks["promote-replica"].steps]
    # everything promote_replica() did in code, in its order
    assert steps == ["fence", "promote", "mark-promoted", "writable", "sequences", "repoint", "apps-healthy", "lb-up"]
    seq = registry.runbooks["promote-replica"].steps[4]
    assert "+ 1000000" in seq.attrs["command"][-1] and seq.attrs["target"].service == "db-replica"
    lb_up = registry.runbooks["promote-replica"].steps[-1]
    assert lb_up.kind == "wait_until" and lb_up.attrs["target"].service == "app"
    assert "$DRILLKIT_NODE" in lb_up.attrs["command"][-1] and lb_up.attrs["expect_output"].search("UP 1/2")


def test_registry_plugin_adds_form_clerks_and_the_upgrade_step(registry):
    plug = plugin_for(registry)
    assert set(plug.users) == {"form-clerks"} and set(plug.steps) == {"upgrade-node"}
    form = lookup(registry, "form-clerks", "users")
    assert isinstance(form, CodeKind) and form.name == "form-clerks"
    assert form.populations == ("new-logins", "existing-sessions") and form.session_populations == ("existing-sessions",)
    assert form.ledgers == ("writes",) and form.think == 0.3
    assert form.client(0).name == "clerk-101" and form.with_options(first=7).client(0).name == "clerk-007"
    assert form.with_options(timeout=4.0).client(0).timeout == 4.0


def test_booking_citizens_and_ground_truths_as_data():
    spec = load_stack(BOOKING)
    assert spec.plugin is None                              # all data: no plug-in
    citizens = spec.users["citizens"]
    assert citizens.client_name(0) == "citizen-0001" and citizens.populations == ("citizens",)
    assert citizens.sequence and not citizens.has_sessions and citizens.login is None
    book = citizens.steps[2]
    assert book.write.ledger == "bookings" and set(book.write.attrs) == {"slot", "office"}
    assert book.write.acknowledged(201) and not book.write.acknowledged(200)          # 200: a replay
    assert book.request.counts_ok(409) and book.request.counts_ok(410) and not book.request.counts_ok(500)
    assert spec.users["citizens-any-day"].populations == ("citizens",)
    assert "slot_id AS slots" in spec.ground_truth["bookings"].attrs["query"]         # double_bookings' column
    assert "cancelled_at IS NULL" in spec.ground_truth["bookings"].attrs["query"]
    assert spec.ground_truth["booking-ids"].attrs["query"] == "SELECT id FROM bookings ORDER BY id"


def test_identity_users_and_ground_truths_as_data():
    spec = load_stack(IDENTITY)
    logins, pins = spec.users["logins"], spec.users["pin-requests"]
    assert logins.populations == ("new-logins",) and pins.populations == ("pin-requests",)
    assert logins.client_name(0) == "login-001" and pins.client_name(0) == "pin-001"
    w = pins.steps[0].write
    assert (w.op, w.ledger, set(w.attrs)) == ("pin-reset", "pin-resets", {"user"})
    assert set(spec.ground_truth) == {"pin-resets", "logins"}


# -- what verdicts may ask of a scenario: from the contract only ------------------------------------------
def scenario(tmp_path, env: Path, body: str):
    f = tmp_path / "s.yaml"
    f.write_text(f"scenario: t\nenvironment: {env}\nprobe: false\nfaults: [{{kind: kill, target: app}}]\n{body}")
    return load_scenario(f)


def test_facts_come_from_the_kinds_and_readers(tmp_path):
    sc = scenario(tmp_path, REGISTRY, "users: {form-clerks: 3, newcomers: 2}\n"
                                      "expect: {sessions_lost: 0, writes_lost: 0}\n")
    assert sc.session_populations == ("existing-sessions",)                    # the plug-in kind holds sessions
    sc = scenario(tmp_path, BOOKING, "users: {citizens: 5}\nexpect: {double_bookings: 0, "
                                     "writes_lost: {max: 0, ground_truth: bookings}}\n")
    assert [t.name for t in sc.traffic] == ["citizens"]
    with pytest.raises(ConfigError, match="no users hold sessions"):
        scenario(tmp_path, BOOKING, "users: {citizens: 5}\nexpect: {sessions_lost: 0}\n")
    with pytest.raises(ConfigError, match="no users write"):
        scenario(tmp_path, REGISTRY, "users: {newcomers: 2}\nexpect: {writes_lost: 0}\n")
    with pytest.raises(ConfigError, match="unknown user kind 'citizens'.*have: clerks, busy-clerks, newcomers, form-clerks"):
        scenario(tmp_path, REGISTRY, "users: {citizens: 5}\n")


def test_every_shipped_scenario_validates():
    files = sorted((ROOT / "scenarios").glob("*.yaml"))
    assert files
    for f in files:
        load_scenario(f)


# -- the plug-in's form clerk, against a small service -------------------------------------------------
class FormService:
    """The registry's form endpoints, in memory; ``lose`` makes every open draft answer 410 once,
    ``set_back`` sets that many drafts back one step (as a PUT the clerk gave up on, landing late)."""

    def __init__(self):
        self.drafts: dict[str, int] = {}
        self.moves: list[str] = []
        self.lost: list[str] = []
        self.lose = False
        self.set_back = 0                  # drafts to set back one step (a late request), one each
        self.set_backs: list[str] = []
        self.lock = threading.Lock()
        svc = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def answer(self, status, body):
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.send_header("X-Drillkit-Node", "app-1")
                self.end_headers()
                self.wfile.write(raw)

            def body(self):
                return json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")

            def draft_of(self):
                d = self.path.split("/")[3]
                with svc.lock:
                    if svc.lose and d in svc.drafts:
                        del svc.drafts[d]
                        svc.lost.append(d)
                    return d if d in svc.drafts else None

            def do_POST(self):
                self.body()
                if self.path == "/login":
                    return self.answer(200, {"token": "t"})
                if self.path == "/moves/drafts":
                    with svc.lock:
                        d = f"d{len(svc.drafts) + len(svc.lost) + len(svc.moves) + 1}"
                        svc.drafts[d] = 0
                    return self.answer(201, {"draft_id": d})
                d = self.draft_of()
                if d is None:
                    return self.answer(410, {"error": "draft gone"})
                with svc.lock:
                    del svc.drafts[d]
                    svc.moves.append(str(len(svc.moves) + 1))
                    return self.answer(201, {"id": int(svc.moves[-1])})

            def do_PUT(self):
                self.body()
                d = self.draft_of()
                if d is None:
                    return self.answer(410, {"error": "draft gone"})
                n = int(self.path.rsplit("/", 1)[1])
                with svc.lock:
                    if svc.set_back and svc.drafts[d] >= 1:    # a late duplicate of an earlier step lands
                        svc.set_back -= 1
                        svc.drafts[d] -= 1
                        svc.set_backs.append(d)
                    if n > svc.drafts[d] + 1:
                        return self.answer(409, {"error": f"step {svc.drafts[d] + 1} comes first",
                                                 "step": svc.drafts[d]})
                    svc.drafts[d] = n
                return self.answer(200, {"step": n})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize("lose", [False, True], ids=["sound", "drafts-lost"])
def test_form_clerks_count_drafts_lost_as_the_service_does(registry, lose):
    import time
    svc = FormService()
    tl = Timeline()
    try:
        pool = ClientPool(lookup(registry, "form-clerks", "users").client, 3, timeline=tl, base_url=svc.url,
                          think=0.01, max_duration=30)
        pool.start(wait_ready=5)
        time.sleep(0.6)
        svc.lose = lose
        time.sleep(0.3)
        svc.lose = False
        time.sleep(0.6)
        pool.stop()
    finally:
        svc.close()
    lost = [p for p in tl.probes("existing-sessions") if p["session"] == "draft-lost"]
    assert len(lost) == len(svc.lost) and (len(lost) > 0) == lose
    submitted = sorted(w["id"] for w in tl.writes(ledger="writes", outcome="ok"))
    assert submitted and submitted == sorted(svc.moves)
    assert {w["op"] for w in tl.writes()} == {"move-form"}
    assert all(p["ok"] for p in tl.probes("new-logins"))


def test_a_form_set_back_a_step_costs_the_clerk_one_error_not_the_rest_of_the_drill(registry):
    """A step PUT that lands late sets the draft back (stop 19's rolling upgrade: the balancer
    re-dispatched it); the server says where the draft is (409 with its step) and the clerk goes on
    from there: one failure per set-back, and the forms are still submitted."""
    import time
    svc = FormService()
    tl = Timeline()
    try:
        pool = ClientPool(lookup(registry, "form-clerks", "users").client, 3, timeline=tl, base_url=svc.url,
                          think=0.01, max_duration=30)
        pool.start(wait_ready=5)
        time.sleep(0.4)
        svc.set_back = 2
        time.sleep(0.6)
        moves_then = len(svc.moves)
        time.sleep(0.6)
        pool.stop()
    finally:
        svc.close()
    conflicts = [p for p in tl.probes("existing-sessions") if p["error"] and p["error"].startswith("HTTP 409")]
    assert len(svc.set_backs) == len(conflicts) == 2                      # each set-back: one error, then on
    assert len(svc.moves) > moves_then                                    # the forms go on being submitted
    assert not [p for p in tl.probes("existing-sessions") if p["session"] == "draft-lost"]

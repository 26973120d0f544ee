"""The registry's stack plug-in: what its Compose file cannot say as data (docs/plugins.md).

Everything else drills need about the registry is data in compose.yaml's ``x-drillkit``: the user
kinds ``clerks``, ``busy-clerks`` and ``newcomers``, the ground truth ``writes`` (the moves table on
whichever database is primary), the role ``primary`` and the runbook ``promote-replica``.

Code, because data cannot say it:

``form-clerks`` (user kind)
    clerks who walk the 3-step move form *one form action per iteration*, so that think time falls
    between the steps and a fault or an upgrade lands in the middle of a form (SCENARIOS.md, incident
    4). A draft the service had accepted that answers 404/410 later, or that can no longer be submitted
    (409 without the move's id), is a **draft lost** — the form's
    state lives across iterations, which a journey declared as data does not keep. Probe records of
    lost drafts carry ``session: "draft-lost"``; a submitted move is a ``write`` (op ``move-form``,
    ledger ``writes``).
``upgrade-node`` (runbook step)
    replace an app node by a container of another app version (a rolling upgrade, one node):
    ``- upgrade-node: {replica: 3, version: "2"}``. Builds the image of that version first (build arg
    ``APP_VERSION``, cached by content).

Helpers for drills and tests in Python: :func:`ensure_app_image`, :func:`upgrade_node`,
:func:`lb_servers`, :func:`lb_set_state`, :func:`wait_lb_up`.
"""

from __future__ import annotations

import time
from typing import Any, Generator

from drillkit.clients import FAIL, OK, UNKNOWN, Client, ClientContext, CodeKind, Op, Outcome
from drillkit.clients.contract import SESSION_REJECTED, SESSION_VALID
from drillkit.clients.journey import EXISTING, NEW_LOGINS, NOT_SENT
from drillkit.errors import LabError
from drillkit.stack import StackPlugin

__all__ = ["plugin", "FormClerk", "form_clerks", "DRAFT_LOST", "app_image", "ensure_app_image", "upgrade_node",
           "upgrade_step", "lb_servers", "lb_set_state", "wait_lb_up"]

APP = "app"
DRAFT_LOST = "draft-lost"          # the probe's `session` when a draft the service had accepted is gone
RESIDENTS = 2000


# --- form clerks ------------------------------------------------------------------------------------
class FormClerk(Client):
    """One clerk on the move form: ``POST /moves/drafts`` -> ``PUT .../step/1..3`` -> ``POST .../submit``,
    one action per iteration, after a login (``POST /login``, population ``new-logins``)."""

    def __init__(self, name: str, *, timeout: float = 1.5, login_timeout: float = 10.0):
        super().__init__(name)
        self.timeout, self.login_timeout = timeout, login_timeout
        self.http: Any = None
        self.token: str | None = None
        self.had_session = False
        self.draft: str | None = None
        self.step = 0                  # form steps done on the current draft (0..3)
        self.n = 0

    def open(self, ctx: ClientContext) -> None:
        from drillkit.traffic.http import HttpClient
        self.ctx = ctx
        self.http = HttpClient(ctx.url(), timeout=self.timeout)

    @property
    def ready(self) -> bool:
        return self.ctx is not None and self.token is not None

    def close(self) -> None:
        if self.http is not None:
            self.http.close()

    def ops(self, iteration: int) -> Generator[Op, Outcome, None]:
        self.n = iteration
        if self.token is None:
            out = yield Op("POST /login", NEW_LOGINS, data="login")
            if not out.ok:
                return
        if self.draft is None:
            yield Op("POST /moves/drafts", EXISTING, data="draft")
        elif self.step < 3:
            yield Op("PUT /moves/drafts/{id}/step/{n}", EXISTING, data="step")
        else:
            yield Op("POST /moves/drafts/{id}/submit", EXISTING, write=True, data="submit")

    def invoke(self, op: Op) -> Outcome:
        if op.data == "login":
            return self._login()
        rng = self.ctx.rng
        if op.data == "draft":
            r = self.http.request("POST", "/moves/drafts")
        elif op.data == "step":
            n = self.step + 1
            body = ({"resident_id": rng.randint(1, RESIDENTS)} if n == 1 else
                    {"new_address": f"Formweg {self.n}, {self.name}"} if n == 2 else
                    {"move_date": f"2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}", "confirmation": True})
            r = self.http.request("PUT", f"/moves/drafts/{self.draft}/step/{n}", body)
        else:
            r = self.http.request("POST", f"/moves/drafts/{self.draft}/submit")
        common: dict[str, Any] = dict(http_status=r.status, node=r.node, notice=r.notice)
        if op.write:
            common.update(write_op="move-form")
        if r.status is None:
            sent = r.error not in NOT_SENT
            return Outcome(UNKNOWN if op.write and sent else FAIL, error=r.error, **common)
        if r.status == 401 and self.had_session:
            self.token = self.http.token = None          # log in again; the draft went with the session
            self.draft, self.step = None, 0
            return Outcome(FAIL, error="HTTP 401", session=SESSION_REJECTED, **common)
        if r.status in (404, 410) and self.draft is not None:
            lost = f"draft {self.draft} lost at step {self.step + 1} (HTTP {r.status})"
            self.draft, self.step = None, 0
            return Outcome(FAIL, error=lost, session=DRAFT_LOST, **common)
        body = r.body if isinstance(r.body, dict) else {}
        submitted_before = op.data == "submit" and r.status == 409 and "id" in body   # a retry after a lost answer
        if op.data == "submit" and r.status == 409 and not submitted_before:
            # the form can never be sent (e.g. "draft is being submitted" left by a node stopped mid-submit):
            # what the clerk entered is lost to them; they start a new form instead of retrying forever
            lost = f"draft {self.draft} stuck at submit (HTTP 409: {body.get('error', '')})"
            self.draft, self.step = None, 0
            return Outcome(FAIL, error=lost, session=DRAFT_LOST, **common)
        if op.data == "step" and r.status == 409 and (isinstance(body.get("step"), int) or "id" in body):
            # the server's draft is not where the form is: a PUT the clerk gave up on (1.5 s) can still
            # arrive later — the balancer re-dispatches a request whose node went away in a rolling
            # upgrade — and set the draft back a step (seen at stop 19: one clerk's step 1 landed after
            # its retry and step 2). The clerk sees the error once and goes on from the step the
            # server shows (a submitted draft: a new form), as a browser's form would; before, it
            # re-sent its own next step until the drill ended (15 failures from one late request)
            if "id" in body:
                self.draft, self.step = None, 0
            else:
                self.step = body["step"]
            return Outcome(FAIL, error=f"HTTP 409: {body.get('error', 'conflict')}", **common)
        if not (r.ok or submitted_before):
            return Outcome(FAIL, error=f"HTTP {r.status}", **common)
        out = Outcome(OK, session=SESSION_VALID, **common)
        if op.data == "draft":
            self.draft, self.step = body.get("draft_id"), 0
        elif op.data == "step":
            self.step += 1
        else:
            out.id = body.get("id")
            self.draft, self.step = None, 0
        return out

    def _login(self) -> Outcome:
        self.http.cookies.clear()                        # a new login starts a new sticky assignment too
        self.http.token = None
        r = self.http.request("POST", "/login", {"user": self.name, "password": "drill"}, auth=False,
                              timeout=self.login_timeout)
        token = r.body.get("token") if r.ok and isinstance(r.body, dict) else None
        common = dict(http_status=r.status, node=r.node, notice=r.notice)
        if not token:
            return Outcome(FAIL, error=r.error or f"HTTP {r.status}" + ("" if not r.ok else ": no token"), **common)
        self.token = self.http.token = token
        self.had_session = True
        return Outcome(OK, **common)


def _make_form_clerk(i: int, *, timeout: float = 1.5, first: int = 101) -> FormClerk:
    return FormClerk(f"clerk-{first + i:03d}", timeout=timeout)


form_clerks = CodeKind(_make_form_clerk, populations=(NEW_LOGINS, EXISTING), session_populations=(EXISTING,),
                       ledgers=("writes",), think=0.3)


# --- the load balancer ----------------------------------------------------------------------------
def _lb_api(env: Any, command: str) -> str:
    return env.exec(env.node("lb"), ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/9999; "
                                     f"echo '{command}' >&3; timeout 5 cat <&3"], check=False)


def lb_servers(env: Any) -> dict[str, dict[str, str]]:
    """HAProxy's ``show stat`` of the lb: app server name -> its columns (``status``, ``check_status``...)."""
    out = _lb_api(env, "show stat")
    lines = [line for line in out.splitlines() if line.strip()]
    if not lines or not lines[0].startswith("#"):
        raise LabError(f"lb runtime API answered {out[:200]!r}")
    cols = lines[0].lstrip("# ").split(",")
    rows = [dict(zip(cols, r.split(","))) for r in lines[1:]]
    return {r["svname"]: r for r in rows if r.get("pxname") == APP and r["svname"].startswith("app-")}


def lb_set_state(env: Any, server: str, state: str) -> None:
    """``set server app/<server> state ready|drain|maint`` on the lb."""
    _lb_api(env, f"set server app/{server} state {state}")


def lb_set_address(env: Any, node: Any) -> None:
    """``set server app/<node> addr <ip>``: the lb takes a replaced node's new address at once (its
    DNS hold would keep the old one for 30 s)."""
    ip = next(iter(env.backend.addresses(node).values()))
    _lb_api(env, f"set server app/{node.name} addr {ip}")


def wait_lb_up(env: Any, servers: list[str] | None = None, deadline: float = 30.0) -> float:
    """Wait until the lb has ``servers`` (default every app node) UP; returns the seconds waited.
    "UP 1/2" (one check failed, not out yet) and "no check" (lb_failover=off) take requests."""
    names = servers or [n.name for n in env.nodes.get(APP, [])]
    t0 = time.monotonic()
    while True:
        stat = lb_servers(env)
        if all(stat.get(n, {}).get("status", "").startswith(("UP", "no check")) for n in names):
            return time.monotonic() - t0
        if time.monotonic() - t0 > deadline:
            raise LabError(f"lb: not all of {names} UP after {deadline:.0f} s: "
                           f"{ {n: stat.get(n, {}).get('status') for n in names} }")
        time.sleep(0.2)


# --- v1 -> v2 -------------------------------------------------------------------------------------
def app_image(version: str) -> str:
    """The image tag of an app version: v1 is the Compose file's tag, v2 drillkit/registry-app:v2."""
    return "drillkit/registry-app:dev" if str(version) == "1" else f"drillkit/registry-app:v{version}"


def ensure_app_image(env: Any, version: str = "2") -> str:
    """Build the app image of ``version`` (build arg APP_VERSION) from the app's build context, cached by
    content like every lab image; returns the tag. Call it before a drill: a build takes a while."""
    from drillkit.lab import images
    version = str(version)
    tag = app_image(version)
    if version == "1":
        return tag
    svc = env.spec.services[APP]
    spec = images.BuildSpec(tag=tag, context=svc.build_context, dockerfile=svc.dockerfile,
                            args={**(svc.build_args or {}), "APP_VERSION": version})
    images.ensure_base_images(env.docker, [spec], progress=env.progress)
    images.build_images(env.docker, [spec], progress=env.progress)
    return tag


def upgrade_node(env: Any, replica: int, version: str = "2", *, drain_s: float = 1.0, deadline: float = 60.0,
                 environment: dict[str, str] | None = None) -> dict:
    """Replace app-<replica> by a replica of ``version`` (a rolling upgrade, one node).

    Drains the node in the lb, replaces it through the lab's ``env.replace_replica`` (stopped with its
    grace period, removed, a new one with the same name, aliases, labels, zone, address and
    environment but the image of ``version``; ``environment`` overrides variables, e.g. a redeploy
    with {"POOL": "sound"}), waits for its health check (v2 applies its schema migration first) and
    puts it back in rotation. Returns timings {"image", "drain_s", "replace_s", "healthy_s",
    "total_s"}. The image must exist (:func:`ensure_app_image`). Faults aimed at app-<replica> then
    hit the new replica.
    """
    version = str(version)
    current = env.node(APP, replica)
    tag = app_image(version)
    try:
        env.docker.api.inspect_image(tag)
    except Exception:
        raise LabError(f"no image {tag}", fix=f"call ensure_app_image(env, {version!r}) first") from None
    t0 = time.monotonic()
    timings: dict = {"image": tag}
    t = time.monotonic()
    lb_set_state(env, current.name, "drain")
    time.sleep(drain_s)
    timings["drain_s"] = round(time.monotonic() - t, 3)
    t = time.monotonic()
    # the address kept: two nodes replaced at once (test_registry_defects) could each get an address the
    # other just gave up, and the lb route one's pinned clerks to the other (401 on node-local sessions)
    node = env.replace_replica(current, image=tag, environment={"APP_VERSION": version, **(environment or {})},
                               new_address=False)
    timings["replace_s"] = round(time.monotonic() - t, 3)
    t = time.monotonic()
    env.wait_healthy(node, deadline=deadline)
    lb_set_address(env, node)                                 # a new container has a new address
    lb_set_state(env, node.name, "ready")
    wait_lb_up(env, [node.name], deadline=deadline)          # the lb's own checks passed: in rotation
    timings["healthy_s"] = round(time.monotonic() - t, 3)
    timings["total_s"] = round(time.monotonic() - t0, 3)
    return timings


def upgrade_step(env: Any, timeline: Any, *, replica: int, version: str = "2") -> str:
    """Runbook step ``upgrade-node: {replica: N, version: "2"}``: build the image if needed, replace
    the node, and say how long each part took."""
    if not isinstance(replica, int) or isinstance(replica, bool) or replica not in \
            [n.replica for n in env.nodes.get(APP, [])]:
        raise LabError(f"upgrade-node: no app replica {replica!r}",
                       fix=f"give replica: one of {[n.replica for n in env.nodes.get(APP, [])]}")
    ensure_app_image(env, str(version))
    t = upgrade_node(env, replica, str(version))
    return f"app-{replica} -> {t['image']} in {t['total_s']:.1f} s (healthy after {t['healthy_s']:.1f} s)"


plugin = StackPlugin(name="registry", users={"form-clerks": form_clerks}, steps={"upgrade-node": upgrade_step})

"""Registry app (v1 and v2 in one file; APP_VERSION picks): resident registration as the clerks of a
citizen office use it.

One process, Python stdlib HTTP server + psycopg2 + redis. JSON in, JSON out; every response
carries ``X-Drillkit-Node`` so a drill knows which replica answered. The API is in README.md.

    GET  /health   GET /version
    POST /login    {"user","password"}  -> the login realm (its own datasource): the clerk, the identity
                                            service's check, the profile; session in the store
    POST /logout
    GET  /residents/<id>   GET /residents?q=<name>
    POST /moves    {"resident_id","new_address"[,"move_date" v2]}   GET /moves/<id>
    POST /moves/drafts                         -> 201 {"draft_id"}
    PUT  /moves/drafts/<id>/step/<1|2|3>       -> 200 draft   (1: resident_id; 2: new_address;
                                                              3: move_date + confirmation)
    POST /moves/drafts/<id>/submit             -> 201 {"id"}
    GET  /moves/drafts/<id>                    -> 200 draft

Failure rules: bad input is a 4xx, never a 500, and writes nothing; an unreachable database,
session store or identity service is a 503 with a JSON error. Every database operation has a
deadline and a broken connection is dropped, so a restart, a partition or a promoted replica behind
the same address never wedges the node. Existing sessions never need the identity service.

Switches (environment; the defects are documented in README.md):
  SESSIONS     shared | node-local       where sessions and drafts live
  ACK          after-commit | before-commit   when a write is acknowledged
  POOL         sound | small             database pool per node: DB_POOL_SIZE (8) or 1
  LOGIN_POOL   sound | small             the login realm's own pool per node: LOGIN_POOL_SIZE (16) or 2
  V2_SESSIONS  compatible | incompatible whether v2 reads v1 sessions (v1 ignores this)
Other settings: DB_HOST, DB_PORT, DB_NAME, DB_USER, DB_PASSWORD, DB_POOL_SIZE, DB_TIMEOUT,
LOGIN_POOL_SIZE, LOGIN_POOL_TIMEOUT,
REDIS_HOST, REDIS_PORT, IDENTITY_URL, IDENTITY_TIMEOUT, DRAFT_TTL, ACK_DELAY, PORT, APP_VERSION,
DRILLKIT_NODE, LOG_REQUESTS.
"""

from __future__ import annotations

import contextlib
import datetime
import http.client
import json
import os
import re
import secrets
import select
import signal
import socket
import sys
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import psycopg2
import psycopg2.extensions
import redis

NODE = os.environ.get("DRILLKIT_NODE") or socket.gethostname()
VERSION = os.environ.get("APP_VERSION", "1")
PORT = int(os.environ.get("PORT", "8080"))
CONNECT_TIMEOUT = 2.0                                   # seconds, database and session store
DB_TIMEOUT = float(os.environ.get("DB_TIMEOUT", "5"))   # deadline of one database transaction
HEALTH_TIMEOUT = 1.0
SESSION_TTL = 8 * 3600
DRAFT_TTL = float(os.environ.get("DRAFT_TTL", "1800"))  # a draft expires this long after its last step
DRAFT_KEEP = 24 * 3600                                  # an expired draft is remembered (410) this long
ACK_DELAY = float(os.environ.get("ACK_DELAY", "1.0"))   # ACK=before-commit: commit this long after the 201
IDENTITY_URL = os.environ.get("IDENTITY_URL", "http://identity-lb:8080")
IDENTITY_TIMEOUT = float(os.environ.get("IDENTITY_TIMEOUT", "5"))
SEARCH_LIMIT = 20
MAX_BODY = 16 * 1024
LOG_REQUESTS = os.environ.get("LOG_REQUESTS", "") not in ("", "0", "false")
INT4_MAX, INT8_MAX = 2**31 - 1, 2**63 - 1


def log(msg: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {NODE} {msg}", file=sys.stderr, flush=True)


def choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = os.environ.get(name) or default
    if value not in choices:
        sys.exit(f"{name} must be one of {', '.join(choices)}, not {value!r}")
    return value


SESSIONS_MODE = choice("SESSIONS", "shared", ("shared", "node-local"))
ACK = choice("ACK", "after-commit", ("after-commit", "before-commit"))
POOL = choice("POOL", "sound", ("sound", "small"))
V2_SESSIONS = choice("V2_SESSIONS", "compatible", ("compatible", "incompatible"))
if VERSION not in ("1", "2"):
    sys.exit(f"APP_VERSION must be 1 or 2, not {VERSION!r}")
POOL_SIZE = 1 if POOL == "small" else int(os.environ.get("DB_POOL_SIZE", "8"))
# The login realm's datasource (as a Java app server's security realm has its own JDBC pool): logins
# queue here, apart from the clerks' reads and writes. A login holds one of its connections for the
# whole login and a second one, briefly, for the clerk's profile (a transaction of its own); so the
# pool must hold more connections than logins run at once on a node. LOGIN_POOL=small (2, a test
# landscape's size) serves one login at a time - a single test login passes - but two logins at once
# each hold one and wait for the other's: every login queued behind them gives up after
# LOGIN_POOL_TIMEOUT (503) while the clerks' pool is untouched.
LOGIN_POOL = choice("LOGIN_POOL", "sound", ("sound", "small"))
LOGIN_POOL_SIZE = 2 if LOGIN_POOL == "small" else int(os.environ.get("LOGIN_POOL_SIZE", "16"))
LOGIN_POOL_TIMEOUT = float(os.environ.get("LOGIN_POOL_TIMEOUT", "2"))   # s a login waits for a connection


# --- errors that become HTTP answers -----------------------------------------------------------
class HttpError(Exception):
    def __init__(self, status: int, error: str, **extra):
        super().__init__(error)
        self.status, self.body = status, {"error": error, **extra}


class DependencyDown(HttpError):
    """A dependency (database, session store) did not answer: 503."""

    def __init__(self, what: str, detail: str):
        super().__init__(503, f"{what} unavailable", detail=detail[:200])


# --- database: a small pool with deadlines -----------------------------------------------------
_deadline = threading.local()


class DbTimeout(psycopg2.OperationalError):
    pass


def _wait_with_deadline(conn) -> None:
    """psycopg2 wait callback (like extras.wait_select) that gives up at the thread's deadline.

    Installed globally, it makes every connect and query interruptible: a hung network path
    (dropped packets, a Toxiproxy `timeout` toxic) raises DbTimeout instead of blocking forever.
    """
    while True:
        state = conn.poll()
        if state == psycopg2.extensions.POLL_OK:
            return
        deadline = getattr(_deadline, "at", None)
        remaining = None if deadline is None else deadline - time.monotonic()
        if remaining is not None and remaining <= 0:
            raise DbTimeout("database did not answer in time")
        if state == psycopg2.extensions.POLL_READ:
            events = select.POLLIN
        elif state == psycopg2.extensions.POLL_WRITE:
            events = select.POLLOUT
        else:
            raise psycopg2.OperationalError(f"unexpected poll state {state}")
        poller = select.poll()
        poller.register(conn.fileno(), events)
        poller.poll(None if remaining is None else max(1, int(remaining * 1000)))


psycopg2.extensions.set_wait_callback(_wait_with_deadline)


class DbPool:
    """At most `size` connections; idle ones are reused, dead ones dropped, new ones made lazily."""

    def __init__(self, size: int, what: str = "database", **dsn):
        self.dsn, self.what = dsn, what
        self._slots = threading.BoundedSemaphore(size)
        self._idle: list = []
        self._lock = threading.Lock()

    @staticmethod
    def _looks_dead(conn) -> bool:
        # An idle connection never has anything to read; EOF or a server FATAL (restart,
        # proxy closed) makes the socket readable. Closed ones are dead too.
        if conn.closed:
            return True
        try:
            poller = select.poll()
            poller.register(conn.fileno(), select.POLLIN)
            return bool(poller.poll(0))
        except (ValueError, OSError, psycopg2.Error):
            return True

    def _checkout(self):
        while True:
            with self._lock:
                conn = self._idle.pop() if self._idle else None
            if conn is None:
                conn = psycopg2.connect(connect_timeout=int(CONNECT_TIMEOUT), **self.dsn)
                return conn
            if not self._looks_dead(conn):
                return conn
            with contextlib.suppress(Exception):
                conn.close()

    def _checkin(self, conn, broken: bool) -> None:
        if broken or conn.closed or conn.status != psycopg2.extensions.STATUS_READY:
            with contextlib.suppress(Exception):
                conn.close()
            return
        with self._lock:
            self._idle.append(conn)

    @contextlib.contextmanager
    def transaction(self, timeout: float = DB_TIMEOUT, acquire: float | None = None):
        """Yield a cursor; commit on success (the write is acknowledged only after this), roll
        back on an exception. Connection problems and the deadline become DependencyDown (503).
        ``acquire``: how long to wait for a free connection (default: ``timeout``). A transaction
        opened inside another one (on this pool or another) keeps the outer one's deadline intact."""
        start = time.monotonic()
        deadline = start + timeout
        outer = getattr(_deadline, "at", None)
        if not self._slots.acquire(timeout=timeout if acquire is None else acquire):
            raise DependencyDown(self.what, f"all {self.what} connections busy")
        conn, broken = None, False
        try:
            # Connecting gets at most CONNECT_TIMEOUT of the deadline.
            _deadline.at = min(deadline, time.monotonic() + CONNECT_TIMEOUT)
            conn = self._checkout()
            _deadline.at = deadline
            with conn.cursor() as cur:
                yield cur
            conn.commit()
        except (psycopg2.OperationalError, psycopg2.InterfaceError) as exc:
            broken = True
            detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise DependencyDown(self.what, detail) from None
        except BaseException:
            if conn is not None and not conn.closed:
                try:
                    conn.rollback()
                except psycopg2.Error:
                    broken = True
            raise
        finally:
            _deadline.at = outer
            if conn is not None:
                self._checkin(conn, broken)
            self._slots.release()


DSN = dict(
    host=os.environ.get("DB_HOST", "db"),
    port=int(os.environ.get("DB_PORT", "5432")),
    dbname=os.environ.get("DB_NAME", "registry"),
    user=os.environ.get("DB_USER", "registry"),
    password=os.environ.get("DB_PASSWORD", "registry"),
    keepalives=1, keepalives_idle=5, keepalives_interval=2, keepalives_count=2,
)
DB = DbPool(POOL_SIZE, application_name=f"registry-{NODE}", **DSN)
LOGIN_DB = DbPool(LOGIN_POOL_SIZE, what="login database", application_name=f"registry-login-{NODE}", **DSN)


# --- the store of sessions and drafts ----------------------------------------------------------------
class SharedStore:
    """Redis: any node reads what any node wrote (sessions, drafts)."""

    mode = "shared"

    def __init__(self):
        pool = redis.BlockingConnectionPool(
            host=os.environ.get("REDIS_HOST", "sessions"),
            port=int(os.environ.get("REDIS_PORT", "6379")),
            max_connections=32, timeout=CONNECT_TIMEOUT,
            socket_connect_timeout=CONNECT_TIMEOUT, socket_timeout=CONNECT_TIMEOUT,
            socket_keepalive=True, health_check_interval=10,
        )
        self.redis = redis.Redis(connection_pool=pool)

    @contextlib.contextmanager
    def _errors(self):
        try:
            yield
        except redis.RedisError as exc:
            raise DependencyDown("session store", f"{type(exc).__name__}: {exc}") from None

    def put(self, key: str, value: dict, ttl: float) -> None:
        with self._errors():
            self.redis.set(key, json.dumps(value), ex=max(1, int(ttl)))

    def add(self, key: str, value: dict, ttl: float) -> bool:
        """Set only if absent (a lock / a once-only marker)."""
        with self._errors():
            return bool(self.redis.set(key, json.dumps(value), ex=max(1, int(ttl)), nx=True))

    def get(self, key: str):
        with self._errors():
            raw = self.redis.get(key)
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            return None

    def delete(self, key: str) -> bool:
        with self._errors():
            return bool(self.redis.delete(key))

    def check(self) -> None:
        with self._errors():
            self.redis.ping()


class NodeLocalStore:
    """DEFECT switch SESSIONS=node-local: in this process only; what a node holds works only on that
    node and dies with it."""

    mode = "node-local"

    def __init__(self):
        self._data: dict[str, tuple[float, str]] = {}
        self._lock = threading.Lock()

    def _expire(self, now: float) -> None:
        if len(self._data) > 10_000:
            self._data = {k: v for k, v in self._data.items() if v[0] > now}

    def put(self, key: str, value: dict, ttl: float) -> None:
        now = time.monotonic()
        with self._lock:
            self._expire(now)
            self._data[key] = (now + ttl, json.dumps(value))

    def add(self, key: str, value: dict, ttl: float) -> bool:
        now = time.monotonic()
        with self._lock:
            entry = self._data.get(key)
            if entry is not None and entry[0] > now:
                return False
            self._data[key] = (now + ttl, json.dumps(value))
            return True

    def get(self, key: str):
        with self._lock:
            entry = self._data.get(key)
        if entry is None or entry[0] <= time.monotonic():
            return None
        return json.loads(entry[1])

    def delete(self, key: str) -> bool:
        with self._lock:
            return self._data.pop(key, None) is not None

    def check(self) -> None:
        return None


STORE = SharedStore() if SESSIONS_MODE == "shared" else NodeLocalStore()


# --- sessions: v1 and v2 formats -------------------------------------------------------------------
def session_record(user: str, office: str, identity_token: str | None) -> dict:
    """What a login stores. v1: {"user","node","created"}. v2: {"v":2,"clerk":{...},"node","issued_at"}
    and, in the compatible (sound) rollout, the v1 field "user" as well, so a v1 node still reads it."""
    now = time.time()
    if VERSION == "1":
        return {"user": user, "node": NODE, "created": now}
    record = {"v": 2, "clerk": {"name": user, "office": office}, "node": NODE, "issued_at": now,
              "identity_token": identity_token}
    if V2_SESSIONS == "compatible":
        record["user"] = user
    return record


def session_user(record) -> str | None:
    """The clerk of a stored session, or None when this version cannot read it (-> 401)."""
    if not isinstance(record, dict):
        return None
    if VERSION == "2" and record.get("v") == 2:
        clerk = record.get("clerk")
        user = clerk.get("name") if isinstance(clerk, dict) else None
    elif VERSION == "2" and V2_SESSIONS == "incompatible":
        return None            # DEFECT: v2 cannot read the v1 format
    else:
        user = record.get("user")     # v1 format (or v2 written compatibly)
    return user if isinstance(user, str) and user else None


# --- identity: the central login -------------------------------------------------------------------
def identity_login(user: str, password: str) -> dict:
    """POST /login of the identity service (the costly PBKDF2 check). 200 -> its answer;
    401 -> HttpError 401; anything else (down, slow, 5xx) -> 503."""
    url = urlsplit(IDENTITY_URL)
    body = json.dumps({"user": user, "password": password}).encode()
    conn = http.client.HTTPConnection(url.hostname, url.port or 80, timeout=IDENTITY_TIMEOUT)
    try:
        conn.request("POST", "/login", body, {"Content-Type": "application/json",
                                              "X-Drillkit-Caller": f"registry/{NODE}"})
        resp = conn.getresponse()
        data = resp.read(64 * 1024)
        status = resp.status
    except (OSError, http.client.HTTPException) as exc:
        raise DependencyDown("identity", f"{type(exc).__name__}: {exc}") from None
    finally:
        conn.close()
    if status == 401:
        raise HttpError(401, "invalid credentials")
    if status != 200:
        raise DependencyDown("identity", f"identity answered {status}")
    try:
        answer = json.loads(data)
    except ValueError:
        raise DependencyDown("identity", "identity answered 200 without JSON") from None
    if not isinstance(answer, dict):
        raise DependencyDown("identity", "identity answered 200 without an object")
    return answer


def clerk_profile(user: str) -> dict:
    """The clerk's display name and office: the profile component's own transaction on the login
    datasource (while the login's transaction holds its connection, this takes a second one)."""
    with LOGIN_DB.transaction(acquire=LOGIN_POOL_TIMEOUT) as cur:
        cur.execute("SELECT display_name, office FROM clerks WHERE username = %s", (user,))
        row = cur.fetchone()
    return {"display_name": row[0], "office": row[1]} if row else {}


# --- schema: v2's additive migration ---------------------------------------------------------------
SCHEMA_READY = threading.Event()
MIGRATION_V2 = """
SELECT pg_advisory_xact_lock(730002);
SET LOCAL lock_timeout = '2s';
ALTER TABLE moves ADD COLUMN IF NOT EXISTS move_date date;
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     integer     PRIMARY KEY,
    description text        NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now(),
    applied_by  text        NOT NULL
);
INSERT INTO schema_migrations (version, description, applied_by)
VALUES (2, 'moves.move_date (nullable), table schema_migrations', %s)
ON CONFLICT (version) DO NOTHING;
"""


def migrate_forever() -> None:
    """v2 applies its additive migration on start (idempotent, serialised by an advisory lock);
    v1 needs none and ignores the new column and table. Until it is applied, /health is 503."""
    if VERSION == "1":
        SCHEMA_READY.set()
        return
    while not SCHEMA_READY.is_set():
        try:
            with DB.transaction(timeout=10) as cur:
                cur.execute(MIGRATION_V2, (NODE,))
            SCHEMA_READY.set()
            log("schema migration v2 applied (or already there)")
        except Exception as exc:  # noqa: BLE001 - retried until the database answers
            log(f"schema migration v2 not applied yet: {exc}")
            time.sleep(1)


# --- input ------------------------------------------------------------------------------------------
RESIDENT_COLUMNS = "id, family_name, given_name, birth_date, address, updated_at"
MOVE_COLUMNS = "id, resident_id, new_address, clerk, created_at"
MOVE_COLUMNS_V2 = MOVE_COLUMNS + ", move_date"


def _row(cur, row) -> dict:
    out = {}
    for col, value in zip((d.name for d in cur.description), row):
        out[col] = value.isoformat() if hasattr(value, "isoformat") else value
    return out


def _text(body: dict, key: str, max_len: int) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value.strip():
        raise HttpError(400, f"'{key}' must be a non-empty string")
    if len(value) > max_len or "\x00" in value:
        raise HttpError(400, f"'{key}' is too long or contains NUL")
    return value


def _resident_id(body: dict) -> int:
    rid = body.get("resident_id")
    if not isinstance(rid, int) or isinstance(rid, bool):
        raise HttpError(400, "'resident_id' must be an integer")
    return rid


def _move_date(value) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise HttpError(400, "'move_date' must be a date YYYY-MM-DD")
    try:
        day = datetime.date.fromisoformat(value)
    except ValueError:
        raise HttpError(400, "'move_date' is not a valid date") from None
    if not 1900 <= day.year <= 2100:
        raise HttpError(400, "'move_date' must be between 1900 and 2100")
    return day.isoformat()


def _like_pattern(q: str) -> str:
    return "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


# --- writes: a move registration ----------------------------------------------------------------------
def _insert_move(cur, rid: int, new_address: str, clerk: str, move_date: str | None,
                 move_id: int | None = None):
    """Update the resident's address and insert the move; None when the resident is unknown."""
    cur.execute("UPDATE residents SET address = %s, updated_at = now() WHERE id = %s RETURNING id",
                (new_address, rid))
    if cur.fetchone() is None:
        return None
    cols, vals = ["resident_id", "new_address", "clerk"], [rid, new_address, clerk]
    if move_id is not None:
        cols.insert(0, "id")
        vals.insert(0, move_id)
    if VERSION == "2" and move_date is not None:
        cols.append("move_date")
        vals.append(move_date)
    cur.execute(f"INSERT INTO moves ({', '.join(cols)}) VALUES ({', '.join(['%s'] * len(vals))})"
                " RETURNING id", vals)
    return cur.fetchone()[0]


def _commit_later(move_id: int, rid: int, new_address: str, clerk: str, move_date: str | None) -> None:
    time.sleep(ACK_DELAY)
    try:
        with DB.transaction() as cur:
            _insert_move(cur, rid, new_address, clerk, move_date, move_id)
    except Exception as exc:  # noqa: BLE001 - the defect: the client was told 201 already
        log(f"ACK=before-commit: acknowledged move {move_id} NOT committed: {exc}")


def register_move(rid: int, new_address: str, clerk: str, move_date: str | None = None) -> int:
    """One move registration. Sound (ACK=after-commit): the id is returned only after the
    transaction commits. DEFECT (ACK=before-commit): the id is reserved, returned at once, and the
    transaction commits ACK_DELAY later on a background thread - a node kill in between loses it."""
    if not 0 < rid <= INT4_MAX:
        raise HttpError(404, "resident not found")
    if ACK == "after-commit":
        with DB.transaction() as cur:
            move_id = _insert_move(cur, rid, new_address, clerk, move_date)
            if move_id is None:
                raise HttpError(404, "resident not found")
        return move_id
    with DB.transaction() as cur:
        cur.execute("SELECT 1 FROM residents WHERE id = %s", (rid,))
        if cur.fetchone() is None:
            raise HttpError(404, "resident not found")
        cur.execute("SELECT nextval(pg_get_serial_sequence('moves', 'id'))")
        move_id = cur.fetchone()[0]
    threading.Thread(target=_commit_later, args=(move_id, rid, new_address, clerk, move_date),
                     name=f"commit-{move_id}", daemon=True).start()
    return move_id


# --- drafts: the 3-step move registration ---------------------------------------------------------------
STEP_FIELDS = {1: ("resident_id",), 2: ("new_address",), 3: ("move_date", "confirmation")}


def draft_view(d: dict) -> dict:
    return {"draft_id": d["id"], "clerk": d["clerk"], "step": d["step"],
            "resident_id": d.get("resident_id"), "new_address": d.get("new_address"),
            "move_date": d.get("move_date"), "confirmation": d.get("confirmation", False),
            "submitted_move_id": d.get("submitted_move_id"),
            "expires_in": max(0, int(d["expires_at"] - time.time())),
            "created_at": d["created_at"], "updated_at": d["updated_at"]}


def load_draft(draft_id: str, clerk: str) -> dict:
    d = STORE.get(f"draft:{draft_id}")
    if not isinstance(d, dict) or d.get("clerk") != clerk:   # another clerk's draft does not exist
        raise HttpError(404, "draft not found")
    if d.get("submitted_move_id") is None and time.time() > float(d.get("expires_at", 0)):
        raise HttpError(410, "draft expired", draft_id=draft_id)
    return d


def save_draft(d: dict) -> None:
    now = time.time()
    d["updated_at"] = now
    d["expires_at"] = now + DRAFT_TTL
    STORE.put(f"draft:{d['id']}", d, DRAFT_TTL + DRAFT_KEEP)


# --- request handling ----------------------------------------------------------------------------
DRAFT = r"/moves/drafts/([A-Za-z0-9_-]{1,64})"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"       # keep-alive with the load balancer
    server_version = f"registry/{VERSION}"
    sys_version = ""
    timeout = 60                        # an idle keep-alive connection frees its thread

    # (method, path regex, handler name, needs a session)
    ROUTES = [
        ("GET", re.compile(r"/health"), "health", False),
        ("GET", re.compile(r"/version"), "version", False),
        ("POST", re.compile(r"/login"), "login", False),
        ("POST", re.compile(r"/logout"), "logout", True),
        ("GET", re.compile(r"/residents/(\d{1,20})"), "get_resident", True),
        ("GET", re.compile(r"/residents"), "search_residents", True),
        ("POST", re.compile(r"/moves"), "create_move", True),
        ("GET", re.compile(r"/moves/(\d{1,20})"), "get_move", True),
        ("POST", re.compile(r"/moves/drafts"), "create_draft", True),
        ("GET", re.compile(DRAFT), "get_draft", True),
        ("PUT", re.compile(DRAFT + r"/step/(\d{1,6})"), "put_step", True),
        ("POST", re.compile(DRAFT + r"/submit"), "submit_draft", True),
    ]

    # -- plumbing --
    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def do_PUT(self):
        self._dispatch("PUT")

    def do_DELETE(self):
        self._dispatch("DELETE")

    def do_PATCH(self):
        self._dispatch("PATCH")

    def _dispatch(self, method: str) -> None:
        with IN_FLIGHT:
            self._dispatch_one(method)

    def _dispatch_one(self, method: str) -> None:
        started = time.monotonic()
        url = urlsplit(self.path)
        self.query = parse_qs(url.query)
        self.session = None
        self.token = None
        self.extra_headers: dict[str, str] = {}
        self.body_read = False
        status = 500
        try:
            allowed = []
            for route_method, pattern, name, needs_session in self.ROUTES:
                match = pattern.fullmatch(url.path)
                if not match:
                    continue
                if route_method != method:
                    allowed.append(route_method)
                    continue
                if needs_session:
                    self.session = self._authenticate()
                status, body = getattr(self, name)(*match.groups())
                break
            else:
                if allowed:
                    raise HttpError(405, "method not allowed", allow=allowed)
                raise HttpError(404, "not found")
        except HttpError as exc:
            status, body = exc.status, exc.body
        except psycopg2.DataError as exc:   # a value the database refuses: bad input, not a bug
            status, body = 400, {"error": "invalid value", "detail": str(exc).splitlines()[0][:200]}
        except psycopg2.IntegrityError as exc:
            status, body = 409, {"error": "conflict", "detail": str(exc).splitlines()[0][:200]}
        except Exception:  # a bug, not bad input: log it, answer 500, keep serving
            traceback.print_exc()
            status, body = 500, {"error": "internal error"}
            self.close_connection = True
        if not self.body_read:
            self._discard_body()
        self._send(status, body)
        if LOG_REQUESTS or status >= 500:
            if url.path != "/health" or status >= 500:
                log(f'{method} {url.path} {status} {1000 * (time.monotonic() - started):.1f}ms')

    def _send(self, status: int, body: dict) -> None:
        data = json.dumps(body, ensure_ascii=False).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("X-Drillkit-Node", NODE)
            self.send_header("X-Drillkit-Version", VERSION)
            self.send_header("Cache-Control", "no-store")
            for name, value in self.extra_headers.items():
                self.send_header(name, value)
            if status == 401:
                self.send_header("WWW-Authenticate", "Bearer")
            if status == 405:
                self.send_header("Allow", ", ".join(body.get("allow", [])))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            self.close_connection = True

    def _discard_body(self) -> None:
        length = self.headers.get("Content-Length")
        if self.headers.get("Transfer-Encoding") or (length and length != "0"):
            self.close_connection = True  # don't read it; don't reuse the connection either

    def _json_body(self) -> dict:
        self.body_read = True
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True
            raise HttpError(400, "send the body with Content-Length, not chunked")
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            self.close_connection = True
            raise HttpError(400, "Content-Length required") from None
        if length < 0 or length > MAX_BODY:
            self.close_connection = True
            raise HttpError(400, f"body must be 0..{MAX_BODY} bytes")
        raw = self.rfile.read(length)
        if len(raw) != length:
            self.close_connection = True
            raise HttpError(400, "body shorter than Content-Length")
        try:
            body = json.loads(raw)
        except (UnicodeDecodeError, ValueError, RecursionError):
            raise HttpError(400, "body is not valid JSON") from None
        if not isinstance(body, dict):
            raise HttpError(400, "body must be a JSON object")
        return body

    def _authenticate(self) -> dict:
        header = self.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise HttpError(401, "session unknown", detail="send Authorization: Bearer <token>")
        if len(token) > 128 or not re.fullmatch(r"[A-Za-z0-9_-]+", token):
            raise HttpError(401, "session unknown")
        user = session_user(STORE.get(f"session:{token}"))
        if user is None:
            raise HttpError(401, "session unknown")
        self.token = token
        return {"user": user}

    def log_message(self, format, *args):  # access log: see LOG_REQUESTS in _dispatch
        pass

    # -- endpoints --
    def health(self):
        try:
            if not SCHEMA_READY.is_set():
                raise DependencyDown("database", "schema migration not applied yet")
            with DB.transaction(timeout=HEALTH_TIMEOUT) as cur:
                cur.execute("SELECT 1")
            STORE.check()
        except DependencyDown as exc:
            return 503, {"status": "unavailable", "node": NODE,
                         "error": exc.body["error"], "detail": exc.body.get("detail", "")}
        return 200, {"status": "ok", "node": NODE, "version": VERSION}

    def version(self):
        return 200, {"version": VERSION, "node": NODE, "schema": int(VERSION),
                     "switches": {"sessions": SESSIONS_MODE, "ack": ACK, "pool": POOL,
                                  "pool_size": POOL_SIZE, "login_pool": LOGIN_POOL,
                                  "login_pool_size": LOGIN_POOL_SIZE, "v2_sessions": V2_SESSIONS}}

    def login(self):
        """The login realm, one transaction on its own datasource (as a JAAS login module's login()):
        the clerk, the identity service's costly check of the password (the realm's connection stays
        held meanwhile), then the clerk's profile, which the profile component reads in a transaction
        of its own (a second connection of the same pool, as REQUIRES_NEW would take)."""
        body = self._json_body()
        user = _text(body, "user", 64)
        password = _text(body, "password", 256)
        with LOGIN_DB.transaction(timeout=IDENTITY_TIMEOUT + DB_TIMEOUT, acquire=LOGIN_POOL_TIMEOUT) as cur:
            cur.execute("SELECT office FROM clerks WHERE username = %s", (user,))
            row = cur.fetchone()
            answer = identity_login(user, password)      # the costly check, on the identity service
            if row is None or answer.get("user") != user or answer.get("kind") not in (None, "clerk"):
                raise HttpError(403, "not a registry clerk")
            profile = clerk_profile(user)
        token = secrets.token_urlsafe(24)
        STORE.put(f"session:{token}", session_record(user, row[0], answer.get("token")), SESSION_TTL)
        return 200, {"token": token, "node": NODE, "user": user, "expires_in": SESSION_TTL, **profile}

    def logout(self):
        STORE.delete(f"session:{self.token}")
        return 200, {"status": "logged out", "user": self.session["user"]}

    def get_resident(self, resident_id: str):
        rid = int(resident_id)
        if not 0 < rid <= INT4_MAX:
            raise HttpError(404, "resident not found")
        with DB.transaction() as cur:
            cur.execute(f"SELECT {RESIDENT_COLUMNS} FROM residents WHERE id = %s", (rid,))
            row = cur.fetchone()
            if row is None:
                raise HttpError(404, "resident not found")
            return 200, _row(cur, row)

    def search_residents(self):
        values = self.query.get("q", [])
        q = values[0].strip() if values else ""
        if not q or len(q) > 100 or "\x00" in q:
            raise HttpError(400, "query parameter q (1..100 characters) required")
        pattern = _like_pattern(q)
        with DB.transaction() as cur:
            cur.execute(
                f"SELECT {RESIDENT_COLUMNS} FROM residents"
                " WHERE given_name || ' ' || family_name ILIKE %(p)s"
                "    OR family_name || ', ' || given_name ILIKE %(p)s"
                " ORDER BY family_name, given_name, id LIMIT %(limit)s",
                {"p": pattern, "limit": SEARCH_LIMIT})
            results = [_row(cur, r) for r in cur.fetchall()]
        return 200, {"results": results, "count": len(results)}

    def create_move(self):
        body = self._json_body()
        rid = _resident_id(body)
        new_address = _text(body, "new_address", 200)
        move_date = None
        if VERSION == "2" and body.get("move_date") is not None:
            move_date = _move_date(body["move_date"])
        move_id = register_move(rid, new_address, self.session["user"], move_date)
        self.extra_headers["Location"] = f"/moves/{move_id}"
        return 201, {"id": move_id}

    def get_move(self, move_id: str):
        mid = int(move_id)
        if not 0 < mid <= INT8_MAX:
            raise HttpError(404, "move not found")
        columns = MOVE_COLUMNS_V2 if VERSION == "2" else MOVE_COLUMNS
        with DB.transaction() as cur:
            cur.execute(f"SELECT {columns} FROM moves WHERE id = %s", (mid,))
            row = cur.fetchone()
            if row is None:
                raise HttpError(404, "move not found")
            return 200, _row(cur, row)

    # -- the 3-step form --
    def create_draft(self):
        now = time.time()
        d = {"id": secrets.token_urlsafe(12), "clerk": self.session["user"], "step": 0,
             "created_at": now, "created_on": NODE, "version": VERSION}
        save_draft(d)
        self.extra_headers["Location"] = f"/moves/drafts/{d['id']}"
        return 201, {"draft_id": d["id"], "expires_in": int(DRAFT_TTL)}

    def get_draft(self, draft_id: str):
        return 200, draft_view(load_draft(draft_id, self.session["user"]))

    def put_step(self, draft_id: str, step: str):
        n = int(step)
        if n not in STEP_FIELDS:
            raise HttpError(404, "no such step", steps=[1, 2, 3])
        body = self._json_body()
        d = load_draft(draft_id, self.session["user"])
        if d.get("submitted_move_id") is not None:
            raise HttpError(409, "draft already submitted", id=d["submitted_move_id"])
        if n > d["step"] + 1:
            raise HttpError(409, f"step {d['step'] + 1} comes first", step=d["step"])
        unknown = set(body) - set(STEP_FIELDS[n])
        if unknown:
            raise HttpError(400, f"step {n} takes {', '.join(STEP_FIELDS[n])}",
                            unknown=sorted(map(str, unknown))[:5])
        if n == 1:
            rid = _resident_id(body)
            if not 0 < rid <= INT4_MAX:
                raise HttpError(404, "resident not found")
            with DB.transaction() as cur:
                cur.execute("SELECT 1 FROM residents WHERE id = %s", (rid,))
                if cur.fetchone() is None:
                    raise HttpError(404, "resident not found")
            d["resident_id"] = rid
        elif n == 2:
            d["new_address"] = _text(body, "new_address", 200)
        else:
            move_date = _move_date(body.get("move_date"))
            if body.get("confirmation") is not True:
                raise HttpError(400, "'confirmation' must be true")
            d["move_date"], d["confirmation"] = move_date, True
        d["step"] = max(d["step"], n)
        save_draft(d)
        return 200, draft_view(d)

    def submit_draft(self, draft_id: str):
        d = load_draft(draft_id, self.session["user"])
        if d.get("submitted_move_id") is not None:
            raise HttpError(409, "draft already submitted", id=d["submitted_move_id"])
        if d["step"] < 3:
            raise HttpError(409, f"step {d['step'] + 1} is missing", step=d["step"])
        lock = f"draft-submit:{draft_id}"
        if not STORE.add(lock, {"node": NODE}, DRAFT_TTL + DRAFT_KEEP):
            raise HttpError(409, "draft is being submitted")
        try:
            move_id = register_move(d["resident_id"], d["new_address"], d["clerk"], d.get("move_date"))
        except BaseException:
            STORE.delete(lock)
            raise
        d["submitted_move_id"] = move_id
        save_draft(d)
        self.extra_headers["Location"] = f"/moves/{move_id}"
        return 201, {"id": move_id, "draft_id": draft_id}


class _InFlight:
    """Requests being answered now: a stop waits for them (a graceful stop, as a rolling upgrade's)."""

    def __init__(self) -> None:
        self.n = 0
        self.cond = threading.Condition()

    def __enter__(self) -> None:
        with self.cond:
            self.n += 1

    def __exit__(self, *exc) -> None:
        with self.cond:
            self.n -= 1
            self.cond.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        with self.cond:
            return self.cond.wait_for(lambda: self.n == 0, timeout=timeout)


IN_FLIGHT = _InFlight()
STOP_WAIT = float(os.environ.get("STOP_WAIT", "1.5"))   # s a stop waits for requests being answered


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128
    allow_reuse_address = True


def main() -> None:
    threading.Thread(target=migrate_forever, name="migrate", daemon=True).start()
    server = Server(("0.0.0.0", PORT), Handler)
    # PID 1: stop promptly on docker stop, but let the requests being answered finish first (up to
    # STOP_WAIT s, inside the stop grace period): a submit cut off between its lock in the store and
    # its commit would leave the clerk's draft locked ("draft is being submitted") for good.
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown, daemon=True).start())
    log(f"registry v{VERSION} listening on :{PORT}, sessions={STORE.mode} ack={ACK} "
        f"pool={POOL}({POOL_SIZE}) login_pool={LOGIN_POOL}({LOGIN_POOL_SIZE}) v2_sessions={V2_SESSIONS} identity={IDENTITY_URL}")
    try:
        server.serve_forever(poll_interval=0.5)
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.server_close()
        IN_FLIGHT.wait_idle(STOP_WAIT)


if __name__ == "__main__":
    main()

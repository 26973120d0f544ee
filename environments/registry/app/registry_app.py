"""Registry app (v1): resident registration as the clerks of a citizen office use it.

One process, Python stdlib HTTP server + psycopg2 + redis. JSON in, JSON out; every response
carries ``X-Drillkit-Node`` so a drill knows which replica answered.

    GET  /health              200 {"status":"ok","node"} | 503 {"status":"unavailable","node","error"}
    GET  /version             200 {"version","node"}
    POST /login               {"user","password"} -> 200 {"token","node","user","expires_in"} | 400 | 401
    GET  /residents/<id>      200 record | 404                                    (bearer token)
    GET  /residents?q=<name>  200 {"results":[record...], "count"} (at most 20)   (bearer token)
    POST /moves               {"resident_id","new_address"} -> 201 {"id"} | 400 | 404 (bearer token)
    GET  /moves/<id>          200 move | 404                                      (bearer token)

Failure rules: bad input is a 4xx, never a 500; an unreachable database or session store is a 503
with a JSON error. Every database operation has a deadline and a broken connection is dropped, so a
restart or a network fault of a dependency never wedges the node.

Configuration (environment): SESSIONS (shared | node-local), DB_HOST, DB_PORT, DB_NAME, DB_USER,
DB_PASSWORD, DB_POOL_SIZE, DB_TIMEOUT, REDIS_HOST, REDIS_PORT, PORT, APP_VERSION, DRILLKIT_NODE,
LOG_REQUESTS.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
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
SESSIONS_MODE = os.environ.get("SESSIONS", "shared")
PORT = int(os.environ.get("PORT", "8080"))
CONNECT_TIMEOUT = 2.0                                   # seconds, database and session store
DB_TIMEOUT = float(os.environ.get("DB_TIMEOUT", "5"))   # deadline of one database transaction
HEALTH_TIMEOUT = 1.0
SESSION_TTL = 8 * 3600
SEARCH_LIMIT = 20
MAX_BODY = 16 * 1024
LOG_REQUESTS = os.environ.get("LOG_REQUESTS", "") not in ("", "0", "false")
INT4_MAX, INT8_MAX = 2**31 - 1, 2**63 - 1


def log(msg: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {NODE} {msg}", file=sys.stderr, flush=True)


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

    def __init__(self, size: int, **dsn):
        self.dsn = dsn
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
    def transaction(self, timeout: float = DB_TIMEOUT):
        """Yield a cursor; commit on success (the write is acknowledged only after this), roll
        back on an exception. Connection problems and the deadline become DependencyDown (503)."""
        start = time.monotonic()
        deadline = start + timeout
        if not self._slots.acquire(timeout=timeout):
            raise DependencyDown("database", "all database connections busy")
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
            raise DependencyDown("database", detail) from None
        except BaseException:
            if conn is not None and not conn.closed:
                try:
                    conn.rollback()
                except psycopg2.Error:
                    broken = True
            raise
        finally:
            _deadline.at = None
            if conn is not None:
                self._checkin(conn, broken)
            self._slots.release()


DB = DbPool(
    int(os.environ.get("DB_POOL_SIZE", "8")),
    host=os.environ.get("DB_HOST", "db"),
    port=int(os.environ.get("DB_PORT", "5432")),
    dbname=os.environ.get("DB_NAME", "registry"),
    user=os.environ.get("DB_USER", "registry"),
    password=os.environ.get("DB_PASSWORD", "registry"),
    application_name=f"registry-{NODE}",
    keepalives=1, keepalives_idle=5, keepalives_interval=2, keepalives_count=2,
)


# --- sessions ------------------------------------------------------------------------------------
class SharedSessions:
    """Sessions in the shared store (Redis): any node accepts a token any node issued."""

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

    def create(self, record: dict) -> str:
        token = secrets.token_urlsafe(24)
        with self._errors():
            self.redis.set(f"session:{token}", json.dumps(record), ex=SESSION_TTL)
        return token

    def get(self, token: str) -> dict | None:
        with self._errors():
            raw = self.redis.get(f"session:{token}")
        return json.loads(raw) if raw else None

    def check(self) -> None:
        with self._errors():
            self.redis.ping()


class NodeLocalSessions:
    """DEFECT switch: sessions in this process only; a token works only on the node that issued it,
    and every session of a node dies with it."""

    mode = "node-local"

    def __init__(self):
        self._sessions: dict[str, tuple[float, dict]] = {}
        self._lock = threading.Lock()

    def create(self, record: dict) -> str:
        token = secrets.token_urlsafe(24)
        now = time.monotonic()
        with self._lock:
            if len(self._sessions) > 10_000:  # drop expired ones now and then
                self._sessions = {t: v for t, v in self._sessions.items() if v[0] > now}
            self._sessions[token] = (now + SESSION_TTL, record)
        return token

    def get(self, token: str) -> dict | None:
        with self._lock:
            entry = self._sessions.get(token)
        if entry is None or entry[0] <= time.monotonic():
            return None
        return entry[1]

    def check(self) -> None:
        return None


def make_sessions():
    if SESSIONS_MODE == "shared":
        return SharedSessions()
    if SESSIONS_MODE == "node-local":
        return NodeLocalSessions()
    sys.exit(f"SESSIONS must be 'shared' or 'node-local', not {SESSIONS_MODE!r}")


SESSIONS = make_sessions()


# --- passwords -------------------------------------------------------------------------------------
def verify_password(stored: str, password: str) -> bool:
    """Stored as "sha256$<salt>$<hex>" (cheap on purpose for now; the scheme prefix allows a
    costlier hash later)."""
    scheme, _, rest = stored.partition("$")
    salt, _, digest = rest.partition("$")
    if scheme != "sha256" or not digest:
        log(f"unknown password scheme {scheme!r}")
        return False
    computed = hashlib.sha256(f"{salt}:{password}".encode()).hexdigest()
    return hmac.compare_digest(computed, digest)


# --- request handling ----------------------------------------------------------------------------
RESIDENT_COLUMNS = "id, family_name, given_name, birth_date, address, updated_at"
MOVE_COLUMNS = "id, resident_id, new_address, clerk, created_at"


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


def _like_pattern(q: str) -> str:
    return "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


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
        ("GET", re.compile(r"/residents/(\d{1,20})"), "get_resident", True),
        ("GET", re.compile(r"/residents"), "search_residents", True),
        ("POST", re.compile(r"/moves"), "create_move", True),
        ("GET", re.compile(r"/moves/(\d{1,20})"), "get_move", True),
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
        started = time.monotonic()
        url = urlsplit(self.path)
        self.query = parse_qs(url.query)
        self.session = None
        self.extra_headers: dict[str, str] = {}
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
                    self._discard_body()
                    raise HttpError(405, "method not allowed", allow=allowed)
                self._discard_body()
                raise HttpError(404, "not found")
        except HttpError as exc:
            status, body = exc.status, exc.body
        except Exception:  # a bug, not bad input: log it, answer 500, keep serving
            traceback.print_exc()
            status, body = 500, {"error": "internal error"}
            self.close_connection = True
        self._send(status, body)
        if LOG_REQUESTS or status >= 500:
            if url.path != "/health" or status >= 500:
                log(f'{method} {url.path} {status} {1000 * (time.monotonic() - started):.1f}ms')

    def _send(self, status: int, body: dict) -> None:
        data = json.dumps(body, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-Drillkit-Node", NODE)
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

    def _discard_body(self) -> None:
        length = self.headers.get("Content-Length")
        if self.headers.get("Transfer-Encoding") or (length and length != "0"):
            self.close_connection = True  # don't read it; don't reuse the connection either

    def _json_body(self) -> dict:
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
        except (UnicodeDecodeError, ValueError):
            raise HttpError(400, "body is not valid JSON") from None
        if not isinstance(body, dict):
            raise HttpError(400, "body must be a JSON object")
        return body

    def _authenticate(self) -> dict:
        header = self.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            self._discard_body()
            raise HttpError(401, "session unknown", detail="send Authorization: Bearer <token>")
        session = SESSIONS.get(token) if len(token) <= 128 else None
        if session is None:
            self._discard_body()
            raise HttpError(401, "session unknown")
        return session

    def log_message(self, format, *args):  # access log: see LOG_REQUESTS in _dispatch
        pass

    # -- endpoints --
    def health(self):
        try:
            with DB.transaction(timeout=HEALTH_TIMEOUT) as cur:
                cur.execute("SELECT 1")
            SESSIONS.check()
        except DependencyDown as exc:
            return 503, {"status": "unavailable", "node": NODE,
                         "error": exc.body["error"], "detail": exc.body.get("detail", "")}
        return 200, {"status": "ok", "node": NODE}

    def version(self):
        return 200, {"version": VERSION, "node": NODE}

    def login(self):
        body = self._json_body()
        user = _text(body, "user", 64)
        password = _text(body, "password", 256)
        with DB.transaction() as cur:
            cur.execute("SELECT password_hash FROM clerks WHERE username = %s", (user,))
            row = cur.fetchone()
        if row is None or not verify_password(row[0], password):
            raise HttpError(401, "invalid credentials")
        token = SESSIONS.create({"user": user, "node": NODE, "created": time.time()})
        return 200, {"token": token, "node": NODE, "user": user, "expires_in": SESSION_TTL}

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
        rid = body.get("resident_id")
        if not isinstance(rid, int) or isinstance(rid, bool):
            raise HttpError(400, "'resident_id' must be an integer")
        new_address = _text(body, "new_address", 200)
        if not 0 < rid <= INT4_MAX:
            raise HttpError(404, "resident not found")
        with DB.transaction() as cur:  # acknowledged (201) only after this commits
            cur.execute("UPDATE residents SET address = %s, updated_at = now()"
                        " WHERE id = %s RETURNING id", (new_address, rid))
            if cur.fetchone() is None:
                raise HttpError(404, "resident not found")
            cur.execute("INSERT INTO moves (resident_id, new_address, clerk)"
                        " VALUES (%s, %s, %s) RETURNING id",
                        (rid, new_address, self.session["user"]))
            move_id = cur.fetchone()[0]
        self.extra_headers["Location"] = f"/moves/{move_id}"
        return 201, {"id": move_id}

    def get_move(self, move_id: str):
        mid = int(move_id)
        if not 0 < mid <= INT8_MAX:
            raise HttpError(404, "move not found")
        with DB.transaction() as cur:
            cur.execute(f"SELECT {MOVE_COLUMNS} FROM moves WHERE id = %s", (mid,))
            row = cur.fetchone()
            if row is None:
                raise HttpError(404, "move not found")
            return 200, _row(cur, row)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128
    allow_reuse_address = True


def main() -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # PID 1: stop promptly on docker stop
    server = Server(("0.0.0.0", PORT), Handler)
    log(f"registry v{VERSION} listening on :{PORT}, sessions={SESSIONS.mode}")
    try:
        server.serve_forever(poll_interval=0.5)
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()

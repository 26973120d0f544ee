"""HTTP/JSON and PostgreSQL plumbing of a drillkit reference app (stdlib + psycopg2).

Shared by the booking and identity apps of this folder (one build context, environments/pyapps).

Rules every app built on it follows: JSON in, JSON out; every response carries ``X-Drillkit-Node``;
bad input is a 4xx with a JSON error, never a 500; a database that cannot be reached (or a pool with
no free connection) is a 503. Every database operation has a deadline and a broken connection is
dropped, so a restart or a network fault of the database never wedges the node.
"""

from __future__ import annotations

import contextlib
import datetime
import decimal
import json
import os
import re
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
import psycopg2.errors
import psycopg2.extensions

NODE = os.environ.get("DRILLKIT_NODE") or socket.gethostname()
VERSION = os.environ.get("APP_VERSION", "1")
CONNECT_TIMEOUT = 2.0          # seconds: connecting to the database
MAX_BODY = 16 * 1024
LOG_REQUESTS = os.environ.get("LOG_REQUESTS", "") not in ("", "0", "false")
INT4_MAX, INT8_MAX = 2**31 - 1, 2**63 - 1


def log(msg: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {NODE} {msg}", file=sys.stderr, flush=True)


def _config_error(name: str, value: str, expected: str) -> None:
    log(f"configuration error: {name}={value!r}, expected {expected}")
    sys.exit(2)


def env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = os.environ.get(name) or default
    if value not in choices:
        _config_error(name, value, " or ".join(choices))
    return value


def env_number(name: str, default: float, minimum: float = 0, kind=float):
    raw = os.environ.get(name) or str(default)
    try:
        value = kind(raw)
    except ValueError:
        value = None
    if value is None or value < minimum:
        _config_error(name, raw, f"a number >= {minimum}")
    return value


# --- errors that become HTTP answers -----------------------------------------------------------
class HttpError(Exception):
    def __init__(self, status: int, error: str, **extra):
        super().__init__(error)
        self.status, self.body = status, {"error": error, **extra}


class DependencyDown(HttpError):
    """A dependency (the database, its pool) did not answer: 503."""

    def __init__(self, what: str, detail: str):
        super().__init__(503, f"{what} unavailable", detail=detail.strip()[:200])


# --- database: deadlines, a small pool, a health probe -----------------------------------------
_deadline = threading.local()


class DbTimeout(psycopg2.OperationalError):
    pass


def _wait_with_deadline(conn) -> None:
    """psycopg2 wait callback that gives up at the thread's deadline.

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


def db_settings(default_name: str) -> dict:
    """Connection parameters from DB_HOST, DB_PORT, DB_NAME, DB_USER, DB_PASSWORD."""
    return {
        "host": os.environ.get("DB_HOST", "db"),
        "port": int(os.environ.get("DB_PORT", "5432")),
        "dbname": os.environ.get("DB_NAME", default_name),
        "user": os.environ.get("DB_USER", default_name),
        "password": os.environ.get("DB_PASSWORD", default_name),
        "application_name": NODE,
        # The server gives up on stuck statements and lock waits too, and ends transactions
        # whose client vanished mid-way.
        "options": "-c statement_timeout=5000 -c lock_timeout=3000"
                   " -c idle_in_transaction_session_timeout=15000",
    }


def _connect(settings: dict, deadline: float):
    _deadline.at = min(deadline, time.monotonic() + CONNECT_TIMEOUT)
    try:
        return psycopg2.connect(**settings)
    finally:
        _deadline.at = deadline


def _looks_dead(conn) -> bool:
    # An idle connection never has anything to read; EOF or a server FATAL (restart, proxy closed)
    # makes the socket readable. Closed ones are dead too.
    if conn.closed:
        return True
    try:
        poller = select.poll()
        poller.register(conn.fileno(), select.POLLIN)
        return bool(poller.poll(0))
    except (ValueError, OSError, psycopg2.Error):
        return True


def _close_quietly(conn) -> None:
    with contextlib.suppress(Exception):
        conn.close()


class Pool:
    """At most `size` connections per node; idle ones are reused, dead ones dropped, new ones lazy.

    `wait` is how long a request waits for a free connection before it gets a 503 (None: forever,
    the defect of the identity surge). `timeout` is the deadline of one transaction.
    """

    def __init__(self, settings: dict, size: int, wait: float | None, timeout: float = 5.0):
        self.settings, self.size, self.wait, self.timeout = settings, size, wait, timeout
        self._slots = threading.BoundedSemaphore(size)
        self._idle: list = []
        self._lock = threading.Lock()
        self.in_use = 0
        self.waiting = 0

    def stats(self) -> dict:
        return {"size": self.size, "in_use": self.in_use, "waiting": self.waiting,
                "wait_timeout_s": self.wait}

    def _acquire_slot(self) -> None:
        with self._lock:
            self.waiting += 1
        try:
            got = self._slots.acquire() if self.wait is None else self._slots.acquire(timeout=self.wait)
        finally:
            with self._lock:
                self.waiting -= 1
        if not got:
            raise HttpError(503, "database pool exhausted",
                            detail=f"no free database connection within {self.wait:g} s")
        with self._lock:
            self.in_use += 1

    def _release_slot(self) -> None:
        with self._lock:
            self.in_use -= 1
        self._slots.release()

    def _checkout(self, deadline: float):
        while True:
            with self._lock:
                conn = self._idle.pop() if self._idle else None
            if conn is None:
                return _connect(self.settings, deadline)
            if not _looks_dead(conn):
                return conn
            _close_quietly(conn)

    def _checkin(self, conn, broken: bool) -> None:
        if broken or conn.closed or conn.status != psycopg2.extensions.STATUS_READY:
            _close_quietly(conn)
            return
        with self._lock:
            self._idle.append(conn)

    @contextlib.contextmanager
    def transaction(self):
        """A cursor inside one transaction, committed when the block ends without an exception.

        An HttpError raised in the block rolls back and passes through; database trouble becomes
        a 503 (connection, deadline, lock or statement timeout, any other database error).
        """
        self._acquire_slot()
        conn, broken = None, True
        deadline = time.monotonic() + self.timeout
        _deadline.at = deadline
        try:
            conn = self._checkout(deadline)
            try:
                with conn.cursor() as cur:
                    yield cur
            except HttpError:
                conn.rollback()
                broken = False
                raise
            conn.commit()
            broken = False
        except HttpError:
            raise
        except (psycopg2.errors.LockNotAvailable, psycopg2.errors.QueryCanceled) as exc:
            raise DependencyDown("database", f"database busy: {exc}") from None
        except psycopg2.Error as exc:
            raise DependencyDown("database", str(exc) or type(exc).__name__) from None
        finally:
            _deadline.at = None
            if conn is not None:
                self._checkin(conn, broken)
            self._release_slot()


class HealthProbe:
    """A dedicated connection for /health, apart from the request pool: it says whether this node
    reaches its database right now, not whether the pool is busy."""

    def __init__(self, settings: dict, timeout: float = 1.0):
        self.settings, self.timeout = settings, timeout
        self._conn = None
        self._lock = threading.Lock()

    def check(self) -> str | None:
        """None when the database answers `SELECT 1` within the timeout, else the reason."""
        if not self._lock.acquire(timeout=self.timeout):
            return "health check busy"
        deadline = time.monotonic() + self.timeout
        _deadline.at = deadline
        try:
            if self._conn is None or _looks_dead(self._conn):
                if self._conn is not None:
                    _close_quietly(self._conn)
                self._conn = None
                self._conn = _connect(self.settings, deadline)
                self._conn.autocommit = True
            with self._conn.cursor() as cur:
                cur.execute("SELECT 1")
                cur.fetchone()
            return None
        except psycopg2.Error as exc:
            if self._conn is not None:
                _close_quietly(self._conn)
            self._conn = None
            return (str(exc).strip() or type(exc).__name__)[:200]
        finally:
            _deadline.at = None
            self._lock.release()


# --- input validation ------------------------------------------------------------------------
def int_field(body: dict, name: str, maximum: int = INT4_MAX) -> int:
    value = body.get(name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise HttpError(400, f"'{name}' must be an integer")
    if value < 1:
        raise HttpError(400, f"'{name}' must be positive", **{name: value})
    if value > maximum:
        raise HttpError(404, f"no such {name.removesuffix('_id')}", **{name: value})
    return value


def str_field(body: dict, name: str, max_len: int = 200) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value.strip():
        raise HttpError(400, f"'{name}' must be a non-empty string")
    if len(value) > max_len:
        raise HttpError(400, f"'{name}' is longer than {max_len} characters")
    return value


def path_id(text: str, what: str, maximum: int = INT4_MAX) -> int:
    """An integer id from the URL path: not a number is a 400, a number that cannot exist a 404."""
    if not re.fullmatch(r"[0-9]{1,20}", text):
        raise HttpError(400, f"{what} id must be a positive integer", id=text[:40])
    value = int(text)
    if value < 1 or value > maximum:
        raise HttpError(404, f"no such {what}", id=value)
    return value


def to_json(value):
    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


# --- HTTP ------------------------------------------------------------------------------------
class Request:
    def __init__(self, method: str, path: str, query: dict, body: bytes, headers):
        self.method, self.path, self.query, self.raw, self.headers = method, path, query, body, headers

    def arg(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else None

    def json(self) -> dict:
        if not self.raw.strip():
            raise HttpError(400, "request body must be a JSON object")
        try:
            body = json.loads(self.raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise HttpError(400, "malformed JSON", detail=str(exc)[:200]) from None
        if not isinstance(body, dict):
            raise HttpError(400, "request body must be a JSON object")
        return body


class App:
    """Routes: (method, compiled path pattern, function(request, **groups) -> (status, body))."""

    def __init__(self, name: str):
        self.name = name
        self.routes: list[tuple[str, re.Pattern, object]] = []

    def route(self, method: str, pattern: str):
        def register(func):
            self.routes.append((method, re.compile(pattern + r"\Z"), func))
            return func
        return register

    def dispatch(self, request: Request):
        allowed = []
        for method, pattern, func in self.routes:
            match = pattern.match(request.path)
            if match is None:
                continue
            if method != request.method:
                allowed.append(method)
                continue
            return func(request, **match.groupdict())
        if allowed:
            raise HttpError(405, "method not allowed", allow=sorted(set(allowed)))
        raise HttpError(404, "no such resource", path=request.path[:200])


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"       # keep-alive for the load balancer
    server_version = "drillkit"
    sys_version = ""
    timeout = 60                        # idle keep-alive connections are closed after a minute
    app: App = None                     # set by serve()

    def log_message(self, format, *args):  # noqa: A002 - stdlib signature
        if LOG_REQUESTS:
            log(format % args)

    def send_error(self, code, message=None, explain=None):
        # Malformed request lines and unknown methods: JSON like everything else.
        self.close_connection = True
        self._send(code, {"error": message or self.responses.get(code, ("error",))[0]})

    def _send(self, status: int, body) -> None:
        data = b"" if body is None else json.dumps(body, ensure_ascii=False, default=to_json).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Drillkit-Node", NODE)
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            self.close_connection = True

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True
            raise HttpError(400, "chunked request bodies are not supported; send Content-Length")
        length = self.headers.get("Content-Length")
        if length is None:
            return b""
        if not length.isdigit():
            self.close_connection = True
            raise HttpError(400, "invalid Content-Length")
        if int(length) > MAX_BODY:
            self.close_connection = True
            raise HttpError(413, "request body too large", limit=MAX_BODY)
        return self.rfile.read(int(length))

    def _handle(self) -> None:
        started = time.monotonic()
        try:
            url = urlsplit(self.path)
            body = self._read_body()
            request = Request(self.command, url.path, parse_qs(url.query, keep_blank_values=True),
                              body, self.headers)
            status, payload = self.app.dispatch(request)
        except HttpError as exc:
            status, payload = exc.status, exc.body
        except Exception:  # a bug: say so in JSON and in the log, keep serving
            log("internal error on %s %s\n%s" % (self.command, self.path, traceback.format_exc()))
            status, payload = 500, {"error": "internal error"}
        self._send(status, payload)
        if LOG_REQUESTS:
            log(f"{self.command} {self.path} {status} {1000 * (time.monotonic() - started):.1f}ms")

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256


def serve(app: App, banner: str) -> None:
    """Serve `app` on PORT (default 8080) until SIGTERM or SIGINT."""
    Handler.app = app
    port = int(os.environ.get("PORT", "8080"))
    server = Server(("0.0.0.0", port), Handler)

    def stop(signum, frame):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log(f"{app.name} v{VERSION} listening on :{port} ({banner})")
    server.serve_forever(poll_interval=0.2)
    log("stopped")

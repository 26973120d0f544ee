"""changelab app: users log in, read items and write notes; sessions live in the database, so any
node (old or new version, old or new landscape once copied) accepts any token it can read.

POST /login {"user"} -> 200 {"token"}         GET /items/<id> -> 200 {"id", "title"}
POST /notes {"body"} -> 201 {"id": a uuid}    GET /health -> 200     GET /version -> 200 {...}
Every answer names the node in X-Drillkit-Node. No or an unknown session: 401. The database
unreachable or every pooled connection busy for POOL_TIMEOUT s: 503.

APP_VERSION   1 | 2        v1 issues tokens "1.<hex>", v2 "2.<hex>"
V2_SESSIONS   compatible | incompatible (DEFECT: v2 refuses v1 tokens: sessions lost in an upgrade)
POOL_SIZE     database connections per node (a drifted landscape: 1)
POOL_TIMEOUT  seconds a request waits for a pooled connection
"""
import json
import os
import socket
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg2

VERSION = os.environ.get("APP_VERSION", "1")
V2_SESSIONS = os.environ.get("V2_SESSIONS", "compatible")
POOL_SIZE = int(os.environ.get("POOL_SIZE", "4"))
POOL_TIMEOUT = float(os.environ.get("POOL_TIMEOUT", "2"))
DB = dict(host=os.environ.get("DB_HOST", "db"), dbname="changelab", user="changelab", password="changelab",
          connect_timeout=2)
NODE = os.environ.get("DRILLKIT_NODE") or socket.gethostname()
slots = threading.BoundedSemaphore(POOL_SIZE)
idle: list = []
idle_lock = threading.Lock()


class Unavailable(Exception):
    pass


def sql(query, params=()):
    """One transaction on a pooled connection (at most POOL_SIZE at once); commits before it returns."""
    if not slots.acquire(timeout=POOL_TIMEOUT):
        raise Unavailable(f"all {POOL_SIZE} database connections busy for {POOL_TIMEOUT:g} s")
    try:
        with idle_lock:
            conn = idle.pop() if idle else None
        try:
            conn = conn or psycopg2.connect(**DB)
            with conn.cursor() as cur:
                cur.execute(query, params)
                row = cur.fetchone() if cur.description else None
            conn.commit()
        except psycopg2.Error as exc:
            if conn is not None:
                conn.close()
            raise Unavailable(str(exc).strip().splitlines()[0]) from None
        with idle_lock:
            idle.append(conn)
        return row
    finally:
        slots.release()


def readable(token):
    """v2 with incompatible sessions reads only its own token format."""
    return not (VERSION == "2" and V2_SESSIONS == "incompatible" and not token.startswith("2."))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, status, body):
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.send_header("X-Drillkit-Node", NODE)
        self.end_headers()
        self.wfile.write(raw)

    def body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(length) or b"{}")

    def route(self, method):
        try:
            if method == "GET" and self.path == "/health":
                conn = psycopg2.connect(**{**DB, "connect_timeout": 1})
                conn.close()
                return self.answer(200, {"node": NODE})
            if method == "GET" and self.path == "/version":
                return self.answer(200, {"version": VERSION, "node": NODE, "pool_size": POOL_SIZE,
                                         "v2_sessions": V2_SESSIONS})
            if method == "POST" and self.path == "/login":
                user = str(self.body().get("user", ""))[:64]
                token = f"{VERSION}.{uuid.uuid4().hex}"
                sql("INSERT INTO sessions (token, username) VALUES (%s, %s)", (token, user))
                return self.answer(200, {"token": token, "node": NODE})
            token = self.headers.get("Authorization", "").removeprefix("Bearer ").strip()
            if not token or not readable(token):
                return self.answer(401, {"error": "no valid session"})
            if method == "GET" and self.path.startswith("/items/"):
                item = int(self.path.rsplit("/", 1)[1])
                row = sql("SELECT (SELECT 1 FROM sessions WHERE token = %s), id, title FROM items WHERE id = %s",
                          (token, item))
                if row is None:
                    return self.answer(404, {"error": "no such item"})
                if row[0] is None:
                    return self.answer(401, {"error": "no valid session"})
                return self.answer(200, {"id": row[1], "title": row[2]})
            if method == "POST" and self.path == "/notes":
                body = str(self.body().get("body", ""))[:200]
                row = sql("INSERT INTO notes (id, username, body, node) SELECT %s, username, %s, %s FROM sessions "
                          "WHERE token = %s RETURNING id", (uuid.uuid4().hex, body, NODE, token))
                if row is None:
                    return self.answer(401, {"error": "no valid session"})
                return self.answer(201, {"id": row[0]})
            return self.answer(404, {"error": "no such path"})
        except Unavailable as exc:
            return self.answer(503, {"error": str(exc)[:200]})
        except psycopg2.Error as exc:
            return self.answer(503, {"error": str(exc).strip()[:200]})
        except (ValueError, KeyError):
            return self.answer(400, {"error": "bad request"})

    def do_GET(self):
        self.route("GET")

    def do_POST(self):
        self.route("POST")


if __name__ == "__main__":
    print(f"changelab app v{VERSION} on {NODE}: pool {POOL_SIZE}, v2_sessions {V2_SESSIONS}, db {DB['host']}")
    server = ThreadingHTTPServer(("0.0.0.0", 8080), Handler)
    server.daemon_threads = True
    server.serve_forever()

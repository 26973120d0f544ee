"""Library loans: readers log in, look books up and borrow them.

POST /login {"reader"} -> 200 {"token"}          GET /books/<id> -> 200 {"id", "title"}
POST /loans {"book_id"} -> 201 {"id", "book_id"}  GET /health -> 200
Every answer names the node in `X-Served-By: <hostname>.library`. An unknown token is a 401;
a database or session store that does not answer is a 503.

SESSIONS=redis (sound): sessions live in the shared Redis, any node accepts any token.
SESSIONS=node-memory (DEFECT): sessions live in this process; they die with the node.
"""
import json
import os
import socket
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg2
import redis

SESSIONS = os.environ.get("SESSIONS", "redis")
NODE = f"{socket.gethostname()}.library"
store = redis.Redis(host=os.environ.get("REDIS_HOST", "sessions"), port=6379, socket_timeout=1,
                    socket_connect_timeout=1)
memory: dict[str, str] = {}
slots = threading.BoundedSemaphore(8)
idle: list = []
idle_lock = threading.Lock()


class Unavailable(Exception):
    pass


def sql(query, params=()):
    """One transaction on a pooled connection; commits before it returns."""
    with slots:
        with idle_lock:
            conn = idle.pop() if idle else None
        try:
            conn = conn or psycopg2.connect(host=os.environ.get("DB_HOST", "db"), dbname="library",
                                            user="library", password="library", connect_timeout=2,
                                            options="-c statement_timeout=3000")
            with conn.cursor() as cur:
                cur.execute(query, params)
                row = cur.fetchone() if cur.description else None
            conn.commit()
        except psycopg2.Error as exc:
            if conn is not None:
                conn.close()
            raise Unavailable(str(exc)) from None
        with idle_lock:
            idle.append(conn)
        return row


def session_put(token, reader):
    if SESSIONS == "node-memory":
        memory[token] = reader
    else:
        store.setex(f"session:{token}", 3600, reader)


def session_get(token):
    if SESSIONS == "node-memory":
        return memory.get(token)
    value = store.get(f"session:{token}")
    return value.decode() if value else None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, status, body):
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.send_header("X-Served-By", NODE)
        self.end_headers()
        self.wfile.write(raw)

    def reader(self):
        token = self.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        return session_get(token) if token else None

    def body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(length) or b"{}")

    def route(self, method):
        try:
            if method == "GET" and self.path == "/health":
                return self.answer(200, {"node": NODE, "sessions": SESSIONS})
            if method == "POST" and self.path == "/login":
                token = uuid.uuid4().hex
                session_put(token, str(self.body().get("reader", "")))
                return self.answer(200, {"token": token})
            reader = self.reader()
            if reader is None:
                return self.answer(401, {"error": "no valid session"})
            if method == "GET" and self.path.startswith("/books/"):
                book = int(self.path.rsplit("/", 1)[1])
                row = sql("SELECT id, title FROM books WHERE id = %s", (book,))
                return self.answer(200, {"id": row[0], "title": row[1]}) if row else self.answer(404, {})
            if method == "POST" and self.path == "/loans":
                book = int(self.body()["book_id"])
                row = sql("INSERT INTO loans (book_id, reader, node) VALUES (%s, %s, %s) RETURNING id",
                          (book, reader, NODE))
                return self.answer(201, {"id": row[0], "book_id": book})
            return self.answer(404, {"error": "no such path"})
        except (Unavailable, redis.RedisError) as exc:
            return self.answer(503, {"error": str(exc)[:200]})
        except (ValueError, KeyError):
            return self.answer(400, {"error": "bad request"})

    def do_GET(self):
        self.route("GET")

    def do_POST(self):
        self.route("POST")


if __name__ == "__main__":
    server = ThreadingHTTPServer(("0.0.0.0", 8080), Handler)
    server.daemon_threads = True
    server.serve_forever()

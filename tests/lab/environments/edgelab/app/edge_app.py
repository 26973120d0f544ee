"""edgelab app: a web node that answers any path, and a write-behind store of notes.

GET /health -> 200                 GET /<anything> -> 200 {"node", "version"}
POST /notes -> 201 {"id"}          acknowledged at once, committed COMMIT_DELAY s later (write-behind)
GET /notes -> {"notes": [ids]}     what is committed        GET /notes/pending -> {"pending": n}
Every answer names the node in X-Drillkit-Node.

VERSION       what GET / says (a rolling upgrade's new version sets it)
START_DELAY   seconds before the node listens at all (a slow start: connections refused meanwhile)
COMMIT_DELAY  seconds between acknowledging a note and committing it (default 0.8)
"""
import json
import os
import socket
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

NODE = os.environ.get("DRILLKIT_NODE") or socket.gethostname()
VERSION = os.environ.get("VERSION", "1")
START_DELAY = float(os.environ.get("START_DELAY", "0") or 0)
COMMIT_DELAY = float(os.environ.get("COMMIT_DELAY", "0.8") or 0)
pending: list = []      # (due, id), in order of acknowledgement
committed: list = []
lock = threading.Lock()


def flush() -> None:
    while True:
        time.sleep(0.02)
        now = time.monotonic()
        with lock:
            while pending and pending[0][0] <= now:
                committed.append(pending.pop(0)[1])


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

    def do_GET(self):
        if self.path == "/health":
            self.answer(200, {"ok": True})
        elif self.path == "/notes":
            with lock:
                self.answer(200, {"notes": list(committed)})
        elif self.path == "/notes/pending":
            with lock:
                self.answer(200, {"pending": len(pending)})
        else:
            self.answer(200, {"node": NODE, "version": VERSION})

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path != "/notes":
            self.answer(404, {"error": "no such path"})
            return
        note = uuid.uuid4().hex
        with lock:
            pending.append((time.monotonic() + COMMIT_DELAY, note))
        self.answer(201, {"id": note})


if __name__ == "__main__":
    time.sleep(START_DELAY)
    threading.Thread(target=flush, daemon=True).start()
    ThreadingHTTPServer(("0.0.0.0", 8080), Handler).serve_forever()

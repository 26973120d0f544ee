"""A service with a capacity you set: WORKERS requests at a time, each taking COST_MS (a sleep, so the
capacity does not depend on the machine's speed): capacity = WORKERS / COST_MS * 1000 requests/s.

MODE=queue (default): a request waits for a free worker (the wait grows once the rate passes the
capacity: the service degrades before it fails). MODE=shed: a request that finds every worker busy is
refused at once with 503 (the service fails at once, its answers stay fast).

GET /work does one unit of work; GET /health answers at once.
"""

import os
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

WORKERS = int(os.environ.get("WORKERS", "4"))
COST = float(os.environ.get("COST_MS", "50")) / 1000.0
MODE = os.environ.get("MODE", "queue")
NODE = os.environ.get("DRILLKIT_NODE") or socket.gethostname()
SLOTS = threading.BoundedSemaphore(WORKERS)
BODY_OK = b'{"done": true}'
BODY_BUSY = b'{"error": "busy"}'


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Drillkit-Node", NODE)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/health":
            return self.answer(200, b'{"status": "ok"}')
        if self.path != "/work":
            return self.answer(404, b'{"error": "not found"}')
        if not SLOTS.acquire(blocking=MODE != "shed"):
            return self.answer(503, BODY_BUSY)
        try:
            time.sleep(COST)
        finally:
            SLOTS.release()
        self.answer(200, BODY_OK)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024


if __name__ == "__main__":
    print(f"worker: {WORKERS} workers x {COST * 1000:.0f} ms, mode {MODE}: capacity {WORKERS / COST:.0f}/s",
          flush=True)
    Server(("0.0.0.0", 8080), Handler).serve_forever()

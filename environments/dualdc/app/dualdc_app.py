"""The dualdc environment's three programs, by the first argument (stdlib only):

``server``
    a mail server's two protocol paths over HTTP on port 8080: ``GET /mailbox/<user>`` (the user's own
    mailbox, answered by the server itself) and ``GET /shared/<box>`` (a shared mailbox, read from the
    store ``STORE_URL``: a second protocol path with its own connection, which is where the source's
    protocol bug broke access to shared mailboxes; 502 when the store does not answer within
    ``STORE_TIMEOUT`` seconds, 0.5 by default: below the clients' 1 s, so a broken path is an answer,
    not a dead server). ``/health``; every answer names the node in ``X-Drillkit-Node``.
``store``
    the mailbox store (the source's database availability group) on port 7000: ``GET /box/<box>``.
``dns``
    the round-robin DNS of the two data centres on UDP port 53: answers A queries for the names of
    ``DNS_ZONE`` (``mail=new-1,new-2;mail-old=old-1,old-2``) with the addresses of those nodes, in an
    order that rotates with every query (BIND's cyclic rrset-order). Like a zone file, it has no
    health checks: a node that went down stays in the answer with the address it had. The addresses
    are learnt from Docker's resolver (the node's alias) every ``DNS_REFRESH`` seconds and kept
    while a node does not resolve, so a node back with a new address is answered with the new one.
"""

import http.server
import json
import os
import socket
import socketserver
import struct
import sys
import threading
import time
import urllib.error
import urllib.request

NODE = os.environ.get("DRILLKIT_NODE", socket.gethostname())


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # quiet: drills read the timeline, not access logs
        pass

    def answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-Drillkit-Node", NODE)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        parts = self.path.strip("/").split("/")
        role = self.server.role
        if parts[0] in ("health", "version"):
            return self.answer(200, {"node": NODE, "role": role})
        if role == "store" and parts[0] == "box" and len(parts) == 2:
            return self.answer(200, {"box": parts[1], "messages": 3, "store": NODE})
        if role == "server" and parts[0] == "mailbox" and len(parts) == 2:
            return self.answer(200, {"user": parts[1], "messages": 5, "node": NODE})
        if role == "server" and parts[0] == "shared" and len(parts) == 2:
            url = f"{os.environ.get('STORE_URL', 'http://store:7000')}/box/{parts[1]}"
            try:
                with urllib.request.urlopen(url, timeout=float(os.environ.get("STORE_TIMEOUT", "0.5"))) as r:
                    box = json.loads(r.read())
            except (OSError, ValueError) as exc:   # reset, refused, timed out, garbled
                return self.answer(502, {"error": f"shared mailbox unreachable: {type(exc).__name__}", "node": NODE})
            return self.answer(200, {"box": parts[1], "messages": box.get("messages"), "node": NODE})
        return self.answer(404, {"error": "no such path"})


class HttpServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128    # socketserver's default backlog of 5 drops SYNs of 20 clients: 1-s stalls


def serve_http(role, port):
    srv = HttpServer(("0.0.0.0", port), Handler)
    srv.role = role
    srv.serve_forever()


# --- DNS ----------------------------------------------------------------------------------------
def parse_zone(text):
    """``mail=new-1,new-2;mail-old=old-1,old-2`` -> {"mail": ["new-1", "new-2"], ...}."""
    zone = {}
    for entry in filter(None, (e.strip() for e in text.split(";"))):
        name, _, nodes = entry.partition("=")
        zone[name.strip().lower().rstrip(".")] = [n.strip() for n in nodes.split(",") if n.strip()]
    return zone


def question(packet):
    """(id, flags, qname, qtype, end of the question) of a DNS query."""
    qid, flags, qd = struct.unpack("!HHH", packet[:6])
    labels, i = [], 12
    while packet[i]:
        n = packet[i]
        labels.append(packet[i + 1:i + 1 + n].decode("ascii", "replace"))
        i += 1 + n
    qtype, _ = struct.unpack("!HH", packet[i + 1:i + 5])
    return qid, flags, ".".join(labels).lower(), qtype, i + 5


def answer(packet, addresses):
    """The answer to ``packet``: A records for ``addresses`` (TTL 0), NXDOMAIN if there are none."""
    qid, flags, _, qtype, end = question(packet)
    rd = flags & 0x0100
    if addresses is None:
        return struct.pack("!HHHHHH", qid, 0x8403 | rd, 1, 0, 0, 0) + packet[12:end]   # NXDOMAIN
    records = addresses if qtype in (1, 255) else []
    head = struct.pack("!HHHHHH", qid, 0x8400 | rd, 1, len(records), 0, 0) + packet[12:end]
    body = b"".join(struct.pack("!HHHIH", 0xC00C, 1, 1, 0, 4) + socket.inet_aton(a) for a in records)
    return head + body


class Zone:
    """The zone's names, each with the last address every node of it resolved to."""

    def __init__(self, zone):
        self.zone = zone
        self.addresses = {}            # node -> last address learnt
        self.turn = {name: 0 for name in zone}
        self.lock = threading.Lock()

    def refresh(self):
        for nodes in self.zone.values():
            for node in nodes:
                try:
                    addr = socket.gethostbyname(node)
                except OSError:
                    continue           # down: the zone file still lists it
                with self.lock:
                    self.addresses[node] = addr

    def lookup(self, name):
        with self.lock:
            if name not in self.zone:
                return None
            found = [self.addresses[n] for n in self.zone[name] if n in self.addresses]
            k = self.turn[name] % len(found) if found else 0
            self.turn[name] += 1
        return found[k:] + found[:k]


def serve_dns():
    zone = Zone(parse_zone(os.environ.get("DNS_ZONE", "")))
    every = float(os.environ.get("DNS_REFRESH", "1"))

    def refresher():
        while True:
            zone.refresh()
            time.sleep(every)
    threading.Thread(target=refresher, daemon=True).start()
    health = int(os.environ.get("PORT", "8053"))
    threading.Thread(target=serve_http, args=("dns", health), daemon=True).start()   # /health
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("0.0.0.0", int(os.environ.get("DNS_PORT", "53"))))
    while True:
        packet, peer = sock.recvfrom(512)
        try:
            name = question(packet)[2]
            sock.sendto(answer(packet, zone.lookup(name)), peer)
        except (IndexError, struct.error, OSError):
            continue                   # not a DNS query we can parse: no answer


if __name__ == "__main__":
    role = sys.argv[1] if len(sys.argv) > 1 else "server"
    if role == "dns":
        serve_dns()
    elif role in ("server", "store"):
        serve_http(role, int(os.environ.get("PORT", "8080")))
    else:
        sys.exit(f"unknown role {role!r}: server, store or dns")

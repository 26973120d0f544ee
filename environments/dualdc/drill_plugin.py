"""dualdc's stack plug-in: mail clients that find their server through DNS (docs/plugins.md).

There is no load balancer and no entry point: a client asks the environment's round-robin DNS (the
``dns`` service, a real DNS server on UDP port 53) for the servers' name and connects to one of the
addresses itself — what a journey declared as data cannot do (journeys go to the entry point). The
three user kinds differ only in how they use the name:

``retrying`` (population ``retrying``)
    resolves ``mail`` on every request and connects to the first address it has not seen fail in
    the last ``hold`` seconds; after a request got no answer (timeout, refused, reset) it tries again
    at once — on another address, since the failed one is held back. Mail clients that do this
    lose one request when a data centre goes.
``caching`` (population ``caching``)
    resolves ``mail`` once, when it starts, and keeps the first address for good (a long-lived
    connection profile, a DNS cache that ignores the TTL). The users who got the lost data centre's
    address have no mail until it is back; no retry helps them.
``old-name`` (population ``old-name``)
    retrying clients still configured with the old name ``mail-old`` (the old servers) while the
    cutover runs both in parallel.

Every iteration reads the user's own mailbox (``GET /mailbox/<user>``, population = the kind's) and
a shared mailbox (``GET /shared/<box>``, population ``<kind>-shared``): the second protocol path,
which on the new servers passes the Toxiproxy link ``new-store`` (a link fault breaks it there, and
only there). A request that got no answer counts as failed; the answering node comes from
``X-Drillkit-Node``, and a failed request names the node whose address it went to, so a drill can
count who was pinned where.

Safety: the clients send only to the lab's own DNS container and to addresses inside the run's own
Docker networks; an answer with any other address is refused.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import struct
import threading
import time
from typing import Any, Generator

from drillkit import labels as L
from drillkit.clients import FAIL, OK, Client, ClientContext, CodeKind, Op, Outcome
from drillkit.errors import ConfigError, LabError
from drillkit.stack import StackPlugin

__all__ = ["plugin", "MailClient", "RETRY", "CACHE", "KIND_OF_SWITCH", "dns_query", "dns_addresses",
           "resolve", "NEW_NAME", "OLD_NAME", "MAILBOX", "SHARED"]

RETRY, CACHE = "retry", "cache"
KIND_OF_SWITCH = {RETRY: "retrying", CACHE: "caching"}   # the `clients` switch -> the user kind it means
NEW_NAME, OLD_NAME = "mail", "mail-old"
DNS_SERVICE, DNS_PORT, MAIL_PORT = "dns", 53, 8080
MAILBOX, SHARED = "GET /mailbox/{user}", "GET /shared/{box}"
BOXES = 5                                                 # shared mailboxes: team-1 .. team-5


# --- DNS on the wire (RFC 1035, A records only) -----------------------------------------------------
def dns_query(name: str, qid: int) -> bytes:
    """A recursive query for the A records of ``name``."""
    labels = name.rstrip(".").split(".")
    if not name or any(not 0 < len(part) < 64 for part in labels) or not name.isascii():
        raise ValueError(f"{name!r} is not a host name")
    qname = b"".join(bytes([len(part)]) + part.encode() for part in labels) + b"\x00"
    return struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + qname + struct.pack("!HH", 1, 1)


def _skip_name(packet: bytes, i: int) -> int:
    while True:
        n = packet[i]
        if n == 0:
            return i + 1
        if n & 0xC0 == 0xC0:          # a compression pointer ends the name
            return i + 2
        i += 1 + n


def dns_addresses(packet: bytes, qid: int) -> list[str]:
    """The A records of an answer, in the order the server gave them; [] for NXDOMAIN or none.
    An answer to another query (id) or a truncated packet is a ValueError."""
    if len(packet) < 12:
        raise ValueError("DNS answer shorter than its header")
    rid, flags, qd, an = struct.unpack("!HHHH", packet[:8])
    if rid != qid or not flags & 0x8000:
        raise ValueError("not the answer to this query")
    if flags & 0x000F:               # NXDOMAIN, SERVFAIL, ...
        return []
    i = 12
    for _ in range(qd):
        i = _skip_name(packet, i) + 4
    out = []
    for _ in range(an):
        i = _skip_name(packet, i)
        rtype, _cls, _ttl, length = struct.unpack("!HHIH", packet[i:i + 10])
        i += 10
        if rtype == 1 and length == 4:
            out.append(socket.inet_ntoa(packet[i:i + 4]))
        i += length
    if i > len(packet):
        raise ValueError("DNS answer truncated")
    return out


def resolve(server: tuple[str, int], name: str, *, timeout: float = 1.0, qid: int = 1) -> list[str]:
    """Ask the DNS server at ``server`` for ``name``'s A records (UDP, one try)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.sendto(dns_query(name, qid), server)
        while True:
            packet, _ = sock.recvfrom(512)
            try:
                return dns_addresses(packet, qid)
            except ValueError:
                continue             # a late answer to an earlier query: wait for ours


# --- the clients ------------------------------------------------------------------------------------
class MailClient(Client):
    """One mail user who finds a server through DNS; ``mode`` ``retry`` or ``cache`` (module doc)."""

    def __init__(self, name: str, *, population: str, dns_name: str = NEW_NAME, mode: str = RETRY,
                 timeout: float = 1.0, hold: float = 30.0):
        if mode not in (RETRY, CACHE):
            raise ConfigError(f"mail client mode {mode!r} is not {RETRY} or {CACHE}", field="mode",
                              fix=f"mode: {RETRY} (resolve every request) or {CACHE} (resolve once)")
        super().__init__(name)
        self.population, self.dns_name, self.mode = population, dns_name, mode
        self.timeout, self.hold = float(timeout), float(hold)
        self.cached: str | None = None          # cache mode: the one address kept
        self.failed: dict[str, float] = {}      # retry mode: address -> when it last got no answer
        self.nodes: dict[str, str] = {}         # address -> node (for attribution of failures)
        self.subnets: list[Any] = []
        self._qid = 0
        self._nodes_read = 0.0

    # -- opening: where the DNS server is, which addresses are the run's --------------------------
    def open(self, ctx: ClientContext) -> None:
        self.ctx = ctx
        env = ctx.env
        if env is None:
            raise ConfigError("mail clients need the running environment (its DNS server)", field="users",
                              fix="start them in a drill: drill.users('retrying', 6)")
        self.server = ctx.address(DNS_SERVICE, DNS_PORT)
        self.subnets = []                       # open may run again (the pool retries a failed open)
        for net in env.spec.networks:
            info = env.backend.network_info(net)
            if info.labels.get(L.RUN) != env.run_id:
                raise LabError(f"network {info.name} does not belong to run {env.run_id}")
            self.subnets += [ipaddress.ip_network(s) for s, _ in info.subnets if s and ":" not in s]
        self._read_nodes()
        if self.mode == CACHE:
            answer = self.lookup()
            if not answer:
                raise LabError(f"{self.dns_name} resolved to nothing")   # the pool opens it again later
            self.cached = answer[0]

    def _read_nodes(self) -> None:
        env = self.ctx.env
        found = {}
        for node in env.all_nodes():
            try:
                for addr in env.backend.addresses(node).values():
                    if addr:
                        found[addr] = node.name
            except Exception:         # a node down has no address: keep what we knew
                continue
        self.nodes.update(found)
        self._nodes_read = time.monotonic()

    def node_of(self, addr: str) -> str | None:
        if addr not in self.nodes and time.monotonic() - self._nodes_read > 2.0:
            self._read_nodes()
        return self.nodes.get(addr)

    def lookup(self) -> list[str]:
        """The DNS answer for the client's name; every address must be the run's own."""
        self._qid = self._qid % 65535 + 1
        answer = resolve(self.server, self.dns_name, timeout=self.timeout, qid=self._qid)
        for addr in answer:
            ip = ipaddress.ip_address(addr)
            if not any(ip in net for net in self.subnets):
                raise ConfigError(f"DNS answered {addr} for {self.dns_name}: not on the run's networks",
                                  field="users", fix="the dns service may only name nodes of this run")
        return answer

    # -- one iteration: own mailbox, then a shared one; a retry after no answer ------------------------
    def ops(self, iteration: int) -> Generator[Op, Outcome, None]:
        box = f"team-{iteration % BOXES + 1}"
        for name, population, path in ((MAILBOX, self.population, f"/mailbox/{self.name}"),
                                       (SHARED, f"{self.population}-shared", f"/shared/{box}")):
            out = yield Op(name, population, data=path)
            if self.mode == RETRY and out.http_status is None and not out.ok:
                yield Op(name, population, data=path)      # another address: the failed one is held back

    def pick(self) -> str:
        if self.mode == CACHE:
            return self.cached
        answer = self.lookup()
        if not answer:
            raise LookupError(f"{self.dns_name} resolved to nothing")
        now = time.monotonic()
        fresh = [a for a in answer if now - self.failed.get(a, -1e9) > self.hold]
        return (fresh or answer)[0]

    def invoke(self, op: Op) -> Outcome:
        try:
            addr = self.pick()
        except (OSError, LookupError, ValueError) as exc:
            return Outcome(FAIL, error=f"DNS: {type(exc).__name__}")
        conn = http.client.HTTPConnection(addr, MAIL_PORT, timeout=self.timeout)
        try:
            conn.request("GET", op.data)
            resp = conn.getresponse()
            resp.read()
            node = resp.getheader("X-Drillkit-Node") or self.node_of(addr)
            status = resp.status
        except (OSError, http.client.HTTPException) as exc:
            self.failed[addr] = time.monotonic()
            error = "timeout" if isinstance(exc, (socket.timeout, TimeoutError)) else type(exc).__name__
            return Outcome(FAIL, error=error, node=self.node_of(addr))
        finally:
            conn.close()
        if status != 200:
            return Outcome(FAIL, error=f"HTTP {status}", http_status=status, node=node)
        return Outcome(OK, http_status=status, node=node)


def _kind(kind: str, mode: str, dns_name: str) -> CodeKind:
    def make(i: int, timeout: float = 1.0, first: int = 1) -> MailClient:
        return MailClient(f"{kind}-{first + i:03d}", population=kind, dns_name=dns_name, mode=mode,
                          timeout=timeout)
    return CodeKind(make, populations=(kind, f"{kind}-shared"), think=0.1)


plugin = StackPlugin(name="dualdc", users={
    "retrying": _kind("retrying", RETRY, NEW_NAME),
    "caching": _kind("caching", CACHE, NEW_NAME),
    "old-name": _kind("old-name", RETRY, OLD_NAME),
})

"""Network faults inside the containers: partition, isolate, dns_failure.

Each is a set of iptables DROP rules inserted *inside* the containers it touches (they need
``cap_add: [NET_ADMIN]`` and iptables in the image), every rule tagged with the comment
``drillkit-<fault_id>``. Heal deletes exactly those rules and checks that ``iptables -S`` holds none
of them any more; a container that was restarted meanwhile has a fresh network namespace, so its
rules are gone already.

Peers are addressed by the IPs Docker gave them on the run's networks, read when the fault is
injected. Traffic to a peer that goes through a Toxiproxy link is cut as well (rules on the link's
port towards, or from, the Toxiproxy container) when the link's whole far end is on the other side.
"""

from __future__ import annotations

import shlex
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterable

from drillkit import labels as L
from drillkit.errors import FaultError, LabError
from drillkit.faults.base import Fault
from drillkit.faults.kinds import register
from drillkit.lab.environment import Environment
from drillkit.lab.guard import check_blast_radius
from drillkit.lab.node import Node
from drillkit.stack.roles import role_nodes
from drillkit.timeline import Timeline

__all__ = ["Partition", "Isolate", "DnsFailure", "IptablesFault", "DIRECTIONS"]

DIRECTIONS = ("both", "a-to-b", "b-to-a")
NEEDS = "give the service cap_add: [NET_ADMIN] and install iptables in its image"

Rule = list[str]  # an iptables rule spec without the operation: [chain, *matches, -j, target]


def each(items: Iterable, fn: Callable) -> list:
    """Run ``fn`` on every item in parallel; the first exception is raised after all finished."""
    items = list(items)
    if not items:
        return []
    with ThreadPoolExecutor(max_workers=len(items)) as pool:
        futures = [pool.submit(fn, i) for i in items]
    return [f.result() for f in futures]


def container_ips(env: Environment, node: Node) -> list[str]:
    """The node's addresses on the run's networks; refuses a node of another run."""
    if env.backend.labels(node).get(L.RUN) != env.run_id:
        raise FaultError(f"{node.container_name} does not belong to run {env.run_id}",
                         fix="faults only touch objects labelled with the current run")
    ips = list(env.backend.addresses(node).values())
    if not ips:
        raise FaultError(f"{node.container_name} has no address on the run's networks (not running?)",
                         fix="heal the fault that stopped it before cutting it off")
    return ips


def toxiproxy_ips(env: Environment) -> list[str]:
    return env.backend.link_proxy_addresses()


class IptablesFault(Fault):
    """Base of the faults made of tagged iptables rules inside containers.

    Subclasses build ``{node: [rule, ...]}`` in ``_plan``; rules of one chain keep their order (they
    are inserted at the top, before anything the image has). Subclasses that pick their nodes
    themselves (not through ``target``) implement ``_resolve``.
    """

    def __init__(self, target=None, **kw):
        super().__init__(target, **kw)
        self.rules: dict[Node, list[Rule]] = {}

    @property
    def comment(self) -> str:
        return f"drillkit-{self.fault_id}"

    def drop(self, chain: str, *match: str, jump: str = "DROP") -> Rule:
        return [chain, *match, "-m", "comment", "--comment", self.comment, "-j", jump]

    # -- node resolution -------------------------------------------------------------------------
    def _resolve(self, env: Environment) -> list[Node] | None:
        return None  # None: Fault.inject resolves self.target

    def inject(self, env: Environment, tl: Timeline) -> None:
        nodes = self._resolve(env)
        if nodes is not None:
            self.nodes = nodes
            check_blast_radius(env, self.nodes, self.max_nodes)
        super().inject(env, tl)

    # -- rules -----------------------------------------------------------------------------------
    def _plan(self, env: Environment) -> dict[Node, list[Rule]]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _inject(self, env: Environment) -> None:
        plan = {n: r for n, r in self._plan(env).items() if r}
        self.rules = plan  # recorded before inserting: heal removes whatever made it in

        def insert(node: Node) -> None:
            position: dict[str, int] = {}
            cmds = []
            for rule in plan[node]:
                position[rule[0]] = position.get(rule[0], 0) + 1
                cmds.append(shlex.join(["iptables", "-I", rule[0], str(position[rule[0]]), *rule[1:]]))
            try:
                env.exec(node, ["sh", "-c", " && ".join(cmds)])
            except LabError as exc:
                raise FaultError(f"{self.kind}: could not insert iptables rules in {node}: {exc.message}",
                                 fix=NEEDS) from None
        each(plan, insert)

    def _heal(self, env: Environment) -> None:
        def remove(node: Node) -> None:
            if not env.is_running(node):
                return  # a stopped or restarted container lost its network namespace and the rules
            cmds = [shlex.join(["iptables", "-D", *rule]) + " 2>/dev/null" for rule in self.rules[node]]
            check = f"if iptables -S | grep -w -- {shlex.quote(self.comment)}; then exit 3; fi"
            out = env.exec(node, ["sh", "-c", "; ".join([*cmds, check])], check=False)
            left = [line for line in out.splitlines() if self.comment in line.split()]
            if left:
                raise FaultError(f"{node}: iptables rules of {self.fault_id} are still there: {left[0]}")
        each(self.rules, remove)

    def targets(self) -> list[str]:
        return [str(n) for n in [*self.nodes, *getattr(self, "peers", [])]]

    def rules_left(self, env: Environment, node: Node) -> list[str]:
        """The node's iptables rules that carry this fault's tag (for checks after heal)."""
        out = env.exec(node, ["iptables", "-S"])
        return [line for line in out.splitlines() if self.comment in line.split()]


def _match(env: Environment, names: list[str], param: str) -> list[Node]:
    """Nodes named by services (``app``), single replicas (``app-1``) or roles of
    ``x-drillkit.roles`` (``primary``: every node holding it now, looked up at inject time)."""
    if isinstance(names, str):
        names = [names]
    if not names:
        raise FaultError(f"{param} is empty", fix=f"list services or nodes, e.g. {param}: [app]")
    nodes = env.all_nodes()
    roles = getattr(env.spec, "roles", {}) or {}
    out: list[Node] = []
    for name in names:
        hit = [n for n in nodes if name == n.service or name in n.names]
        if not hit and name in roles:
            hit = role_nodes(env, name)
            if not hit:
                raise FaultError(f"{param}: no node holds role {name!r} now",
                                 fix=f"check the role's command and the nodes of {', '.join(roles[name].services)}")
        if not hit:
            raise FaultError(f"{param}: {name!r} is not a service, node or role of {env.name}",
                             fix=f"use one of {', '.join(sorted(env.nodes))} "
                                 f"(or a node such as {nodes[0].name if nodes else 'app-1'}"
                                 + (f", or a role: {', '.join(roles)}" if roles else "") + ")")
        out.extend(n for n in hit if n not in out)
    return out


def cut_plan(fault: IptablesFault, env: Environment, side_a: list[Node], side_b: list[Node],
             direction: str) -> dict[Node, list[Rule]]:
    """Rules in side A's containers that cut A from B (and B from A), also through Toxiproxy links.

    ``both``: no packet either way. ``a-to-b``: A can neither open nor keep a connection to B, B can
    still reach A (connection tracking: packets in the *original* direction of A's connections are
    dropped). ``b-to-a``: the mirror image. Only side A needs iptables and NET_ADMIN.
    """
    b_ips = [ip for n in side_b for ip in container_ips(env, n)]
    b_names = {n.container_name for n in side_b}
    proxy = toxiproxy_ips(env) if env.spec.links else []
    plan: dict[Node, list[Rule]] = {}
    for a in side_a:
        rules: list[Rule] = []
        for ip in b_ips:
            if direction == "both":
                rules.append(fault.drop("OUTPUT", "-d", ip))
                rules.append(fault.drop("INPUT", "-s", ip))
            elif direction == "a-to-b":
                rules.append(fault.drop("OUTPUT", "-d", ip, "-m", "conntrack", "--ctdir", "ORIGINAL"))
            else:
                rules.append(fault.drop("INPUT", "-s", ip, "-m", "conntrack", "--ctdir", "ORIGINAL"))
        for link in env.spec.links:
            sources = {n.container_name for s in link.sources for n in env.nodes.get(s, [])}
            targets = {n.container_name for n in env.nodes.get(link.target, [])}
            for ip in proxy:
                # A -> B through the proxy: A's connections to the proxy's listener
                if (direction in ("both", "a-to-b") and a.service in link.sources
                        and targets and targets <= b_names):
                    rules.append(fault.drop("OUTPUT", "-d", ip, "-p", "tcp", "--dport", str(link.listen)))
                # B -> A through the proxy: the proxy's connections to A's port
                if (direction in ("both", "b-to-a") and a.service == link.target
                        and sources and sources <= b_names):
                    rules.append(fault.drop("INPUT", "-s", ip, "-p", "tcp", "--dport", str(link.port)))
        plan[a] = rules
    return plan


@register("partition")
class Partition(IptablesFault):
    """Two groups of services (or nodes) stop reaching each other.

    ``side_a`` / ``side_b`` list services (``app``), nodes (``app-1``) or roles (``primary``: the
    nodes holding it when the partition is injected, so "the primary from its replicas" follows a
    failover of an earlier drill); ``direction`` is ``both``
    (default), ``a-to-b`` (A cannot reach B, B still reaches A) or ``b-to-a``. The rules go into
    side A's containers.
    """

    def __init__(self, target=None, *, side_a: list[str], side_b: list[str], direction: str = "both", **kw):
        if target is not None:
            raise FaultError("partition takes side_a and side_b, not a target",
                             fix="write side_a: [app] and side_b: [db]")
        if direction not in DIRECTIONS:
            raise FaultError(f"partition direction {direction!r} is not one of {', '.join(DIRECTIONS)}",
                             fix="direction: both | a-to-b | b-to-a")
        super().__init__(None, **kw)
        self.side_a = [side_a] if isinstance(side_a, str) else list(side_a)
        self.side_b = [side_b] if isinstance(side_b, str) else list(side_b)
        self.direction = direction
        self.peers: list[Node] = []

    def describe(self) -> str:
        arrow = {"both": "|", "a-to-b": "-/->", "b-to-a": "<-/-"}[self.direction]
        return f"partition {','.join(self.side_a)} {arrow} {','.join(self.side_b)}"

    def detail(self) -> dict:
        return {"side_a": self.side_a, "side_b": self.side_b, "direction": self.direction,
                "peers": [str(n) for n in self.peers]}

    def _resolve(self, env: Environment) -> list[Node]:
        a = _match(env, self.side_a, "side_a")
        b = _match(env, self.side_b, "side_b")
        both = [n.name for n in a if n in b]
        if both:
            raise FaultError(f"partition: {', '.join(both)} is on both sides",
                             fix="a node can only be on one side of a partition")
        self.peers = b
        return a

    def _plan(self, env: Environment) -> dict[Node, list[Rule]]:
        return cut_plan(self, env, self.nodes, self.peers, self.direction)


@register("isolate")
class Isolate(IptablesFault):
    """The target node(s) lose every other container of the environment, both ways.

    Cuts the whole subnet of each of the run's networks except its gateway, so containers that were
    down at the time (or come back with another address) stay cut off too; the host (published
    ports, the gateway) still reaches the node.
    """

    def _plan(self, env: Environment) -> dict[Node, list[Rule]]:
        rules: list[Rule] = []
        for net in env.spec.networks:
            info = env.backend.network_info(net)
            if info.labels.get(L.RUN) != env.run_id:
                raise FaultError(f"network {info.name} does not belong to run {env.run_id}")
            for subnet, gateway in info.subnets:
                if not subnet or ":" in subnet:
                    continue
                if gateway:
                    rules.append(self.drop("OUTPUT", "-d", gateway, jump="ACCEPT"))
                    rules.append(self.drop("INPUT", "-s", gateway, jump="ACCEPT"))
                rules.append(self.drop("OUTPUT", "-d", subnet))
                rules.append(self.drop("INPUT", "-s", subnet))
        if not rules:
            raise FaultError(f"isolate: no IPv4 subnet found on {env.name}'s networks")
        return {n: list(rules) for n in self.nodes}


def dns_labels(name: str) -> bytes:
    """A name's labels as they start a DNS question (``web`` -> ``\\x03web``), without the root."""
    labels = name.rstrip(".").split(".")
    if not name or any(not 0 < len(l) < 64 for l in labels) or not name.isascii():
        raise FaultError(f"dns_failure: {name!r} is not a host name", fix="name: db (or db.example)")
    return b"".join(bytes([len(l)]) + l.encode() for l in labels)


@register("dns_failure")
class DnsFailure(IptablesFault):
    """One name stops resolving in the target's containers; every other name still resolves.

    Docker's resolver (127.0.0.11) is asked in UDP packets whose question starts 12 bytes into the
    DNS payload; an iptables string match anchored there (``--from 40``: 20 bytes IP + 8 UDP + 12
    DNS header) catches questions for ``name`` and ``name.<anything>``, case-insensitively.
    ``mode: fail`` drops the questions on the way out: the resolver gets a send error and the lookup
    fails at once (like NXDOMAIN/SERVFAIL). ``mode: timeout`` (default) drops the answers: the
    lookup hangs until the resolver gives up (glibc: 5 s per try), as with a dead DNS server.
    Names pinned in /etc/hosts (Toxiproxy link targets) do not use DNS and are refused.
    """

    MODES = ("timeout", "fail")

    def __init__(self, target=None, *, name: str, mode: str = "timeout", **kw):
        if mode not in self.MODES:
            raise FaultError(f"dns_failure mode {mode!r} is not one of {', '.join(self.MODES)}",
                             fix="mode: timeout (answers never come) or fail (lookups fail at once)")
        super().__init__(target, **kw)
        self.name = name
        self.mode = mode
        self._question = dns_labels(name)

    def describe(self) -> str:
        return f"dns_failure {self.name} in {self.target}"

    def detail(self) -> dict:
        return {"name": self.name, "mode": self.mode}

    def _plan(self, env: Environment) -> dict[Node, list[Rule]]:
        def pinned(node: Node) -> None:
            out = env.exec(node, ["getent", "-s", "files", "hosts", self.name], check=False)
            if out.strip():
                link = next((l.name for l in env.spec.links if l.target == self.name.split(".")[0]), None)
                raise FaultError(f"dns_failure: {self.name} is pinned in {node}'s /etc/hosts "
                                 f"({out.split()[0]}), so DNS is not asked",
                                 fix=f"use link_down on link {link!r}" if link else "pick a name resolved by DNS")
        each(self.nodes, pinned)
        pattern = "|" + self._question.hex() + "|"
        at = ["-m", "string", "--algo", "bm", "--icase", "--hex-string", pattern,
              "--from", "40", "--to", str(40 + len(self._question))]
        if self.mode == "fail":
            rule = self.drop("OUTPUT", "-p", "udp", "-d", "127.0.0.11", *at)
        else:
            rule = self.drop("INPUT", "-p", "udp", "-s", "127.0.0.11", *at)
        return {n: [rule] for n in self.nodes}

"""A small HTTP/1.1 client for synthetic users: keep-alive, cookies, timeouts, no surprises.

Only 127.0.0.1/localhost are allowed as targets (the lab's published ports): the safety rule.
"""

from __future__ import annotations

import http.client
import json
import socket
from dataclasses import dataclass
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import urlsplit

from drillkit.errors import ConfigError

__all__ = ["HttpClient", "Response", "ALLOWED_HOSTS"]

ALLOWED_HOSTS = {"127.0.0.1", "localhost", "::1"}
NODE_HEADER = "X-Drillkit-Node"
NOTICE_MARKERS = ("Störung", "disruption", "Service disruption")


@dataclass
class Response:
    status: int | None           # None: no HTTP answer at all (refused, reset, timeout)
    body: Any = None
    node: str | None = None
    error: str | None = None
    text: str = ""
    headers: dict[str, str] | None = None   # response headers (last value wins)

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def notice(self) -> bool:
        """The service's disruption notice (a 503 page telling users what is wrong and whom to call)."""
        return self.status == 503 and any(m in self.text for m in NOTICE_MARKERS)


def local_target(base_url: str) -> tuple[str, int]:
    """``(host, port)`` of ``base_url``, refused unless it is this machine (the lab's published ports)."""
    parts = urlsplit(base_url)
    if parts.hostname not in ALLOWED_HOSTS:
        raise ConfigError(f"traffic target {parts.hostname!r} is not on this machine",
                          field="url", fix="drills send traffic only to 127.0.0.1 (the lab's published ports)")
    return parts.hostname, parts.port or 80


class HttpClient:
    """One user's connection: keeps the session cookie(s) and a bearer token."""

    def __init__(self, base_url: str, timeout: float = 2.0, *, node_header: str = NODE_HEADER):
        self.host, self.port = local_target(base_url)
        self.timeout = timeout
        self.node_header = node_header  # the response header naming the replica that answered
        self.cookies: dict[str, str] = {}
        self.token: str | None = None
        self._conn: http.client.HTTPConnection | None = None

    def close(self) -> None:
        if self._conn:
            self._conn.close()
            self._conn = None

    def request(self, method: str, path: str, body: Any = None, *, auth: bool = True,
                timeout: float | None = None, headers: dict[str, str] | None = None) -> Response:
        extra = headers or {}
        headers = {"Accept": "application/json"}
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if auth and self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        headers.update(extra)
        for attempt in (1, 2):  # a reused keep-alive connection may have been closed by the peer
            fresh = self._conn is None
            if fresh:
                self._conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            if self._conn.sock is not None:
                self._conn.sock.settimeout(timeout or self.timeout)
            else:
                self._conn.timeout = timeout or self.timeout
            try:
                self._conn.request(method, path, body=payload, headers=headers)
                resp = self._conn.getresponse()
                raw = resp.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as exc:
                self.close()
                if fresh or attempt == 2:
                    return Response(None, error=type(exc).__name__)
                continue
            except (socket.timeout, TimeoutError):
                self.close()
                return Response(None, error="timeout")
            except OSError as exc:
                self.close()
                return Response(None, error=type(exc).__name__)
            break
        for header in resp.headers.get_all("Set-Cookie") or []:
            c = SimpleCookie()
            c.load(header)
            for k, morsel in c.items():
                self.cookies[k] = morsel.value
        if resp.getheader("Connection", "").lower() == "close":
            self.close()
        text = raw.decode("utf-8", "replace")
        data: Any = None
        if raw and "json" in (resp.getheader("Content-Type") or ""):
            try:
                data = json.loads(text)
            except ValueError:
                data = None
        return Response(resp.status, data, resp.getheader(self.node_header), None, text[:500],
                        dict(resp.getheaders()))

"""Toxiproxy links: our one adapter around toxiproxy-python.

toxiproxy-python 0.1.1 speaks to a v2 server but keeps host/port as class-level globals, sends
requests without timeouts, cannot fetch or update a single toxic, and lets a 500 surface as a
``KeyError``. This adapter closes those gaps: every call sets the server under a lock and passes a
timeout through the library's ``APIConsumer`` (which forwards keyword arguments to ``requests``),
answers are checked here and turned into :class:`~drillkit.errors.LinkError` with the server's
words, and the missing calls (get/update one toxic, populate) are added.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from drillkit.errors import LinkError

__all__ = ["Toxic", "LinkServer", "TOXIC_TYPES", "TOXIPROXY_SERVICE", "TOXIPROXY_API_PORT"]

TOXIPROXY_SERVICE = "toxiproxy"     # the link proxy's name among a run's services
TOXIPROXY_API_PORT = 8474

# toxic type -> attributes it takes (toxiproxy toxics/*.go)
TOXIC_TYPES: dict[str, tuple[str, ...]] = {
    "latency": ("latency", "jitter"),
    "bandwidth": ("rate",),
    "slow_close": ("delay",),
    "timeout": ("timeout",),
    "reset_peer": ("timeout",),
    "slicer": ("average_size", "size_variation", "delay"),
    "limit_data": ("bytes",),
}

_LOCK = threading.RLock()  # the library's host/port are class attributes shared by every server


@dataclass(frozen=True)
class Toxic:
    """A toxic as data (type, stream, toxicity, attributes) — deleted to end it."""

    type: str
    attributes: dict[str, Any] = field(default_factory=dict)
    stream: str = "downstream"
    toxicity: float = 1.0
    name: str | None = None

    def __post_init__(self):
        if self.type not in TOXIC_TYPES:
            raise LinkError(f"unknown toxic type {self.type!r}",
                            fix=f"use one of {', '.join(sorted(TOXIC_TYPES))}")
        unknown = set(self.attributes) - set(TOXIC_TYPES[self.type])
        if unknown:
            raise LinkError(f"toxic {self.type!r} has no attribute {sorted(unknown)[0]!r}",
                            fix=f"{self.type} takes {', '.join(TOXIC_TYPES[self.type])}")
        if self.stream not in ("upstream", "downstream"):
            raise LinkError(f"toxic stream {self.stream!r} is not upstream or downstream",
                            fix="stream: upstream (client→server) or downstream (server→client)")
        if not 0.0 <= float(self.toxicity) <= 1.0:
            raise LinkError(f"toxicity {self.toxicity} is outside 0..1", fix="give a fraction 0..1")

    @property
    def key(self) -> str:
        return self.name or f"{self.type}_{self.stream}"

    def as_json(self) -> dict[str, Any]:
        return {"name": self.key, "type": self.type, "stream": self.stream,
                "toxicity": float(self.toxicity), "attributes": dict(self.attributes)}


class LinkServer:
    """One Toxiproxy server, reached on 127.0.0.1:<port> (published by the lab)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 8474, timeout: float = 5.0):
        self.host, self.port, self.timeout = host, port, timeout

    # -- transport -------------------------------------------------------------------------------
    def _call(self, method: str, path: str, json: Any = None, ok: tuple[int, ...] = (200, 201, 204)):
        from toxiproxy import exceptions as tx  # deferred: the Toxiproxy library, only when links are used
        from toxiproxy.api import APIConsumer  # deferred: the Toxiproxy library, only when links are used

        with _LOCK:
            APIConsumer.host, APIConsumer.port = self.host, self.port
            try:
                if method == "GET":
                    resp = APIConsumer.get(path, timeout=self.timeout)
                elif method == "DELETE":
                    resp = APIConsumer.delete(path, timeout=self.timeout)
                elif method == "POST":
                    resp = APIConsumer.post(path, json=json, timeout=self.timeout)
                else:  # PATCH: the library has no such call
                    import requests  # deferred: the HTTP library under Toxiproxy's, only when links are used
                    resp = requests.request(method, f"http://{self.host}:{self.port}{path}",
                                            json=json, timeout=self.timeout)
            except (tx.ProxyExists, tx.NotFound, tx.InvalidToxic) as exc:
                raise LinkError(f"Toxiproxy refused {method} {path}: {_text(exc.args[0] if exc.args else exc)}",
                                fix=_fix_for(exc)) from None
            except Exception as exc:  # connection refused, timeout
                raise LinkError(f"Toxiproxy at {self.host}:{self.port} did not answer {method} {path} "
                                f"({type(exc).__name__})",
                                fix="check the lab's toxiproxy container (`drill ps`) and its logs") from None
        if resp.status_code not in ok:
            raise LinkError(f"Toxiproxy answered {resp.status_code} to {method} {path}: {_text(resp.content)}",
                            fix="see the Toxiproxy server log in the report attachments")
        if resp.status_code == 204 or not resp.content:
            return None
        return resp.json()

    def wait_ready(self, deadline: float = 15.0) -> str:
        end = time.monotonic() + deadline
        last: Exception | None = None
        while time.monotonic() < end:
            try:
                return self.version()
            except LinkError as exc:
                last = exc
                time.sleep(0.05)
        raise LinkError(f"Toxiproxy at {self.host}:{self.port} not ready after {deadline:.0f} s ({last})",
                        fix="look at the toxiproxy container's log")

    # -- server ----------------------------------------------------------------------------------
    def version(self) -> str:
        from toxiproxy.api import APIConsumer  # deferred: the Toxiproxy library, only when links are used
        with _LOCK:
            APIConsumer.host, APIConsumer.port = self.host, self.port
            try:
                resp = APIConsumer.get("/version", timeout=self.timeout)
            except Exception as exc:
                raise LinkError(f"Toxiproxy at {self.host}:{self.port} did not answer ({type(exc).__name__})") from None
        return resp.text.strip()

    def proxies(self) -> dict[str, dict[str, Any]]:
        return self._call("GET", "/proxies") or {}

    def create(self, name: str, listen: str, upstream: str, enabled: bool = True) -> dict[str, Any]:
        return self._call("POST", "/proxies", {"name": name, "listen": listen, "upstream": upstream,
                                               "enabled": enabled})

    def remove(self, name: str) -> None:
        """Delete a proxy (its listener closes; a runbook recreates a wedged one this way)."""
        self._call("DELETE", f"/proxies/{name}")

    def populate(self, proxies: list[dict[str, Any]]) -> Any:
        return self._call("POST", "/populate", proxies)

    def reset(self) -> None:
        """Enable every proxy and delete every toxic."""
        self._call("POST", "/reset")

    # -- one proxy -------------------------------------------------------------------------------
    def proxy(self, name: str) -> dict[str, Any]:
        return self._call("GET", f"/proxies/{name}")

    def set_enabled(self, name: str, enabled: bool) -> None:
        """``enabled: false`` is a link down: the listener closes and connections drop."""
        self._call("POST", f"/proxies/{name}", {"enabled": enabled})

    def set_upstream(self, name: str, upstream: str) -> None:
        """Repoint a link (a runbook's promotion moves the apps to the new primary this way)."""
        self._call("POST", f"/proxies/{name}", {"upstream": upstream})

    def toxics(self, proxy: str) -> list[dict[str, Any]]:
        return self._call("GET", f"/proxies/{proxy}/toxics") or []

    def toxic(self, proxy: str, name: str) -> dict[str, Any]:
        return self._call("GET", f"/proxies/{proxy}/toxics/{name}")

    def add_toxic(self, proxy: str, toxic: Toxic) -> dict[str, Any]:
        return self._call("POST", f"/proxies/{proxy}/toxics", toxic.as_json())

    def update_toxic(self, proxy: str, name: str, *, attributes: dict[str, Any] | None = None,
                     toxicity: float | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {}
        if attributes is not None:
            body["attributes"] = attributes
        if toxicity is not None:
            body["toxicity"] = toxicity
        return self._call("PATCH", f"/proxies/{proxy}/toxics/{name}", body)

    def remove_toxic(self, proxy: str, name: str) -> None:
        self._call("DELETE", f"/proxies/{proxy}/toxics/{name}")


def _text(raw: Any) -> str:
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "replace")
    return str(raw).strip().replace("\n", " ")[:200]


def _fix_for(exc: Exception) -> str:
    name = type(exc).__name__
    return {"ProxyExists": "the link already exists; reset the lab or pick another name",
            "NotFound": "name a link declared in x-drillkit.links",
            "InvalidToxic": "check the toxic's type, stream and attributes"}.get(name, "see the server log")

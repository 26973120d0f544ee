"""The event-loop twin of :class:`drillkit.traffic.http.HttpClient`: one user's keep-alive HTTP/1.1
connection on asyncio, for the open-loop generator (:mod:`drillkit.load.generator`), where thousands
of requests a second on one core leave no room for a thread per user and ``http.client``'s header
parser.

Same rules and the same answers as the threaded client: only 127.0.0.1/localhost as targets, the
session cookie(s) kept, a reused keep-alive connection the peer had closed retried once, and the same
:class:`~drillkit.traffic.http.Response` (status, JSON body, node header, error, first 500 characters
of text, headers — last value wins). Errors are named as there: ``timeout``, ``ConnectionRefusedError``,
``RemoteDisconnected`` (closed before an answer), ``ConnectionResetError``. Two differences, said here
so nobody trips on them: ``timeout`` bounds the whole request (connect, send, the full answer; looked
at every :data:`TICK` seconds), where the threaded client bounds each socket operation; and no
``Accept-Encoding`` header is sent (``http.client`` sends the value that means the same as none).

Framing: ``Content-Length``, ``Transfer-Encoding: chunked`` and read-until-close; no body for HEAD,
1xx, 204 and 304. Interim 1xx answers are skipped.
"""

from __future__ import annotations

import asyncio
import json
import weakref
from http.cookies import SimpleCookie
from typing import Any

from drillkit.traffic.http import NODE_HEADER, Response, local_target

__all__ = ["AsyncHttpClient"]

_BODYLESS = frozenset((204, 304))
_WANTS_LENGTH = frozenset(("POST", "PUT", "PATCH"))   # http.client sends Content-Length: 0 for these


class _Closed(Exception):
    """The peer closed the connection before a complete answer."""


class _Conn(asyncio.Protocol):
    """One connection: collects bytes and hands a complete answer to the waiting request."""

    __slots__ = ("transport", "buf", "waiter", "closed", "head", "method")

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.waiter: asyncio.Future | None = None
        self.closed = False
        self.head: tuple | None = None     # parsed head of the answer being read
        self.method = "GET"

    def connection_made(self, transport) -> None:  # type: ignore[override]
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buf += data
        w = self.waiter
        if w is not None:
            try:
                done = self._parse(False)
            except Exception as exc:  # a malformed answer: the request fails, the connection goes
                self.waiter = None
                if not w.done():
                    w.set_exception(exc)
                return
            if done is not None:
                self.waiter = None
                if not w.done():
                    w.set_result(done)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        w = self.waiter
        if w is None or w.done():
            return
        self.waiter = None
        try:
            done = self._parse(True)
        except Exception as e:
            w.set_exception(e)
            return
        if done is not None:
            w.set_result(done)
        elif isinstance(exc, OSError):
            w.set_exception(exc)
        else:
            w.set_exception(_Closed())

    # -- parsing ---------------------------------------------------------------------------------
    def _parse(self, eof: bool) -> tuple | None:
        """(status, headers, raw body, keep_alive) once complete; None while more is to come."""
        buf = self.buf
        while True:
            head = self.head
            if head is None:
                end = buf.find(b"\r\n\r\n")
                if end < 0:
                    if eof and buf:
                        raise ValueError("truncated answer head")
                    return None
                lines = bytes(buf[:end]).decode("latin-1").split("\r\n")
                parts = lines[0].split(" ", 2)
                if len(parts) < 2 or not parts[0].startswith("HTTP/"):
                    raise ValueError(f"bad status line {lines[0][:80]!r}")
                status = int(parts[1])
                del buf[:end + 4]
                if 100 <= status < 200:       # interim answer (100 Continue): the real one follows
                    continue
                headers: list[tuple[str, str, str]] = []    # (name, value, name in lower case)
                length: int | None = None
                chunked = False
                close = parts[0] == "HTTP/1.0"
                for line in lines[1:]:
                    name, sep, value = line.partition(":")
                    if not sep:
                        continue
                    name, value = name.strip(), value.strip()
                    low = name.lower()
                    headers.append((name, value, low))
                    if low == "content-length":
                        length = int(value)
                    elif low == "transfer-encoding":
                        chunked = "chunked" in value.lower()
                    elif low == "connection":
                        v = value.lower()
                        close = "close" in v or (close and "keep-alive" not in v)
                if self.method == "HEAD" or status in _BODYLESS:
                    length, chunked = 0, False
                elif chunked:
                    length = None
                elif length is None:
                    close = True               # read until the peer closes
                head = self.head = (status, headers, length, chunked, close)
            status, headers, length, chunked, close = head
            if chunked:
                body = _dechunk(buf)
                if body is None:
                    if eof:
                        raise ValueError("truncated chunked body")
                    return None
                raw, used = body
                del buf[:used]
            elif length is not None:
                if len(buf) < length:
                    if eof:
                        raise ValueError("truncated body")
                    return None
                raw = bytes(buf[:length])
                del buf[:length]
            else:
                if not eof:
                    return None
                raw = bytes(buf)
                buf.clear()
            self.head = None
            return status, headers, raw, not close


def _dechunk(buf: bytearray) -> tuple[bytes, int] | None:
    """(body, bytes used) of a complete chunked body at the start of ``buf``; None if incomplete."""
    out = bytearray()
    pos = 0
    while True:
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            return None
        size = int(bytes(buf[pos:eol]).split(b";", 1)[0].strip() or b"0", 16)
        pos = eol + 2
        if size == 0:
            while True:                        # trailers, up to the empty line
                eol = buf.find(b"\r\n", pos)
                if eol < 0:
                    return None
                if eol == pos:
                    return bytes(out), eol + 2
                pos = eol + 2
        if len(buf) < pos + size + 2:
            return None
        out += buf[pos:pos + size]
        pos += size + 2


TICK = 0.005   # seconds: how often the deadlines of the requests in flight are looked at


class _Deadlines:
    """The requests in flight on one loop and when each gives up: one timer for all of them (every
    :data:`TICK` while any is waiting) instead of one per request. A request times out at most one
    tick after its deadline."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop
        self.waiting: dict[asyncio.Future, float] = {}
        self.handle: asyncio.TimerHandle | None = None

    def add(self, fut: asyncio.Future, deadline: float) -> None:
        self.waiting[fut] = deadline
        if self.handle is None:
            self.handle = self.loop.call_later(TICK, self._tick)

    def _tick(self) -> None:
        self.handle = None
        waiting = self.waiting
        now = self.loop.time()
        for fut, deadline in list(waiting.items()):
            if fut.done():
                del waiting[fut]
            elif deadline <= now:
                del waiting[fut]
                fut.set_exception(TimeoutError())
        if waiting:
            self.handle = self.loop.call_later(TICK, self._tick)


_DEADLINES: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Deadlines]" = weakref.WeakKeyDictionary()


def _deadlines(loop: asyncio.AbstractEventLoop) -> _Deadlines:
    d = _DEADLINES.get(loop)
    if d is None:
        d = _DEADLINES[loop] = _Deadlines(loop)
    return d


class AsyncHttpClient:
    """One user's connection on the running event loop: keeps the session cookie(s) and a bearer token.

    ``await request(method, path, body, ...)`` → :class:`~drillkit.traffic.http.Response`, as
    :meth:`drillkit.traffic.http.HttpClient.request`.
    """

    def __init__(self, base_url: str, timeout: float = 2.0, *, node_header: str = NODE_HEADER):
        self.host, self.port = local_target(base_url)
        self.timeout = timeout
        self.node_header = node_header
        self._node_low = node_header.lower()
        self.cookies: dict[str, str] = {}
        self.token: str | None = None
        self._conn: _Conn | None = None
        self._deadlines: _Deadlines | None = None
        self._plain: dict[tuple[str, str], bytes] = {}     # requests without body, cookie or header
        self._host_line = f"Host: {self.host}\r\n" if self.port == 80 else f"Host: {self.host}:{self.port}\r\n"

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and conn.transport is not None:
            conn.transport.close()

    async def _connect(self, loop: asyncio.AbstractEventLoop, deadline: float) -> _Conn:
        left = deadline - loop.time()
        if left <= 0:
            raise TimeoutError()
        _, conn = await asyncio.wait_for(loop.create_connection(_Conn, self.host, self.port), left)
        return conn  # type: ignore[return-value]

    def _encode(self, method: str, path: str, body: Any, auth: bool, headers: dict[str, str] | None) -> bytes:
        plain = body is None and not headers and not self.cookies and not (auth and self.token)
        if plain:   # the same bytes every time (a GET of a fixed path): made once
            data = self._plain.get((method, path))
            if data is not None:
                return data
        data = self._compose(method, path, body, auth, headers)
        if plain:
            if len(self._plain) >= 64:
                self._plain.clear()
            self._plain[(method, path)] = data
        return data

    def _compose(self, method: str, path: str, body: Any, auth: bool, headers: dict[str, str] | None) -> bytes:
        payload = None
        lines = [f"{method} {path} HTTP/1.1\r\n"]
        given = {k.lower() for k in headers} if headers else ()
        if "host" not in given:
            lines.append(self._host_line)
        hdrs = {"Accept": "application/json"}
        if body is not None:
            payload = json.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
        if auth and self.token:
            hdrs["Authorization"] = f"Bearer {self.token}"
        if self.cookies:
            hdrs["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if headers:
            hdrs.update(headers)
        if "content-length" not in given:
            if payload is not None:
                lines.append(f"Content-Length: {len(payload)}\r\n")
            elif method in _WANTS_LENGTH:
                lines.append("Content-Length: 0\r\n")
        for k, v in hdrs.items():
            lines.append(f"{k}: {v}\r\n")
        lines.append("\r\n")
        data = "".join(lines).encode("latin-1", "replace")
        return data + payload if payload is not None else data

    async def request(self, method: str, path: str, body: Any = None, *, auth: bool = True,
                      timeout: float | None = None, headers: dict[str, str] | None = None) -> Response:
        loop = asyncio.get_running_loop()
        limit = timeout or self.timeout
        deadline = loop.time() + limit
        data = self._encode(method, path, body, auth, headers)
        deadlines = self._deadlines
        if deadlines is None or deadlines.loop is not loop:
            deadlines = self._deadlines = _deadlines(loop)
        for attempt in (1, 2):   # a reused keep-alive connection may have been closed by the peer
            conn = self._conn
            if conn is not None and conn.closed:
                self.close()
                conn = None
            fresh = conn is None
            try:
                if fresh:
                    conn = self._conn = await self._connect(loop, deadline)
                conn.method = method
                conn.head = None
                fut = loop.create_future()
                conn.waiter = fut
                conn.transport.write(data)
                deadlines.add(fut, deadline)
                try:
                    status, hdrs, raw, keep = await fut
                finally:
                    deadlines.waiting.pop(fut, None)
                    conn.waiter = None
            except (_Closed, BrokenPipeError, ConnectionResetError) as exc:
                self.close()
                if fresh or attempt == 2:
                    return Response(None, error="RemoteDisconnected" if isinstance(exc, _Closed) else type(exc).__name__)
                continue
            except (TimeoutError, asyncio.TimeoutError):
                self.close()
                return Response(None, error="timeout")
            except OSError as exc:
                self.close()
                return Response(None, error=type(exc).__name__)
            except ValueError as exc:   # a malformed answer (http.client: BadStatusLine and the like)
                self.close()
                return Response(None, error=type(exc).__name__)
            break
        node = None
        ctype = ""
        hmap: dict[str, str] = {}
        low = self._node_low
        for name, value, n in hdrs:
            hmap[name] = value
            if n == low:
                node = value if node is None else f"{node}, {value}"
            elif n == "content-type":
                ctype = value
            elif n == "set-cookie":
                c = SimpleCookie()
                c.load(value)
                for k, morsel in c.items():
                    self.cookies[k] = morsel.value
        if not keep:
            self.close()
        text = raw.decode("utf-8", "replace")
        parsed: Any = None
        if raw and "json" in ctype:
            try:
                parsed = json.loads(text)
            except ValueError:
                parsed = None
        return Response(status, parsed, node, None, text[:500], hmap)

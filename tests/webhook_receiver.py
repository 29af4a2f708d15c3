"""A real webhook receiver on 127.0.0.1 that answers as the IoT-Zinx platforms do.

A platform checks `event_id`, `event_type` and `device_id`, de-duplicates on `event_id` and
answers `{"code": 200, ...}`. Tests script the next answers (errors, slow answers, garbage)
and read back every request exactly as received.

The tests run with a frozen clock (freezegun freezes the event loop's clock too), so waiting
here never uses loop timers: `wait_until` spins the loop and gives up after a real-time
deadline measured by a thread.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
import hashlib
import hmac
import json
import socket
import threading
from typing import Any

from aiohttp import web
from multidict import CIMultiDict

# What aiohttp's client adds by itself; the tests assert everything else exactly.
TRANSPORT_HEADERS = frozenset({"Host", "Accept", "Accept-Encoding", "Content-Length"})

Answer = Callable[[web.Request, "Received"], Awaitable[web.StreamResponse]]


@dataclass
class Received:
    """One request as the receiver saw it."""

    headers: CIMultiDict[str]
    body: bytes
    path: str

    @property
    def event(self) -> dict[str, Any]:
        """The decoded envelope."""
        decoded: dict[str, Any] = json.loads(self.body)
        return decoded

    @property
    def event_id(self) -> str:
        """The envelope's event_id."""
        return str(self.event["event_id"])

    def app_headers(self) -> dict[str, str]:
        """The headers the integration chose (transport headers left out)."""
        return {k: v for k, v in self.headers.items() if k not in TRANSPORT_HEADERS}


def signature_ok(received: Received, secret: str) -> bool:
    """Verify X-Signature as a platform would."""
    expected = "sha256=" + hmac.new(secret.encode(), received.body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, received.headers.get("X-Signature", ""))


async def ok(_request: web.Request, _received: Received) -> web.StreamResponse:
    """A platform's success answer."""
    return web.json_response({"code": 200, "message": "success"})


def status(code: int, headers: dict[str, str] | None = None, body: str = "") -> Answer:
    """An HTTP error answer."""

    async def answer(_request: web.Request, _received: Received) -> web.StreamResponse:
        return web.Response(status=code, text=body, headers=headers)

    return answer


def text(body: str, code: int = 200) -> Answer:
    """A non-JSON (or wrong JSON) answer."""

    async def answer(_request: web.Request, _received: Received) -> web.StreamResponse:
        return web.Response(status=code, text=body, content_type="text/plain")

    return answer


def free_port() -> int:
    """A port nobody listens on (for "connection refused")."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@dataclass
class Receiver:
    """The platform: records requests, de-duplicates on event_id, answers as scripted."""

    port: int = 0
    answers: deque[Answer] = field(default_factory=deque)
    requests: list[Received] = field(default_factory=list)
    processed: list[str] = field(default_factory=list)  # event_ids, first time each
    in_flight: int = 0
    max_in_flight: int = 0
    release: asyncio.Event = field(default_factory=asyncio.Event)
    _runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        """Where the receiver listens."""
        return f"http://127.0.0.1:{self.port}/api/iot/events"

    def respond(self, *answers: Answer) -> None:
        """Use these answers for the next requests, then `ok` again."""
        self.answers.extend(answers)

    def hang(self) -> Answer:
        """An answer that comes only when `release` is set (or the client gives up)."""

        async def answer(_request: web.Request, _received: Received) -> web.StreamResponse:
            await self.release.wait()
            return web.json_response({"code": 200})

        return answer

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        received = Received(CIMultiDict(request.headers), await request.read(), request.path)
        self.requests.append(received)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            answer = self.answers.popleft() if self.answers else ok
            if answer is not ok:
                return await answer(request, received)
            if received.event_id in self.processed:
                return web.json_response({"code": 200, "message": "duplicate ignored"})
            self.processed.append(received.event_id)
            return await ok(request, received)
        finally:
            self.in_flight -= 1

    def processed_then(self, answer: Answer) -> Answer:
        """Store the event, then fail to say so (the platform crashed after its commit)."""

        async def wrapped(request: web.Request, received: Received) -> web.StreamResponse:
            self.processed.append(received.event_id)
            return await answer(request, received)

        return wrapped

    async def start(self) -> str:
        """Listen (again, on the same port when restarted); return the URL."""
        app = web.Application()
        app.router.add_post("/api/iot/events", self._handle)
        runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", self.port, reuse_address=True)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]
        self._runner = runner
        return self.url

    async def stop(self) -> None:
        """Stop listening (connections refused from now on)."""
        self.release.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self.release = asyncio.Event()

    def bodies_of(self, station_id: str) -> list[str]:
        """event_ids received for one station, in order (repeats included)."""
        return [r.event_id for r in self.requests if r.event["device_id"] == station_id]


async def wait_until(predicate: Callable[[], bool], seconds: float = 5.0) -> None:
    """Run the loop until `predicate()` holds; fail after `seconds` of real time."""
    expired = threading.Event()
    timer = threading.Timer(seconds, expired.set)
    timer.start()
    try:
        while not predicate():
            if expired.is_set():
                raise AssertionError("condition not reached in time")
            await asyncio.sleep(0)
    finally:
        timer.cancel()
        timer.join()  # the test harness fails on threads left behind


async def settle(rounds: int = 200) -> None:
    """Let in-flight work on 127.0.0.1 proceed (to check that something did NOT happen)."""
    for _ in range(rounds):
        await asyncio.sleep(0)

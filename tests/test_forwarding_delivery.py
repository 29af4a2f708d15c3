"""One delivery attempt and the retry schedule, without the outbox."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from datetime import UTC, datetime
from email.utils import format_datetime
import hashlib
import hmac
from unittest.mock import patch

import aiohttp
from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
import pytest

import custom_components.iot_zinx  # noqa: F401
from custom_components.iot_zinx.delivery import (
    MAX_RETRY_AFTER,
    Outcome,
    async_deliver,
    parse_retry_after,
    retry_delay,
    signature,
)
from custom_components.iot_zinx.forwarding import ForwardingManager
from custom_components.iot_zinx.outbox import Endpoint, OutboxEntry

from .forwarding_support import (  # noqa: F401 - fixtures
    advance,
    envelope,
    failures,
    forward,
    manager_fixture,
    receiver_fixture,
    settings_fixture,
    view,
)
from .webhook_receiver import Receiver, wait_until

ENTRY = OutboxEntry(
    seq=1,
    endpoint_key="k",
    station_id="04A228CD",
    event_id="e1",
    event_type="settlement",
    body=b'{"event_id":"e1"}',
    enqueued_at=0.0,
)


def test_retry_schedule() -> None:
    """1, 2, 4 s as documented, then 8 s doubling, capped at 10 minutes."""
    assert [retry_delay(n) for n in range(1, 14)] == [
        1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 600, 600, 600,
    ]  # fmt: skip
    assert retry_delay(10_000) == 600


def test_retry_after() -> None:
    """Delta-seconds or an HTTP date; nonsense is ignored; absurd waits are capped."""
    now = datetime(2026, 1, 1, tzinfo=UTC).timestamp()
    assert parse_retry_after(None, now) is None
    assert parse_retry_after("", now) is None
    assert parse_retry_after(" 120 ", now) == 120
    assert parse_retry_after("86400", now) == MAX_RETRY_AFTER
    in_a_minute = format_datetime(datetime(2026, 1, 1, 0, 1, tzinfo=UTC), usegmt=True)
    assert parse_retry_after(in_a_minute, now) == 60
    assert parse_retry_after("Wed, 31 Dec 2025 23:00:00 GMT", now) == 0
    assert parse_retry_after("Thu, 01 Jan 2026 00:01:00 -0000", now) is None
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after("1.5", now) is None


def test_signature() -> None:
    """HMAC-SHA256 of the exact bytes, hex."""
    body = '{"a":"充电"}'.encode()
    expected = hmac.new(b"k", body, hashlib.sha256).hexdigest()
    assert signature("k", body) == f"sha256={expected}"


@pytest.fixture
async def session() -> AsyncGenerator[aiohttp.ClientSession]:
    """A plain client session (these tests need no Home Assistant)."""
    async with aiohttp.ClientSession() as client:
        yield client


async def test_unexpected_status_is_retried(session: aiohttp.ClientSession) -> None:
    """A status outside 2xx-5xx (a broken proxy) is retried, not dropped."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 600 Odd\r\nContent-Length: 2\r\n\r\nno")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        result = await async_deliver(
            session, Endpoint(f"http://127.0.0.1:{port}/"), ENTRY, sent_at=0
        )
    finally:
        server.close()
        await server.wait_closed()
    assert result.outcome is Outcome.RETRY
    assert result.status == 600
    assert result.error == "unexpected HTTP 600: no"


@pytest.mark.parametrize(
    ("endpoint", "error"),
    [
        (Endpoint("http:///no-host"), "invalid URL: "),
        (
            Endpoint("http://u:p@127.0.0.1:9/", token="t"),
            "invalid request: Cannot combine AUTHORIZATION header",
        ),
    ],
)
async def test_requests_that_can_never_work_are_rejected(
    session: aiohttp.ClientSession, endpoint: Endpoint, error: str
) -> None:
    """A request aiohttp refuses to send is a permanent failure."""
    result = await async_deliver(session, endpoint, ENTRY, sent_at=0)
    assert result.outcome is Outcome.REJECTED
    assert result.error is not None
    assert result.error.startswith(error)


async def test_unexpected_error_is_retried_loudly(
    hass: HomeAssistant,
    manager: ForwardingManager,
    receiver: Receiver,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A bug in an attempt is logged and the event retried, the queue does not die."""
    with patch(
        "custom_components.iot_zinx.forwarding_lanes.async_deliver", side_effect=RuntimeError("bug")
    ):
        await forward(hass, receiver.url, envelope(1))
        await wait_until(lambda: failures(manager) == [1])
    assert view(manager, receiver.url).last_error == "unexpected error: RuntimeError('bug')"
    assert "Unexpected error forwarding event" in caplog.text
    await advance(hass, freezer, 1)
    await wait_until(lambda: view(manager, receiver.url).delivered == 1)

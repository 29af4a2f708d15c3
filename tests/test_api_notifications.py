"""HTTP API: recent notifications and their Server-Sent Events stream.

The envelopes are those fired on the bus as ``iot_zinx_event`` (what the webhooks are
sent); the stream is read by a real aiohttp client, and a client that stops reading is
dropped without holding up the event loop.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any
from unittest.mock import patch

from aiohttp import ClientPayloadError, ClientResponse
from homeassistant.const import EVENT_HOMEASSISTANT_STOP
from homeassistant.core import Event, HomeAssistant, callback
import pytest
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.iot_zinx.api import DATA_API
from custom_components.iot_zinx.const import EVENT_IOT_ZINX
from custom_components.iot_zinx.protocol.simulator import SimulatedStation

from .api_support import BASE, HEX8, QR_DECIMAL, call, http_component
from .conftest import ORDER_NUMBER, STATION_ID
from .protocol.harness import wait_until

__all__ = ["http_component"]

STREAM = f"{BASE}/notifications/stream"


@pytest.fixture
def events(hass: HomeAssistant) -> list[dict[str, Any]]:
    """Every envelope fired on the bus, in order (request it before the station fixtures)."""
    captured: list[dict[str, Any]] = []

    @callback
    def capture(event: Event) -> None:
        captured.append(dict(event.data))

    hass.bus.async_listen(EVENT_IOT_ZINX, capture)
    return captured


async def read_event(response: ClientResponse) -> tuple[str, dict[str, Any] | None]:
    """The next SSE block: ``(id, envelope)``, or ``("", None)`` for a comment."""
    block = (await response.content.readuntil(b"\n\n")).decode()
    if block.startswith(":"):
        return "", None
    id_line, data_line = block.strip().split("\n")
    assert id_line.startswith("id: ")
    assert data_line.startswith("data: ")
    return id_line[4:], json.loads(data_line[6:])


async def ends_aborted(response: ClientResponse) -> bool:
    """Read what arrived; True when the stream then breaks off (aborted, not ended)."""
    try:
        while await response.content.read(1 << 16):
            pass
    except ClientPayloadError:
        return True
    return False


def fake_envelope(number: int, size: int = 0) -> dict[str, Any]:
    """An envelope of the documented shape (``size`` bytes of padding in ``data``)."""
    return {
        "event_id": f"fake-{number}",
        "event_type": "device_heartbeat",
        "device_id": "04000001",
        "timestamp": 1_767_225_600,
        "data": {"padding": "x" * size},
    }


async def test_recent_notifications(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    events: list[dict[str, Any]],
    charging_dual_socket: SimulatedStation,
) -> None:
    """The last envelopes, oldest first, exactly as fired; the gateway's filters."""
    client = await hass_client()
    status, body = await call(client, "GET", "/notifications/recent?limit=3")
    assert (status, body["code"], body["message"]) == (200, 0, "成功")
    assert body["data"] == events[-3:]
    status, body = await call(client, "GET", "/notifications/recent")
    everything = body["data"]
    assert everything[-len(events) :] == events
    assert len(everything) <= 100
    assert {event["event_type"] for event in everything} >= {
        "device_online",
        "device_register",
        "charging_start",
        "power_heartbeat",
    }
    query = f"event_types=charging_start,charging_power&device_id={QR_DECIMAL}&port=1"
    status, body = await call(client, "GET", f"/notifications/recent?{query}")
    assert [event["event_type"] for event in body["data"]] == ["charging_start", "charging_power"]
    status, body = await call(client, "GET", f"/notifications/recent?orderNo={ORDER_NUMBER}")
    assert body["data"]
    assert all(
        ORDER_NUMBER in (event["data"].get("order_number"), event["data"].get("order_id"))
        for event in body["data"]
    )
    status, body = await call(client, "GET", "/notifications/recent?since=4102444800")
    assert body["data"] == []
    status, body = await call(client, "GET", "/notifications/recent?device_id=04ABCDEF")
    assert body["data"] == []
    for bad in ("limit=ten", "port=one", "since=x", "device_id=zz-top"):
        status, body = await call(client, "GET", f"/notifications/recent?{bad}")
        assert (status, body["code"]) == (400, 400)


async def test_recent_history_is_bounded(
    hass: HomeAssistant, hass_client: ClientSessionGenerator, init_integration: Any
) -> None:
    """The history keeps the last HISTORY_SIZE envelopes (2000)."""
    for number in range(2005):
        hass.bus.async_fire(EVENT_IOT_ZINX, fake_envelope(number))
    await hass.async_block_till_done()
    feed = hass.data[DATA_API]
    assert (feed.history_size, feed.recorded) == (2000, 2005)
    status, body = await call(await hass_client(), "GET", "/notifications/recent?limit=5000")
    assert status == 200
    assert [event["event_id"] for event in body["data"]][:1] == ["fake-5"]
    assert len(body["data"]) == 2000


async def test_stream_replays_then_sends_live_envelopes(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    events: list[dict[str, Any]],
    dual_socket: SimulatedStation,
) -> None:
    """Replay of the recent ones, then each new envelope with its id, as the webhooks get it."""
    client = await hass_client()
    response = await client.get(f"{STREAM}?device_id={HEX8}")
    assert response.status == 200
    assert response.headers["Content-Type"] == "text/event-stream"
    replayed = [await read_event(response) for _ in range(len(events))]
    assert [envelope for _, envelope in replayed] == events
    assert [event_id for event_id, _ in replayed] == [event["event_id"] for event in events]
    seen = len(events)
    dual_socket.send_heartbeat()
    await wait_until(lambda: len(events) > seen)
    event_id, envelope = await read_event(response)
    assert envelope == events[seen]
    assert event_id == envelope["event_id"]
    assert envelope["device_id"] == STATION_ID
    # A reconnecting client resumes after its Last-Event-ID: nothing twice, nothing lost.
    resumed = await client.get(STREAM, headers={"Last-Event-ID": events[-3]["event_id"]})
    assert [await read_event(resumed) for _ in range(2)] == [
        (event["event_id"], event) for event in events[-2:]
    ]
    response.close()
    resumed.close()


async def test_stream_keepalive_and_stop(
    hass: HomeAssistant, hass_client: ClientSessionGenerator, init_integration: Any
) -> None:
    """A comment when nothing happens; the stream ends when Home Assistant stops."""
    client = await hass_client()
    with patch("custom_components.iot_zinx.api.notification_views.KEEPALIVE_S", 0.01):
        response = await client.get(f"{STREAM}?event_types=settlement")
        assert await read_event(response) == ("", None)
    feed = hass.data[DATA_API]
    assert feed.clients == 1
    hass.bus.async_fire(EVENT_HOMEASSISTANT_STOP)
    await hass.async_block_till_done()
    rest = await response.content.read()
    assert set(rest.split(b"\n\n")) <= {b": keepalive", b""}
    assert response.content.at_eof()
    await wait_until(lambda: feed.clients == 0)


async def test_slow_stream_reader_is_dropped(
    hass: HomeAssistant, hass_client: ClientSessionGenerator, init_integration: Any
) -> None:
    """A client that stops reading is dropped once its queue is full; others go on.

    The client reads nothing: its socket and the server's write buffer fill, the writer
    waits, the bounded queue fills, and the next event drops the client (its connection is
    aborted). Firing never waits for it, and a reading client receives everything.
    """
    feed = hass.data[DATA_API]
    client = await hass_client()
    with patch("custom_components.iot_zinx.api.notifications.CLIENT_QUEUE_SIZE", 8):
        slow = await client.get(STREAM)
        reader = await client.get(STREAM)
    await wait_until(lambda: feed.clients == 2)
    received: list[str] = []

    async def read_all() -> None:
        while True:
            event_id, _ = await read_event(reader)
            received.append(event_id)

    reading = asyncio.create_task(read_all())
    fired = 0
    while feed.clients_dropped == 0:
        assert fired < 5000, "the slow client was never dropped"
        hass.bus.async_fire(EVENT_IOT_ZINX, fake_envelope(fired, size=16_384))
        fired += 1
        await asyncio.sleep(0)
    assert feed.clients == 1
    await wait_until(lambda: len(received) == fired)
    assert received == [f"fake-{number}" for number in range(fired)]
    reading.cancel()
    assert await ends_aborted(slow)
    reader.close()
    stats = (await call(client, "GET", "/stats"))[1]["data"]["notification"]
    assert stats["stream_clients_dropped"] == 1

"""The durable outbox: segment files, their removal and compaction, recovery on load."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.json import json_bytes
import pytest

import custom_components.iot_zinx  # noqa: F401
from custom_components.iot_zinx.forwarding import ForwardingManager
from custom_components.iot_zinx.outbox import (
    INDEX_KEY,
    DeadLetter,
    Endpoint,
    Outbox,
    endpoint_name,
    segment_key,
    strip_credentials,
)

from .forwarding_support import (  # noqa: F401 - fixtures
    NOW,
    NOW_TS,
    STATION_A,
    STATION_B,
    advance,
    envelope,
    event_id,
    failures,
    forward,
    receiver_fixture,
    view,
)
from .webhook_receiver import Receiver, free_port, status, wait_until


def segments_on_disk(hass_storage: dict[str, Any]) -> dict[str, list[str]]:
    """event_ids per stored segment."""
    return {
        key: [entry["event_id"] for entry in value["data"]["entries"]]
        for key, value in sorted(hass_storage.items())
        if key.startswith("iot_zinx.forwarding_outbox.")
    }


@pytest.fixture
async def small_segments(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> AsyncGenerator[ForwardingManager]:
    """A manager whose segments hold three events each."""
    freezer.move_to(NOW)
    manager = ForwardingManager(hass, outbox=Outbox(hass, segment_entries=3))
    await manager.async_start()
    manager.register()
    yield manager
    await manager.async_unregister()


async def test_segments_rotate_and_go_when_delivered(
    hass: HomeAssistant,
    small_segments: ForwardingManager,
    freezer: FrozenDateTimeFactory,
    hass_storage: dict[str, Any],
) -> None:
    """Each enqueue rewrites only the head segment; drained sealed segments are deleted."""
    platform = Receiver(port=free_port())
    for number in range(1, 8):
        await forward(hass, platform.url, envelope(number))
    assert segments_on_disk(hass_storage) == {
        segment_key(1): [event_id(1), event_id(2), event_id(3)],
        segment_key(2): [event_id(4), event_id(5), event_id(6)],
        segment_key(3): [event_id(7)],
    }
    assert hass_storage[INDEX_KEY]["data"]["segments"] == [1, 2, 3]

    await platform.start()
    try:
        await wait_until(lambda: failures(small_segments) == [1])
        await advance(hass, freezer, 1)
        await wait_until(lambda: view(small_segments, platform.url).delivered == 7)
        await wait_until(lambda: small_segments.outbox.segment_count == 1)
        assert platform.processed == [event_id(n) for n in range(1, 8)]
        # The open head segment stays until the next restart; its event is marked done.
        await small_segments.async_unregister()
        assert segments_on_disk(hass_storage) == {segment_key(3): [event_id(7)]}
        index = hass_storage[INDEX_KEY]["data"]
        assert index["segments"] == [3]
        assert index["done"] == {"3": [7]}
        assert index["next_seq"] == 8
        assert index["next_segment"] == 4

        restarted = ForwardingManager(hass, outbox=Outbox(hass, segment_entries=3))
        await restarted.async_start()
        await restarted.async_stop()
        assert segments_on_disk(hass_storage) == {}
        assert hass_storage[INDEX_KEY]["data"]["segments"] == []
        assert platform.processed == [event_id(n) for n in range(1, 8)]
    finally:
        await platform.stop()


async def test_sealed_segment_compacted_around_a_stuck_event(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    hass_storage: dict[str, Any],
    receiver: Receiver,
) -> None:
    """One stuck event does not pin 39 delivered ones on disk (nor in memory)."""
    freezer.move_to(NOW)
    manager = ForwardingManager(hass, outbox=Outbox(hass, segment_entries=40))
    await manager.async_start()
    manager.register()
    try:
        receiver.respond(status(500))
        await forward(hass, receiver.url, envelope(1, STATION_A))
        await wait_until(lambda: failures(manager) == [1])
        for number in range(2, 41):
            await forward(hass, receiver.url, envelope(number, STATION_B))
        await wait_until(lambda: view(manager, receiver.url).delivered == 39)
        # Rewritten once 32 were done (outnumbering the 8 pending): the file holds those 8.
        assert segments_on_disk(hass_storage)[segment_key(1)] == [
            event_id(n) for n in (1, *range(34, 41))
        ]
        assert manager.outbox.pending_count == 1
        await advance(hass, freezer, 1)  # the retry, and the delayed index write
        await wait_until(lambda: view(manager, receiver.url).delivered == 40)
        await wait_until(lambda: manager.outbox.segment_count == 0)
        assert segment_key(1) not in hass_storage
    finally:
        await manager.async_unregister()


async def test_segments_found_without_index(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    hass_storage: dict[str, Any],
    receiver: Receiver,
    tmp_path: Path,
) -> None:
    """A lost index does not lose events: segment files are found by name.

    An entry whose endpoint is missing from its segment (a damaged file) is skipped.
    """
    freezer.move_to(NOW)
    hass.config.config_dir = str(tmp_path)
    (tmp_path / ".storage").mkdir()
    (tmp_path / ".storage" / segment_key(7)).write_text("{}")
    (tmp_path / ".storage" / "iot_zinx.forwarding_outbox.tmp").write_text("{}")
    endpoint = Endpoint(receiver.url, token="tok")
    hass_storage[segment_key(7)] = {
        "version": 1,
        "data": {
            "endpoints": {endpoint.key: {"url": receiver.url, "token": "tok"}},
            "entries": [
                {
                    "seq": 41,
                    "endpoint": endpoint.key,
                    "device_id": STATION_A,
                    "event_id": event_id(1),
                    "event_type": "charging_start",
                    "body": json_bytes(envelope(1)).decode(),
                    "enqueued_at": NOW_TS,
                },
                {
                    "seq": 42,
                    "endpoint": "0123456789abcdef",
                    "device_id": STATION_A,
                    "event_id": event_id(2),
                    "event_type": "charging_start",
                    "body": json_bytes(envelope(2)).decode(),
                    "enqueued_at": NOW_TS,
                },
            ],
        },
    }
    manager = ForwardingManager(hass)
    await manager.async_start()
    try:
        await wait_until(lambda: view(manager, receiver.url, token="tok").delivered == 1)
        assert receiver.processed == [event_id(1)]
        assert receiver.requests[0].headers["Authorization"] == "Bearer tok"
        assert manager.outbox.pending_count == 0
        await forward_direct(manager, receiver.url, 3)
        # New events get numbers after the ones found on disk.
        assert segments_on_disk(hass_storage)[segment_key(8)] == [event_id(3)]
        assert hass_storage[segment_key(8)]["data"]["entries"][0]["seq"] == 43
    finally:
        await manager.async_stop()


async def forward_direct(manager: ForwardingManager, url: str, number: int) -> None:
    """Queue without the action (the manager is not registered)."""
    await manager.async_forward(Endpoint(url), envelope(number))


async def test_missing_segment_and_idle_endpoints_on_load(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    hass_storage: dict[str, Any],
) -> None:
    """A listed segment that is gone is skipped; endpoints unused for the retention are
    forgotten unless they have dead letters."""
    freezer.move_to(NOW)
    old = NOW_TS - 8 * 86400

    def stats(url: str, last_activity: float) -> dict[str, Any]:
        return {
            "url": url,
            "delivered": 3,
            "dead_letters": 0,
            "last_success": last_activity,
            "last_error": None,
            "last_error_at": None,
            "failing_since": None,
            "last_activity": last_activity,
        }

    hass_storage[INDEX_KEY] = {
        "version": 1,
        "data": {
            "next_seq": 10,
            "next_segment": 3,
            "segments": [2],
            "done": {"2": [5]},
            "retries": {"9": [2, NOW_TS, "HTTP 500"]},
            "endpoints": {
                "aaaaaaaaaaaaaaaa": stats("http://old.example/hook", old),
                "bbbbbbbbbbbbbbbb": stats("http://recent.example/hook", NOW_TS - 3600),
                "cccccccccccccccc": stats("http://lettered.example/hook", old),
            },
            "dead_letters": [
                {
                    "endpoint_key": "cccccccccccccccc",
                    "url": "http://lettered.example/hook",
                    "event_id": event_id(1),
                    "event_type": "settlement",
                    "device_id": STATION_A,
                    "reason": "HTTP 400",
                    "status": 400,
                    "failures": 1,
                    "enqueued_at": old,
                    "dead_at": old,
                    "body": "{}",
                }
            ],
        },
    }
    manager = ForwardingManager(hass)
    await manager.async_start()
    assert sorted(manager.endpoint_keys) == ["bbbbbbbbbbbbbbbb", "cccccccccccccccc"]
    assert manager.outbox.retries == {}
    assert manager.outbox.segment_count == 0
    recent = manager.endpoint_view("bbbbbbbbbbbbbbbb")
    assert recent.delivered == 3
    assert recent.backlog == 0
    assert recent.name == "recent.example/hook"
    await manager.async_stop()
    assert hass_storage[INDEX_KEY]["data"]["next_seq"] == 10
    assert hass_storage[INDEX_KEY]["data"]["next_segment"] == 3


async def test_dead_letters_are_bounded(
    hass: HomeAssistant, caplog: pytest.LogCaptureFixture
) -> None:
    """Beyond the bound the oldest dead letter goes, with a warning."""
    outbox = Outbox(hass, max_dead_letters=2)
    await outbox.async_load()
    for number in range(1, 4):
        outbox.add_dead_letter(
            DeadLetter(
                endpoint_key="k",
                url="http://u:p@example.com/hook?token=x",
                event_id=event_id(number),
                event_type="settlement",
                station_id=STATION_A,
                reason="HTTP 400",
                status=400,
                failures=1,
                enqueued_at=0,
                dead_at=0,
                body="{}",
            )
        )
    assert [letter.event_id for letter in outbox.dead_letters] == [event_id(2), event_id(3)]
    assert (
        f"discarding the oldest: settlement event {event_id(1)} of {STATION_A} for "
        "http://example.com/hook"
    ) in caplog.text
    assert outbox.clear_dead_letters() == 2
    await outbox.async_flush()


@pytest.mark.parametrize(
    ("url", "name", "shown"),
    [
        (
            "https://platform.example.com/api/iot/events",
            "platform.example.com/api/iot/events",
            "https://platform.example.com/api/iot/events",
        ),
        ("http://u:p@10.0.0.2:8080/?token=x#f", "10.0.0.2:8080", "http://10.0.0.2:8080/"),
        ("http://[::1", "http://[::1", "<invalid URL>"),
    ],
)
def test_endpoint_names(url: str, name: str, shown: str) -> None:
    """Device names are host[:port]/path; shown URLs lose credentials."""
    assert endpoint_name(url) == name
    assert strip_credentials(url) == shown
    endpoint = Endpoint(url, token="secret-token")
    assert "secret-token" not in repr(endpoint)
    assert endpoint.key != Endpoint(url).key
    assert endpoint.key == Endpoint(url, token="secret-token").key

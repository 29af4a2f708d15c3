"""Webhook forwarding against real receivers on 127.0.0.1, with Home Assistant's clock frozen.

Every retry waits on a Home Assistant timer, so the tests move the clock (`advance`) instead
of sleeping: the documented 1 s / 2 s / 4 s schedule, the 10 s timeout and a 10 minute
outage take no real time.
"""

from __future__ import annotations

import copy
from datetime import timedelta
from email.utils import format_datetime
import json
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import EVENT_HOMEASSISTANT_FINAL_WRITE, EVENT_HOMEASSISTANT_STOP
from homeassistant.core import CoreState, HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.json import json_bytes
import probatio
import pytest

import custom_components.iot_zinx  # noqa: F401
from custom_components.iot_zinx.const import DOMAIN
from custom_components.iot_zinx.forwarding import (
    DATA_FORWARDING,
    SERVICE_FORWARD_EVENT,
    ForwardingManager,
    ForwardingSettings,
    async_setup_forwarding,
    async_unload_forwarding,
)
from custom_components.iot_zinx.outbox import INDEX_KEY, Endpoint, segment_key

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
    manager_fixture,
    receiver_fixture,
    settings_fixture,
    view,
)
from .webhook_receiver import (
    Receiver,
    free_port,
    settle,
    signature_ok,
    status,
    text,
    wait_until,
)

# -- delivery and headers ---------------------------------------------------------------------


async def test_delivers_exact_body_and_headers(
    hass: HomeAssistant, manager: ForwardingManager, receiver: Receiver
) -> None:
    """POST the UTF-8 JSON once serialised, with every documented header, signed."""
    event = envelope(1)
    await forward(hass, receiver.url, event, token="tok-123", api_key="key-456", secret="s3cr3t")
    await wait_until(
        lambda: (
            view(
                manager, receiver.url, token="tok-123", api_key="key-456", secret="s3cr3t"
            ).delivered
            == 1
        )
    )

    [received] = receiver.requests
    assert received.body == json_bytes(event)
    assert received.event == event
    assert "充电开始成功".encode() in received.body  # UTF-8, not \\u escapes
    assert received.app_headers() == {
        "Content-Type": "application/json",
        "User-Agent": "IoT-Zinx/1.0",
        "X-Event-Type": "charging_start",
        "X-Device-ID": STATION_A,
        "X-Timestamp": str(NOW_TS),
        "Authorization": "Bearer tok-123",
        "X-API-Key": "key-456",
        "X-Signature": received.headers["X-Signature"],
    }
    assert signature_ok(received, "s3cr3t")
    assert not signature_ok(received, "other")
    assert received.headers["Content-Length"] == str(len(received.body))

    figures = view(manager, receiver.url, token="tok-123", api_key="key-456", secret="s3cr3t")
    assert figures.backlog == 0
    assert figures.last_success == NOW
    assert figures.last_error is None
    assert figures.name == f"127.0.0.1:{receiver.port}/api/iot/events"


async def test_headers_without_credentials(
    hass: HomeAssistant, manager: ForwardingManager, receiver: Receiver
) -> None:
    """No credential, no credential header; empty strings count as absent."""
    await forward(hass, receiver.url, envelope(1, STATION_B, "device_heartbeat"), token="")
    await wait_until(lambda: len(receiver.processed) == 1)
    assert receiver.requests[0].app_headers() == {
        "Content-Type": "application/json",
        "User-Agent": "IoT-Zinx/1.0",
        "X-Event-Type": "device_heartbeat",
        "X-Device-ID": STATION_B,
        "X-Timestamp": str(NOW_TS),
    }


async def test_action_returns_once_durable_not_once_delivered(
    hass: HomeAssistant,
    manager: ForwardingManager,
    receiver: Receiver,
    hass_storage: dict[str, Any],
) -> None:
    """A slow receiver does not hold the automation; the event is on disk when it returns."""
    receiver.respond(receiver.hang())
    await forward(hass, receiver.url, envelope(1))

    stored = hass_storage[segment_key(1)]["data"]
    assert [entry["event_id"] for entry in stored["entries"]] == [event_id(1)]
    assert stored["entries"][0]["body"].encode() == json_bytes(envelope(1))
    assert hass_storage[INDEX_KEY]["data"]["segments"] == [1]
    await wait_until(lambda: len(receiver.requests) == 1)
    assert view(manager, receiver.url).backlog == 1

    receiver.release.set()
    await wait_until(lambda: view(manager, receiver.url).delivered == 1)
    assert view(manager, receiver.url).backlog == 0


async def test_x_timestamp_is_the_attempt_time(
    hass: HomeAssistant,
    manager: ForwardingManager,
    receiver: Receiver,
    freezer: FrozenDateTimeFactory,
) -> None:
    """The retry carries its own send time; the body (with the event's time) is unchanged."""
    receiver.respond(status(503))
    await forward(hass, receiver.url, envelope(1))
    await wait_until(lambda: failures(manager) == [1])
    await advance(hass, freezer, 1)
    await wait_until(lambda: len(receiver.processed) == 1)
    first, second = receiver.requests
    assert first.headers["X-Timestamp"] == str(NOW_TS)
    assert second.headers["X-Timestamp"] == str(NOW_TS + 1)
    assert first.body == second.body


# -- validation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "problem"),
    [
        ("not an event", "expected a mapping, got str"),
        ([envelope(1)], "expected a mapping, got list"),
        ({k: v for k, v in envelope(1).items() if k != "event_id"}, "event_id is missing"),
        ({**envelope(1), "event_type": 7}, "event_type is missing"),
        ({**envelope(1), "device_id": ""}, "device_id is missing"),
        ({**envelope(1), "device_id": "04A2\r\nX-Evil: 1"}, "device_id contains control"),
    ],
)
async def test_malformed_event_refused(
    hass: HomeAssistant,
    manager: ForwardingManager,
    receiver: Receiver,
    event: object,
    problem: str,
) -> None:
    """A malformed event is refused with the translated `invalid_event`, nothing is queued."""
    with pytest.raises(ServiceValidationError) as err:
        await forward(hass, receiver.url, event)
    assert err.value.translation_domain == DOMAIN
    assert err.value.translation_key == "invalid_event"
    assert err.value.translation_placeholders is not None
    assert err.value.translation_placeholders["problem"].startswith(problem)
    assert manager.outbox.pending_count == 0


async def test_unserialisable_event_refused(manager: ForwardingManager, receiver: Receiver) -> None:
    """An event that is no JSON is refused the same way."""
    with pytest.raises(ServiceValidationError) as err:
        await manager.async_forward(Endpoint(receiver.url), {**envelope(1), "data": object()})
    assert err.value.translation_key == "invalid_event"


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/x", "not a url"])
async def test_invalid_url_refused(
    hass: HomeAssistant, manager: ForwardingManager, url: str
) -> None:
    """Only http(s) URLs are accepted."""
    with pytest.raises(probatio.Invalid):
        await forward(hass, url, envelope(1))


# -- retries ----------------------------------------------------------------------------------


async def test_500_then_success_redelivers_same_bytes(
    hass: HomeAssistant,
    manager: ForwardingManager,
    receiver: Receiver,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A 5xx is retried after 1 s with the stored body, byte for byte."""
    receiver.respond(status(500, body="boom"))
    await forward(hass, receiver.url, envelope(1))
    await wait_until(lambda: failures(manager) == [1])
    assert view(manager, receiver.url).last_error == "HTTP 500: boom"

    await advance(hass, freezer, 0.4)
    assert len(receiver.requests) == 1  # not before 1 s
    await advance(hass, freezer, 0.6)
    await wait_until(lambda: view(manager, receiver.url).delivered == 1)
    assert [r.body for r in receiver.requests] == [json_bytes(envelope(1))] * 2
    assert manager.outbox.retries == {}


@pytest.mark.parametrize(
    "answer",
    [
        text("OK"),  # 2xx, not JSON
        text('{"code": 500, "message": "db down"}'),  # JSON, wrong code
        text('{"code": true}'),
        text("[200]"),
        text("x" * 70_000),  # larger than any platform answer
        status(204),  # 2xx without a body
        status(408),
        status(502),
    ],
)
async def test_unaccepted_answers_are_retried(
    hass: HomeAssistant,
    manager: ForwardingManager,
    receiver: Receiver,
    freezer: FrozenDateTimeFactory,
    answer: Any,
) -> None:
    """Only a 2xx with JSON code 200 counts; the rest is retried until accepted."""
    receiver.respond(answer)
    await forward(hass, receiver.url, envelope(1))
    await wait_until(lambda: failures(manager) == [1])
    assert view(manager, receiver.url).last_error
    await advance(hass, freezer, 1)
    await wait_until(lambda: view(manager, receiver.url).delivered == 1)
    assert len(receiver.requests) == 2


async def test_documented_schedule_then_capped_backoff_and_failing_issue(
    hass: HomeAssistant,
    manager: ForwardingManager,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Refused connections: 1, 2, 4 s, then 8 s doubling to 10 min; an issue after 10 min."""
    platform = Receiver(port=free_port())
    url = platform.url
    await forward(hass, url, envelope(1))
    await wait_until(lambda: failures(manager) == [1])
    assert view(manager, url).last_error.startswith("ClientConnectorError")  # type: ignore[union-attr]
    issue_id = f"endpoint_failing_{Endpoint(url).key}"
    registry = ir.async_get(hass)

    delays = []
    for attempt in range(1, 11):
        state = next(iter(manager.outbox.retries.values()))
        delay = state.next_at - NOW_TS - sum(delays)
        delays.append(delay)
        await advance(hass, freezer, delay)
        await wait_until(lambda attempt=attempt: failures(manager) == [attempt + 1])
    assert delays == [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]
    state = next(iter(manager.outbox.retries.values()))
    assert state.next_at - NOW_TS - sum(delays) == 600  # the cap

    # Failing since NOW; the issue appeared when 10 minutes had passed.
    issue = registry.async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.translation_key == "endpoint_failing"
    assert issue.translation_placeholders == {
        "endpoint": url,
        "since": "2026-01-01 00:00:00",  # Home Assistant's zone in tests is US/Pacific
        "error": view(manager, url).last_error,
        "backlog": "1",
    }

    await platform.start()
    try:
        await advance(hass, freezer, 600)
        await wait_until(lambda: view(manager, url).delivered == 1)
        assert registry.async_get_issue(DOMAIN, issue_id) is None
        assert view(manager, url).failing_since is None
    finally:
        await platform.stop()


async def test_failing_issue_raised_by_timer(
    hass: HomeAssistant,
    manager: ForwardingManager,
    receiver: Receiver,
    freezer: FrozenDateTimeFactory,
) -> None:
    """The issue comes at 10 minutes even when no attempt happens right then."""
    receiver.respond(status(429, {"Retry-After": "900"}))
    await forward(hass, receiver.url, envelope(1))
    await wait_until(lambda: failures(manager) == [1])
    issue_id = f"endpoint_failing_{Endpoint(receiver.url).key}"
    await advance(hass, freezer, 599)
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None
    await advance(hass, freezer, 1)
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is not None
    await advance(hass, freezer, 300)
    await wait_until(lambda: view(manager, receiver.url).delivered == 1)
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None


async def test_429_retry_after_seconds_pauses_the_endpoint(
    hass: HomeAssistant,
    manager: ForwardingManager,
    receiver: Receiver,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Retry-After (seconds) is honoured, for every station of that endpoint."""
    receiver.respond(status(429, {"Retry-After": "5"}))
    await forward(hass, receiver.url, envelope(1))
    await wait_until(lambda: failures(manager) == [1])
    await forward(hass, receiver.url, envelope(2, STATION_B))
    await advance(hass, freezer, 4)
    assert len(receiver.requests) == 1  # neither the retry nor station B before 5 s
    await advance(hass, freezer, 1)
    await wait_until(lambda: len(receiver.processed) == 2)
    assert sorted(receiver.processed) == [event_id(1), event_id(2)]


async def test_429_retry_after_http_date(
    hass: HomeAssistant,
    manager: ForwardingManager,
    receiver: Receiver,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Retry-After as an HTTP date."""
    when = format_datetime(NOW + timedelta(seconds=30), usegmt=True)
    receiver.respond(status(429, {"Retry-After": when}))
    await forward(hass, receiver.url, envelope(1))
    await wait_until(lambda: failures(manager) == [1])
    await advance(hass, freezer, 29)
    assert len(receiver.requests) == 1
    await advance(hass, freezer, 1)
    await wait_until(lambda: len(receiver.processed) == 1)


async def test_timeout_after_10_seconds(
    hass: HomeAssistant,
    manager: ForwardingManager,
    receiver: Receiver,
    freezer: FrozenDateTimeFactory,
) -> None:
    """An attempt without answer fails after 10 s and is retried."""
    receiver.respond(receiver.hang())
    await forward(hass, receiver.url, envelope(1))
    await wait_until(lambda: len(receiver.requests) == 1)
    await advance(hass, freezer, 9)
    assert failures(manager) == []
    await advance(hass, freezer, 1)
    await wait_until(lambda: failures(manager) == [1])
    assert view(manager, receiver.url).last_error == "no answer within 10 s"
    await advance(hass, freezer, 1)
    await wait_until(lambda: view(manager, receiver.url).delivered == 1)
    assert receiver.processed == [event_id(1)]


async def test_duplicate_after_lost_answer_is_ignored_by_the_platform(
    hass: HomeAssistant,
    manager: ForwardingManager,
    receiver: Receiver,
    freezer: FrozenDateTimeFactory,
) -> None:
    """At-least-once: the platform stored it but failed to say so; the redelivery is the
    same bytes with the same event_id, and the platform drops it as a duplicate."""
    receiver.respond(receiver.processed_then(status(502)))
    await forward(hass, receiver.url, envelope(1))
    await wait_until(lambda: failures(manager) == [1])
    await advance(hass, freezer, 1)
    await wait_until(lambda: view(manager, receiver.url).delivered == 1)
    assert receiver.processed == [event_id(1)]
    first, second = receiver.requests
    assert first.body == second.body
    assert first.event_id == second.event_id


async def test_same_event_queued_twice_is_sent_once(
    hass: HomeAssistant, manager: ForwardingManager, receiver: Receiver
) -> None:
    """An automation that fires twice for one event queues it once."""
    receiver.respond(receiver.hang())
    await forward(hass, receiver.url, envelope(1))
    await forward(hass, receiver.url, envelope(1))
    assert view(manager, receiver.url).backlog == 1
    receiver.release.set()
    await wait_until(lambda: view(manager, receiver.url).delivered == 1)
    await settle()
    assert len(receiver.requests) == 1


# -- permanent failures -----------------------------------------------------------------------


async def test_400_dead_letter_and_repair_issue(
    hass: HomeAssistant,
    manager: ForwardingManager,
    receiver: Receiver,
) -> None:
    """A 4xx is final: dead letter (with its body), repair issue, and the queue moves on."""
    receiver.respond(status(400, body='{"code": 400, "message": "bad device_id"}'))
    await forward(hass, receiver.url, envelope(1), token="tok")
    await forward(hass, receiver.url, envelope(2), token="tok")
    await wait_until(lambda: view(manager, receiver.url, token="tok").delivered == 1)
    assert receiver.processed == [event_id(2)]

    key = Endpoint(receiver.url, token="tok").key
    figures = manager.endpoint_view(key)
    assert figures.dead_letters == 1
    assert figures.last_error == 'HTTP 400: {"code": 400, "message": "bad device_id"}'

    issue = ir.async_get(hass).async_get_issue(DOMAIN, f"event_rejected_{key}")
    assert issue is not None
    assert issue.is_persistent
    assert issue.translation_key == "event_rejected"
    assert issue.translation_placeholders == {
        "endpoint": receiver.url,
        "event_type": "charging_start",
        "event_id": event_id(1),
        "error": figures.last_error,
        "count": "1",
    }

    [letter] = manager.diagnostics()["dead_letters"]
    assert letter == {
        "endpoint_key": key,
        "url": receiver.url,
        "event_id": event_id(1),
        "event_type": "charging_start",
        "device_id": STATION_A,
        "reason": figures.last_error,
        "status": 400,
        "failures": 1,
        "enqueued_at": NOW.isoformat(),
        "dead_at": NOW.isoformat(),
        "body": json_bytes(envelope(1)).decode(),
    }

    assert manager.clear_dead_letters(key) == 1
    assert manager.diagnostics()["dead_letters"] == []
    assert ir.async_get(hass).async_get_issue(DOMAIN, f"event_rejected_{key}") is None


async def test_redirect_is_not_followed(
    hass: HomeAssistant, manager: ForwardingManager, receiver: Receiver
) -> None:
    """A redirected POST would arrive as a bodiless GET: it is a configuration error."""
    receiver.respond(status(301, {"Location": "https://example.com/hook"}))
    await forward(hass, receiver.url, envelope(1))
    await wait_until(lambda: view(manager, receiver.url).dead_letters == 1)
    assert view(manager, receiver.url).last_error == (
        "HTTP 301 redirect to https://example.com/hook; configure the final URL"
    )


async def test_retention_expiry_moves_events_to_dead_letters(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Past the retention the head and the expired events behind it are dead-lettered."""
    freezer.move_to(NOW)
    manager = await async_setup_forwarding(
        hass, ForwardingSettings(retention=timedelta(seconds=20))
    )
    try:
        url = f"http://127.0.0.1:{free_port()}/hook"
        await forward(hass, url, envelope(1))
        await forward(hass, url, envelope(2))
        await wait_until(lambda: failures(manager) == [1])
        for step in (1, 2, 4, 8):  # t = 1, 3, 7, 15
            await advance(hass, freezer, step)
        await wait_until(lambda: failures(manager) == [5])
        # The next retry is capped at the deadline (t = 20), then both expire.
        assert manager.outbox.retries[1].next_at == NOW_TS + 20
        await forward(hass, url, envelope(3, STATION_B))  # not expired: stays
        await advance(hass, freezer, 5)
        await wait_until(lambda: view(manager, url).dead_letters == 2)
        letters = manager.diagnostics()["dead_letters"]
        assert [letter["event_id"] for letter in letters] == [event_id(1), event_id(2)]
        assert letters[0]["failures"] == 6
        assert letters[1]["failures"] == 0
        assert letters[0]["reason"].startswith("not delivered within 0:00:20; last error: ")
        assert view(manager, url).backlog == 1
    finally:
        await async_unload_forwarding(hass)


# -- order, independence, bounds --------------------------------------------------------------


async def test_receiver_down_then_back_keeps_order_and_loses_nothing(
    hass: HomeAssistant,
    manager: ForwardingManager,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Events queued during an outage arrive after it, each station's in order, once."""
    platform = Receiver(port=free_port())
    url = platform.url
    for number in range(1, 21):
        await forward(hass, url, envelope(number, STATION_A if number % 2 else STATION_B))
    await wait_until(lambda: failures(manager) == [1, 1])
    await advance(hass, freezer, 1)
    await wait_until(lambda: failures(manager) == [2, 2])

    await platform.start()
    try:
        await advance(hass, freezer, 2)
        await wait_until(lambda: view(manager, url).delivered == 20)
        assert platform.bodies_of(STATION_A) == [event_id(n) for n in range(1, 21, 2)]
        assert platform.bodies_of(STATION_B) == [event_id(n) for n in range(2, 21, 2)]
        assert len(platform.requests) == 20  # no duplicates
        assert view(manager, url).backlog == 0
    finally:
        await platform.stop()


async def test_a_stuck_station_does_not_hold_the_others(
    hass: HomeAssistant,
    manager: ForwardingManager,
    receiver: Receiver,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Order is per station: B flows while A's head is being retried."""
    receiver.respond(status(500))
    await forward(hass, receiver.url, envelope(1, STATION_A))
    await wait_until(lambda: failures(manager) == [1])
    await forward(hass, receiver.url, envelope(2, STATION_A))
    await forward(hass, receiver.url, envelope(3, STATION_B))
    await forward(hass, receiver.url, envelope(4, STATION_B))
    await wait_until(lambda: len(receiver.processed) == 2)
    assert receiver.processed == [event_id(3), event_id(4)]
    await advance(hass, freezer, 1)
    await wait_until(lambda: len(receiver.processed) == 4)
    assert receiver.processed[2:] == [event_id(1), event_id(2)]


async def test_endpoints_are_independent(
    hass: HomeAssistant, manager: ForwardingManager, receiver: Receiver
) -> None:
    """Another endpoint (here: other credentials) has its own queues."""
    receiver.respond(receiver.hang())
    await forward(hass, receiver.url, envelope(1), token="a")
    await forward(hass, receiver.url, envelope(2), token="b")
    await wait_until(lambda: view(manager, receiver.url, token="b").delivered == 1)
    assert view(manager, receiver.url, token="a").backlog == 1
    receiver.release.set()
    await wait_until(lambda: view(manager, receiver.url, token="a").delivered == 1)


@pytest.mark.parametrize("settings", [ForwardingSettings(max_in_flight=2)])
async def test_bounded_concurrency_per_endpoint(
    hass: HomeAssistant, manager: ForwardingManager, receiver: Receiver
) -> None:
    """At most `max_in_flight` requests to one endpoint at a time."""
    receiver.respond(*(receiver.hang() for _ in range(2)))
    for number, station in enumerate(("0000000A", "0000000B", "0000000C", "0000000D"), 1):
        await forward(hass, receiver.url, envelope(number, station))
    await wait_until(lambda: len(receiver.requests) == 2)
    await settle()
    assert len(receiver.requests) == 2
    receiver.release.set()
    await wait_until(lambda: view(manager, receiver.url).delivered == 4)
    assert receiver.max_in_flight == 2


@pytest.mark.parametrize("settings", [ForwardingSettings(max_backlog=2)])
async def test_full_outbox_refuses_loudly(
    hass: HomeAssistant,
    manager: ForwardingManager,
    receiver: Receiver,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Beyond the backlog bound the action fails (logged), it never drops silently."""
    receiver.respond(receiver.hang())
    await forward(hass, receiver.url, envelope(1))
    await forward(hass, receiver.url, envelope(2))
    with pytest.raises(HomeAssistantError) as err:
        await forward(hass, receiver.url, envelope(3))
    assert err.value.translation_key == "outbox_full"
    assert err.value.translation_placeholders == {"endpoint": receiver.url, "limit": "2"}
    assert "is full (2 events); refusing charging_start event" in caplog.text
    receiver.release.set()
    await wait_until(lambda: view(manager, receiver.url).delivered == 2)


# -- restarts ---------------------------------------------------------------------------------


async def test_restart_delivers_what_the_outbox_holds(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    hass_storage: dict[str, Any],
) -> None:
    """Stop with a non-empty outbox; a new manager from the same storage delivers the rest."""
    freezer.move_to(NOW)
    platform = Receiver(port=free_port())
    await async_setup_forwarding(hass)
    for number in range(1, 6):
        await forward(hass, platform.url, envelope(number), secret="k")
    first = hass.data[DATA_FORWARDING]
    await wait_until(lambda: failures(first) == [1])
    await async_unload_forwarding(hass)
    assert not hass.services.has_service(DOMAIN, SERVICE_FORWARD_EVENT)
    assert hass_storage[INDEX_KEY]["data"]["retries"] == {"1": [1, NOW_TS + 1, ANY_TEXT]}

    await platform.start()
    try:
        manager = await async_setup_forwarding(hass)
        assert manager is not first
        assert view(manager, platform.url, secret="k").backlog == 5
        await advance(hass, freezer, 1)
        await wait_until(lambda: view(manager, platform.url, secret="k").delivered == 5)
        assert platform.processed == [event_id(n) for n in range(1, 6)]
        assert all(signature_ok(request, "k") for request in platform.requests)
        await async_unload_forwarding(hass)
        # Everything delivered: the segments are gone, only the index is left.
        assert [key for key in hass_storage if key.startswith(f"{DOMAIN}.forwarding")] == [
            INDEX_KEY
        ]
    finally:
        await platform.stop()


class _AnyText(str):
    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, str)

    __hash__ = str.__hash__


ANY_TEXT = _AnyText()


async def test_crash_redelivers_unconfirmed_events(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    hass_storage: dict[str, Any],
    receiver: Receiver,
) -> None:
    """A crash before progress is written repeats deliveries (at-least-once), loses none."""
    freezer.move_to(NOW)
    manager = await async_setup_forwarding(hass)
    for number in range(1, 4):
        await forward(hass, receiver.url, envelope(number))
    on_disk_at_crash = copy.deepcopy(hass_storage)
    await wait_until(lambda: view(manager, receiver.url).delivered == 3)
    await async_unload_forwarding(hass)

    hass_storage.clear()
    hass_storage.update(on_disk_at_crash)
    manager = await async_setup_forwarding(hass)
    await wait_until(lambda: view(manager, receiver.url).delivered == 3)
    assert receiver.processed == [event_id(n) for n in range(1, 4)]
    assert len(receiver.requests) == 6
    await async_unload_forwarding(hass)


async def test_follows_home_assistant_shutdown(
    hass: HomeAssistant,
    manager: ForwardingManager,
    receiver: Receiver,
    hass_storage: dict[str, Any],
) -> None:
    """On stop delivering ends but events of the shutdown are still queued, on disk when the
    action returns (not deferred to the final write), and sent after the next start."""
    hass.set_state(CoreState.stopping)
    hass.bus.async_fire(EVENT_HOMEASSISTANT_STOP)
    await hass.async_block_till_done()
    offline = envelope(1, event_type="device_offline")
    await forward(hass, receiver.url, offline)  # the hub's system_shutdown events
    await settle()
    assert receiver.requests == []
    [stored] = hass_storage[segment_key(1)]["data"]["entries"]
    assert stored["body"].encode() == json_bytes(offline)

    hass.set_state(CoreState.final_write)
    hass.bus.async_fire(EVENT_HOMEASSISTANT_FINAL_WRITE)
    await hass.async_block_till_done()
    assert DATA_FORWARDING not in hass.data
    assert not hass.services.has_service(DOMAIN, SERVICE_FORWARD_EVENT)
    [stored] = hass_storage[segment_key(1)]["data"]["entries"]
    assert stored["body"].encode() == json_bytes(offline)
    assert hass_storage[INDEX_KEY]["data"]["segments"] == [1]
    with pytest.raises(HomeAssistantError) as err:
        await manager.async_forward(Endpoint(receiver.url), envelope(2))
    assert err.value.translation_key == "not_running"
    await async_unload_forwarding(hass)  # idempotent
    hass.set_state(CoreState.running)

    await async_setup_forwarding(hass)
    await wait_until(lambda: receiver.processed == [event_id(1)])


async def test_setup_is_idempotent(hass: HomeAssistant, manager: ForwardingManager) -> None:
    """A second setup returns the running manager."""
    assert await async_setup_forwarding(hass) is manager


async def test_diagnostics_never_show_credentials(
    hass: HomeAssistant, manager: ForwardingManager, receiver: Receiver
) -> None:
    """Credentials are stored (they are needed to send) but diagnostics only say they exist."""
    receiver.respond(receiver.hang())
    url = receiver.url.replace("127.0.0.1", "user:pw@127.0.0.1") + "?token=qtok"
    await forward(hass, url, envelope(1), api_key="AP1KEY", secret="S3CRET")
    await wait_until(lambda: len(receiver.requests) == 1)
    assert receiver.requests[0].headers["Authorization"] == "Basic dXNlcjpwdw=="
    diagnostics = manager.diagnostics()
    dumped = json.dumps(diagnostics)
    for secret in ("AP1KEY", "S3CRET", "qtok", "pw@"):
        assert secret not in dumped
    [endpoint] = diagnostics["endpoints"]
    assert endpoint["url"] == receiver.url
    assert endpoint["credentials"] == {"token": False, "api_key": True, "secret": True}
    assert endpoint["backlog"] == 1
    assert endpoint["stations"] == {STATION_A: 1}
    assert diagnostics["outbox"] == {"pending": 1, "segments": 1}
    assert diagnostics["settings"] == {
        "retention_s": 604800.0,
        "attempt_timeout_s": 10.0,
        "max_backlog": 10000,
        "max_in_flight": 4,
    }
    receiver.release.set()
    await wait_until(lambda: manager.outbox.pending_count == 0)


async def test_token_and_url_credentials_conflict(
    hass: HomeAssistant, manager: ForwardingManager, receiver: Receiver
) -> None:
    """user:password in the URL is Basic auth; a token as well cannot be sent."""
    url = receiver.url.replace("127.0.0.1", "user:pw@127.0.0.1")
    with pytest.raises(ServiceValidationError) as err:
        await forward(hass, url, envelope(1), token="T")
    assert err.value.translation_key == "conflicting_credentials"
    assert err.value.translation_placeholders == {"endpoint": receiver.url}


async def test_set_retention(manager: ForwardingManager) -> None:
    """The retention can follow an option of the integration."""
    manager.set_retention(timedelta(days=2))
    assert manager.settings.retention == timedelta(days=2)
    assert manager.settings.attempt_timeout == 10.0

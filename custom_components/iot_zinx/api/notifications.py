"""Recent notifications and their live stream: the envelopes of ``iot_zinx_event``.

The feed listens to the event bus, so it holds exactly what the webhooks are sent: the
docs/events.md envelope, unchanged. It keeps a bounded history (the gateway's recorder keeps
2000) and hands each new envelope to the stream clients whose filter it matches.

A stream client has a bounded queue of ready SSE frames. The bus listener never waits: when a
client's queue is full (it reads slower than events come), the client is dropped and its
connection aborted; it reconnects and resumes with ``Last-Event-ID``. The gateway instead
skipped the events a slow client could not take, silently.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Final

from homeassistant.const import EVENT_HOMEASSISTANT_STOP
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.helpers.json import json_bytes

from custom_components.iot_zinx.const import EVENT_IOT_ZINX
from custom_components.iot_zinx.events import Envelope

HISTORY_SIZE: Final = 2000
# Frames a stream client may have waiting before it is dropped; a module constant so that
# tests can shorten it.
CLIENT_QUEUE_SIZE: Final = 1000


@dataclass(frozen=True, slots=True)
class NotificationFilter:
    """The gateway's ``NotificationQuery`` filter (``event_types``, ``device_id``, ...)."""

    event_types: frozenset[str] = frozenset()
    station_id: str | None = None
    order_no: str = ""
    port: int | None = None
    since: int = 0

    def matches(self, envelope: Envelope) -> bool:
        """Whether ``envelope`` passes every condition given."""
        if self.since and envelope["timestamp"] < self.since:
            return False
        if self.station_id is not None and envelope["device_id"] != self.station_id:
            return False
        if self.port is not None and envelope.get("port_number") != self.port:
            return False
        if self.event_types and envelope["event_type"] not in self.event_types:
            return False
        if self.order_no:
            data: dict[str, Any] = envelope["data"]
            return self.order_no in (data.get("order_number"), data.get("order_id"))
        return True


def sse_frame(envelope: Envelope) -> bytes:
    """One Server-Sent Event: the event id (for ``Last-Event-ID``) and the envelope."""
    return b"id: %s\ndata: %s\n\n" % (envelope["event_id"].encode(), json_bytes(envelope))


class StreamEndedError(Exception):
    """The client was dropped (too slow) or Home Assistant is stopping."""


class Subscriber:
    """One stream client: its filter and its bounded queue of frames."""

    def __init__(self, flt: NotificationFilter, maxsize: int, on_drop: Callable[[], None]) -> None:
        """``on_drop`` ends the client's connection (called once, when it is dropped)."""
        self.filter = flt
        self._maxsize = maxsize
        self._frames: deque[bytes] = deque()
        self._wakeup = asyncio.Event()
        self._on_drop = on_drop
        self.dropped = False
        self.closed = False

    def offer(self, frame: bytes) -> bool:
        """Queue a frame; False (and the client dropped) when the queue is full."""
        if self.dropped or self.closed:
            return True
        if len(self._frames) >= self._maxsize:
            self.dropped = True
            self._frames.clear()
            self._wakeup.set()
            self._on_drop()
            return False
        self._frames.append(frame)
        self._wakeup.set()
        return True

    def close(self) -> None:
        """End the stream after what is queued (Home Assistant stops)."""
        self.closed = True
        self._wakeup.set()

    async def next_frame(self, keepalive: float) -> bytes | None:
        """The next frame, None after ``keepalive`` seconds without one; ``StreamEndedError``."""
        while not self._frames:
            if self.dropped or self.closed:
                raise StreamEndedError
            self._wakeup.clear()
            try:
                async with asyncio.timeout(keepalive):
                    await self._wakeup.wait()
            except TimeoutError:
                return None
        return self._frames.popleft()


class NotificationFeed:
    """The bounded history of envelopes and the stream clients; one per Home Assistant."""

    def __init__(self, hass: HomeAssistant, history_size: int = HISTORY_SIZE) -> None:
        """Listen from ``async_start``."""
        self._hass = hass
        self._history: deque[Envelope] = deque(maxlen=history_size)
        self._subscribers: set[Subscriber] = set()
        self.recorded = 0
        self.clients_dropped = 0

    @callback
    def async_start(self) -> None:
        """Record every ``iot_zinx_event``; end the streams when Home Assistant stops."""
        self._hass.bus.async_listen(EVENT_IOT_ZINX, self._record)
        self._hass.bus.async_listen_once(EVENT_HOMEASSISTANT_STOP, self._stopping)

    @callback
    def _record(self, event: Event[dict[str, Any]]) -> None:
        envelope: Envelope = event.data
        self._history.append(envelope)
        self.recorded += 1
        frame: bytes | None = None
        for subscriber in list(self._subscribers):
            if subscriber.filter.matches(envelope):
                frame = frame or sse_frame(envelope)
                if not subscriber.offer(frame):
                    self.clients_dropped += 1
                    self._subscribers.discard(subscriber)

    @callback
    def _stopping(self, _event: Event) -> None:
        for subscriber in self._subscribers:
            subscriber.close()
        self._subscribers.clear()

    @property
    def history_size(self) -> int:
        """How many envelopes the history holds now."""
        return len(self._history)

    @property
    def clients(self) -> int:
        """Stream clients connected now."""
        return len(self._subscribers)

    def recent(self, flt: NotificationFilter, limit: int) -> list[Envelope]:
        """The last ``limit`` matching envelopes, oldest first."""
        return _last(self._history, flt, limit)

    def subscribe(
        self,
        flt: NotificationFilter,
        on_drop: Callable[[], None],
        *,
        last_event_id: str | None,
        replay: int,
    ) -> tuple[Subscriber, list[bytes]]:
        """A new client, and the frames to send it first.

        After ``last_event_id`` when the history still holds it (a reconnecting client
        misses nothing the history kept), else the last ``replay`` matching ones, like the
        gateway. Nothing awaits between the replay and the subscription: no event falls
        between them.
        """
        subscriber = Subscriber(flt, CLIENT_QUEUE_SIZE, on_drop)
        self._subscribers.add(subscriber)
        history: Iterable[Envelope] = self._history
        if last_event_id:
            ids = [envelope["event_id"] for envelope in self._history]
            if last_event_id in ids:
                after = list(self._history)[ids.index(last_event_id) + 1 :]
                return subscriber, [sse_frame(e) for e in after if flt.matches(e)]
        return subscriber, [sse_frame(e) for e in _last(history, flt, replay)]

    def unsubscribe(self, subscriber: Subscriber) -> None:
        """Forget a client whose stream ended."""
        self._subscribers.discard(subscriber)


def _last(history: Iterable[Envelope], flt: NotificationFilter, limit: int) -> list[Envelope]:
    matching = [envelope for envelope in history if flt.matches(envelope)]
    return matching[-limit:] if limit > 0 else matching

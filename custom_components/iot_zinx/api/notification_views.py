"""``GET /notifications/recent`` and ``GET /notifications/stream`` (Server-Sent Events).

Both take the gateway's ``NotificationQuery``: ``event_types`` (comma separated),
``device_id`` (any ``deviceId`` form), ``orderNo``, ``port``, ``since`` (Unix seconds) and, for
the recent list, ``limit`` (default 100). The stream first replays the last 50 matching
envelopes (or, for a reconnecting client, those after its ``Last-Event-ID``), then sends each
new one as ``id: <event_id>`` / ``data: <envelope>``, and a comment line when nothing happened
for a while, so that proxies and clients see the connection alive.
"""

from __future__ import annotations

from typing import Final

from aiohttp import web
from homeassistant.components.http import KEY_HASS, HomeAssistantView

from .envelope import API_PREFIX, ApiError, bad_params, success
from .notifications import NotificationFeed, NotificationFilter, StreamEndedError
from .stations import locate

RECENT_LIMIT: Final = 100
STREAM_REPLAY: Final = 50
# Seconds without an event before a keep-alive comment; module constant for tests.
KEEPALIVE_S: Final = 25.0
_KEEPALIVE: Final = b": keepalive\n\n"


def _int_query(request: web.Request, key: str, default: int) -> int:
    text = request.query.get(key, "").strip()
    if not text:
        return default
    try:
        return int(text)
    except ValueError as err:
        raise bad_params(f"{key} must be a whole number") from err


def read_filter(request: web.Request) -> NotificationFilter:
    """The query's filter; ``400 参数错误`` for a malformed one."""
    query = request.query
    types = frozenset(
        part.strip() for part in query.get("event_types", "").split(",") if part.strip()
    )
    station_id = None
    if device_id := query.get("device_id", "").strip():
        station_id = locate(request.app[KEY_HASS], device_id).station_id
    port_text = query.get("port", "").strip()
    return NotificationFilter(
        event_types=types,
        station_id=station_id,
        order_no=query.get("orderNo", "").strip(),
        port=_int_query(request, "port", 0) if port_text else None,
        since=_int_query(request, "since", 0),
    )


class NotificationsRecentView(HomeAssistantView):
    """The last notifications, oldest first."""

    url = f"{API_PREFIX}/notifications/recent"
    name = "api:iot_zinx:notifications:recent"

    def __init__(self, feed: NotificationFeed) -> None:
        """Read ``feed``."""
        self._feed = feed

    async def get(self, request: web.Request) -> web.Response:
        """``data``: the matching envelopes (an empty list, where the gateway said null)."""
        try:
            flt = read_filter(request)
            limit = _int_query(request, "limit", RECENT_LIMIT)
        except ApiError as err:
            return err.response()
        return success("成功", self._feed.recent(flt, limit if limit > 0 else RECENT_LIMIT))


class NotificationsStreamView(HomeAssistantView):
    """The envelopes as they happen, as Server-Sent Events."""

    url = f"{API_PREFIX}/notifications/stream"
    name = "api:iot_zinx:notifications:stream"

    def __init__(self, feed: NotificationFeed) -> None:
        """Subscribe to ``feed`` per request."""
        self._feed = feed

    async def get(self, request: web.Request) -> web.StreamResponse:
        """Stream until the client leaves, is dropped (too slow) or Home Assistant stops."""
        try:
            flt = read_filter(request)
        except ApiError as err:
            return err.response()
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",
            }
        )
        await response.prepare(request)
        transport = request.transport

        def abort() -> None:
            # A client that stopped reading may hold a write forever: cut it off.
            if transport is not None:
                transport.abort()

        subscriber, replay = self._feed.subscribe(
            flt,
            abort,
            last_event_id=request.headers.get("Last-Event-ID"),
            replay=STREAM_REPLAY,
        )
        try:
            for frame in replay:
                await response.write(frame)
            while True:
                queued = await subscriber.next_frame(KEEPALIVE_S)
                await response.write(_KEEPALIVE if queued is None else queued)
        except StreamEndedError, ConnectionResetError:
            pass
        finally:
            self._feed.unsubscribe(subscriber)
        return response

"""The forwarding part of the diagnostics download: settings, outbox, endpoints, dead letters."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from homeassistant.util import dt as dt_util

from .outbox_records import strip_credentials

if TYPE_CHECKING:
    from .forwarding_lanes import ForwardingSettings, _EndpointRuntime
    from .outbox import Outbox


def forwarding_diagnostics(
    settings: ForwardingSettings, outbox: Outbox, runtimes: dict[str, _EndpointRuntime]
) -> dict[str, Any]:
    """Everything about forwarding, credentials redacted (for diagnostics.py)."""
    endpoints = []
    for key, stats in outbox.stats.items():
        runtime = runtimes.get(key)
        endpoint = outbox.endpoints.get(key)
        endpoints.append(
            {
                "key": key,
                "url": strip_credentials(stats.url),
                "credentials": None
                if endpoint is None
                else {
                    "token": bool(endpoint.token),
                    "api_key": bool(endpoint.api_key),
                    "secret": bool(endpoint.secret),
                },
                "backlog": len(runtime.pending_ids) if runtime else 0,
                "stations": {
                    station_id: len(lane.queue)
                    for station_id, lane in (runtime.lanes.items() if runtime else ())
                },
                "paused_until": _iso(runtime.paused_until or None) if runtime else None,
                "delivered": stats.delivered,
                "dead_letters": stats.dead_letters,
                "last_success": _iso(stats.last_success),
                "last_error": stats.last_error,
                "last_error_at": _iso(stats.last_error_at),
                "failing_since": _iso(stats.failing_since),
            }
        )
    return {
        "settings": {
            "retention_s": settings.retention.total_seconds(),
            "attempt_timeout_s": settings.attempt_timeout,
            "max_backlog": settings.max_backlog,
            "max_in_flight": settings.max_in_flight,
        },
        "outbox": {
            "pending": outbox.pending_count,
            "segments": outbox.segment_count,
        },
        "endpoints": endpoints,
        "dead_letters": [
            {
                "endpoint_key": letter.endpoint_key,
                "url": strip_credentials(letter.url),
                "event_id": letter.event_id,
                "event_type": letter.event_type,
                "device_id": letter.station_id,
                "reason": letter.reason,
                "status": letter.status,
                "failures": letter.failures,
                "enqueued_at": _iso(letter.enqueued_at),
                "dead_at": _iso(letter.dead_at),
                "body": letter.body,
            }
            for letter in outbox.dead_letters
        ],
    }


def _iso(timestamp: float | None) -> str | None:
    return None if timestamp is None else dt_util.utc_from_timestamp(timestamp).isoformat()

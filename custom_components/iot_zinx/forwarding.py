"""Webhook forwarding that never loses an event: the `iot_zinx.forward_event` action.

The action puts the event in the durable outbox (`outbox.py`) and returns once it is on disk;
workers deliver it (`delivery.py`) per docs/events.md "Webhook delivery rules":

* one queue ("lane") per (endpoint, station): an event is sent only after the earlier events
  of the same station to the same endpoint are delivered or dead-lettered; stations and
  endpoints proceed independently, at most `max_in_flight` requests per endpoint;
* retryable failures wait 1 s, 2 s, 4 s (the documented schedule), then back off from 8 s
  doubling to 10 min, until the retention (7 days by default) runs out; a Retry-After pauses
  the whole endpoint;
* permanent rejections (4xx other than 408/429) go to the dead letters and raise a repair
  issue; expired events go to the dead letters too. Nothing is dropped silently;
* delivery is at-least-once: a crash or stop during an attempt sends the event again, with
  the same stored body and so the same `event_id`.

All waiting is done with Home Assistant timers, never with sleeps.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import datetime, timedelta
import logging
import time
from typing import Any

import aiohttp
from homeassistant.const import EVENT_HOMEASSISTANT_FINAL_WRITE, EVENT_HOMEASSISTANT_STOP
from homeassistant.core import CALLBACK_TYPE, Event, HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.json import json_bytes
from homeassistant.util import dt as dt_util
from yarl import URL

from .const import DOMAIN
from .forwarding_action import (
    ATTR_API_KEY,
    ATTR_EVENT,
    ATTR_SECRET,
    ATTR_TOKEN,
    ATTR_URL,
    DATA_FORWARDING,
    FORWARD_EVENT_SCHEMA,
    SERVICE_FORWARD_EVENT,
    _async_handle_forward_event,
    _check_event,
    _invalid_event,
)
from .forwarding_diagnostics import forwarding_diagnostics
from .forwarding_issues import ISSUE_ENDPOINT_FAILING, ISSUE_EVENT_REJECTED
from .forwarding_lanes import (
    DEFAULT_FAILING_AFTER,
    DEFAULT_MAX_BACKLOG,
    DEFAULT_MAX_IN_FLIGHT,
    DEFAULT_RETENTION,
    DEFAULT_UPDATE_INTERVAL,
    EndpointView,
    ForwardingSettings,
    LaneWorkers,
    _EndpointRuntime,
)
from .outbox import Outbox
from .outbox_records import Endpoint, endpoint_name, strip_credentials

__all__ = [
    "ATTR_API_KEY",
    "ATTR_EVENT",
    "ATTR_SECRET",
    "ATTR_TOKEN",
    "ATTR_URL",
    "DATA_FORWARDING",
    "DEFAULT_FAILING_AFTER",
    "DEFAULT_MAX_BACKLOG",
    "DEFAULT_MAX_IN_FLIGHT",
    "DEFAULT_RETENTION",
    "DEFAULT_UPDATE_INTERVAL",
    "FORWARD_EVENT_SCHEMA",
    "ISSUE_ENDPOINT_FAILING",
    "ISSUE_EVENT_REJECTED",
    "SERVICE_FORWARD_EVENT",
    "EndpointView",
    "ForwardingManager",
    "ForwardingSettings",
    "async_setup_forwarding",
    "async_unload_forwarding",
]

_LOGGER = logging.getLogger(__name__)


class ForwardingManager(LaneWorkers):
    """Owns the outbox, the per-(endpoint, station) queues, statistics and repair issues."""

    def __init__(
        self,
        hass: HomeAssistant,
        settings: ForwardingSettings | None = None,
        *,
        session: aiohttp.ClientSession | None = None,
        outbox: Outbox | None = None,
    ) -> None:
        """Create a stopped manager; `async_start` loads the outbox and starts delivering."""
        self.hass = hass
        self.settings = settings or ForwardingSettings()
        self.outbox = outbox or Outbox(hass)
        self._session = session
        self._endpoints: dict[str, _EndpointRuntime] = {}
        self._accepting = False  # the action queues events
        self._delivering = False  # lanes send them
        self._unsubs: list[CALLBACK_TYPE] = []

    # -- life cycle -------------------------------------------------------------------------

    async def async_start(self) -> None:
        """Load the outbox and start delivering what it holds."""
        pending = await self.outbox.async_load()
        for entry in pending:
            runtime = self._runtime(self.outbox.endpoints[entry.endpoint_key])
            self._lane(runtime, entry.station_id).queue.append(entry)
            runtime.pending_ids.add(entry.event_id)
        self._forget_idle_endpoints()
        self._accepting = self._delivering = True
        for runtime in self._endpoints.values():
            for lane in list(runtime.lanes.values()):
                self._kick(runtime, lane)
        if pending:
            _LOGGER.info("Forwarding %s events left in the outbox", len(pending))

    async def async_stop(self) -> None:
        """Stop queueing and delivering; persist. Idempotent."""
        if not self._accepting:
            return
        self._accepting = False
        await self.async_pause()
        await self.outbox.async_flush()

    async def async_pause(self) -> None:
        """Stop delivering; attempts in flight are cancelled and repeated on the next start.

        Events are still queued: Home Assistant's shutdown makes some (device_offline with
        system_shutdown) after it has told everyone to stop.
        """
        if not self._delivering:
            return
        self._delivering = False
        tasks: list[asyncio.Task[None]] = []
        for runtime in self._endpoints.values():
            for unsub in (runtime.failing_timer, runtime.update_timer):
                if unsub is not None:
                    unsub()
            runtime.failing_timer = runtime.update_timer = None
            for lane in runtime.lanes.values():
                if lane.timer is not None:
                    lane.timer()
                    lane.timer = None
                if lane.task is not None:
                    lane.task.cancel()
                    tasks.append(lane.task)
        await asyncio.gather(*tasks, return_exceptions=True)

    def _forget_idle_endpoints(self) -> None:
        """Endpoints with nothing pending, no dead letters and no use within the retention."""
        horizon = time.time() - self.settings.retention.total_seconds()
        lettered = {letter.endpoint_key for letter in self.outbox.dead_letters}
        idle = [
            key
            for key, stats in self.outbox.stats.items()
            if key not in self._endpoints and key not in lettered and stats.last_activity < horizon
        ]
        if idle:
            self.outbox.forget_endpoints(idle)

    @callback
    def register(self) -> None:
        """Publish the manager and the action; follow Home Assistant's shutdown.

        On stop, delivering ends (the HTTP session is about to close) but queueing goes on
        until the final write, so the events of the shutdown itself are kept for the next
        start; Store writes them at the final write.
        """
        self.hass.data[DATA_FORWARDING] = self
        self.hass.services.async_register(
            DOMAIN,
            SERVICE_FORWARD_EVENT,
            _async_handle_forward_event,
            schema=FORWARD_EVENT_SCHEMA,
        )
        self._unsubs = [
            self.hass.bus.async_listen_once(EVENT_HOMEASSISTANT_STOP, self._async_on_stop),
            self.hass.bus.async_listen_once(
                EVENT_HOMEASSISTANT_FINAL_WRITE, self._async_on_final_write
            ),
        ]

    async def _async_on_stop(self, _event: Event) -> None:
        self._unsubs.pop(0)  # fired: nothing left to unsubscribe
        await self.async_pause()

    async def _async_on_final_write(self, _event: Event) -> None:
        self._unsubs.clear()  # both fired
        await self.async_unregister()

    async def async_unregister(self) -> None:
        """Remove the action and stop; the outbox stays on disk."""
        if self.hass.data.get(DATA_FORWARDING) is self:
            del self.hass.data[DATA_FORWARDING]
            self.hass.services.async_remove(DOMAIN, SERVICE_FORWARD_EVENT)
        while self._unsubs:
            self._unsubs.pop()()
        await self.async_stop()

    def set_retention(self, retention: timedelta) -> None:
        """Change how long undeliverable events are retried (an option of the integration)."""
        self.settings = replace(self.settings, retention=retention)

    # -- enqueue ----------------------------------------------------------------------------

    async def async_forward(self, endpoint: Endpoint, event: object) -> bool:
        """Queue `event` for `endpoint`; return once it is on disk.

        Concurrent calls share one write (the outbox's group commit); when that write fails,
        each of them raises HomeAssistantError (`outbox_write_failed`). Returns False when the
        same event_id is already waiting for this endpoint (an automation that fired twice):
        it is sent once.
        """
        if not self._accepting:
            raise HomeAssistantError(translation_domain=DOMAIN, translation_key="not_running")
        envelope = _check_event(event)
        if endpoint.token and URL(endpoint.url).user is not None:
            # Both would be the Authorization header; aiohttp refuses to guess.
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="conflicting_credentials",
                translation_placeholders={"endpoint": endpoint.display_url},
            )
        try:
            body = json_bytes(envelope)
        except TypeError as err:
            raise _invalid_event(f"not serialisable to JSON ({err})") from err
        event_id: str = envelope["event_id"]
        runtime = self._runtime(endpoint)
        if event_id in runtime.pending_ids:
            _LOGGER.debug("Event %s is already queued for %s", event_id, endpoint)
            # Queued, but maybe by a call whose write failed: this one returns once it is on disk.
            await self.outbox.async_commit()
            return False
        if len(runtime.pending_ids) >= self.settings.max_backlog:
            _LOGGER.error(
                "Outbox for %s is full (%s events); refusing %s event %s",
                endpoint.display_url,
                self.settings.max_backlog,
                envelope["event_type"],
                event_id,
            )
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="outbox_full",
                translation_placeholders={
                    "endpoint": endpoint.display_url,
                    "limit": str(self.settings.max_backlog),
                },
            )
        entry, durable = self.outbox.append(
            endpoint,
            station_id=envelope["device_id"],
            event_id=event_id,
            event_type=envelope["event_type"],
            body=body,
            now=time.time(),
        )
        lane = self._lane(runtime, entry.station_id)
        lane.queue.append(entry)
        runtime.pending_ids.add(event_id)
        self._kick(runtime, lane)
        self._changed(runtime)
        await durable
        return True

    @callback
    def clear_dead_letters(self, endpoint_key: str | None = None) -> int:
        """Forget dead letters (of one endpoint or all) and their repair issues."""
        cleared = self.outbox.clear_dead_letters(endpoint_key)
        keys = [endpoint_key] if endpoint_key is not None else list(self.outbox.stats)
        for key in keys:
            ir.async_delete_issue(self.hass, DOMAIN, f"{ISSUE_EVENT_REJECTED}_{key}")
        return cleared

    @callback
    def forget_endpoint(self, endpoint_key: str) -> bool:
        """Forget an endpoint's figures and dead letters; refused while events are queued."""
        runtime = self._endpoints.get(endpoint_key)
        if runtime is not None and runtime.pending_ids:
            return False
        if runtime is not None:
            for unsub in (runtime.failing_timer, runtime.update_timer):
                if unsub is not None:
                    unsub()
            del self._endpoints[endpoint_key]
        self.clear_dead_letters(endpoint_key)
        ir.async_delete_issue(self.hass, DOMAIN, f"{ISSUE_ENDPOINT_FAILING}_{endpoint_key}")
        self.outbox.forget_endpoints([endpoint_key])
        return True

    @property
    def endpoint_keys(self) -> list[str]:
        """Keys of every endpoint known (pending events, statistics or dead letters)."""
        return list(self.outbox.stats)

    def endpoint_view(self, key: str) -> EndpointView:
        """The figures of one endpoint (KeyError when unknown)."""
        stats = self.outbox.stats[key]
        runtime = self._endpoints.get(key)
        return EndpointView(
            key=key,
            name=endpoint_name(stats.url),
            url=strip_credentials(stats.url),
            backlog=len(runtime.pending_ids) if runtime else 0,
            delivered=stats.delivered,
            dead_letters=stats.dead_letters,
            last_success=_datetime(stats.last_success),
            last_error=stats.last_error,
            failing_since=_datetime(stats.failing_since),
        )

    def diagnostics(self) -> dict[str, Any]:
        """Everything about forwarding, credentials redacted (for diagnostics.py)."""
        return forwarding_diagnostics(self.settings, self.outbox, self._endpoints)


def _datetime(timestamp: float | None) -> datetime | None:
    return None if timestamp is None else dt_util.utc_from_timestamp(timestamp)


async def async_setup_forwarding(
    hass: HomeAssistant,
    settings: ForwardingSettings | None = None,
    *,
    session: aiohttp.ClientSession | None = None,
) -> ForwardingManager:
    """Start forwarding and register `iot_zinx.forward_event` (idempotent).

    Forwarding stops by itself when Home Assistant stops; `async_unload_forwarding` stops it
    earlier.
    """
    if (manager := hass.data.get(DATA_FORWARDING)) is not None:
        return manager
    manager = ForwardingManager(hass, settings, session=session)
    await manager.async_start()
    manager.register()
    return manager


async def async_unload_forwarding(hass: HomeAssistant) -> None:
    """Stop forwarding and remove the action; the outbox stays on disk (idempotent)."""
    if (manager := hass.data.get(DATA_FORWARDING)) is not None:
        await manager.async_unregister()

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
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
import logging
import time
from typing import Any, Final

import aiohttp
from homeassistant.const import EVENT_HOMEASSISTANT_FINAL_WRITE, EVENT_HOMEASSISTANT_STOP
from homeassistant.core import (
    CALLBACK_TYPE,
    Event,
    HomeAssistant,
    ServiceCall,
    callback,
)
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import config_validation as cv, issue_registry as ir
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.dispatcher import async_dispatcher_send
from homeassistant.helpers.event import async_call_later, async_track_point_in_utc_time
from homeassistant.helpers.json import json_bytes
from homeassistant.util import dt as dt_util
from homeassistant.util.hass_dict import HassKey
import probatio
from yarl import URL

from .const import DOMAIN
from .delivery import (
    DEFAULT_ATTEMPT_TIMEOUT,
    DeliveryResult,
    Outcome,
    async_deliver,
    retry_delay,
)
from .outbox import (
    DeadLetter,
    Endpoint,
    EndpointStats,
    Outbox,
    OutboxEntry,
    RetryState,
    endpoint_name,
    strip_credentials,
)
from .signals import SIGNAL_ENDPOINT_ADDED, signal_endpoint_update

_LOGGER = logging.getLogger(__name__)

DATA_FORWARDING: HassKey[ForwardingManager] = HassKey(f"{DOMAIN}_forwarding")

SERVICE_FORWARD_EVENT: Final = "forward_event"
ATTR_URL: Final = "url"
ATTR_EVENT: Final = "event"
ATTR_TOKEN: Final = "token"
ATTR_API_KEY: Final = "api_key"
ATTR_SECRET: Final = "secret"

ISSUE_ENDPOINT_FAILING: Final = "endpoint_failing"
ISSUE_EVENT_REJECTED: Final = "event_rejected"

DEFAULT_RETENTION: Final = timedelta(days=7)
DEFAULT_MAX_BACKLOG: Final = 10_000
DEFAULT_MAX_IN_FLIGHT: Final = 4
DEFAULT_FAILING_AFTER: Final = timedelta(minutes=10)
# Entities follow an endpoint at most once a second: a burst of thousands of events must not
# become thousands of state writes.
DEFAULT_UPDATE_INTERVAL: Final = 1.0

_REQUIRED_FIELDS: Final = ("event_id", "event_type", "device_id")

FORWARD_EVENT_SCHEMA: Final = probatio.Schema(
    {
        probatio.Required(ATTR_URL): cv.url,
        # Checked by the handler, to refuse with a translated message.
        probatio.Required(ATTR_EVENT): object,
        probatio.Optional(ATTR_TOKEN): probatio.Any(None, cv.string),
        probatio.Optional(ATTR_API_KEY): probatio.Any(None, cv.string),
        probatio.Optional(ATTR_SECRET): probatio.Any(None, cv.string),
    }
)


@dataclass(frozen=True, slots=True)
class ForwardingSettings:
    """Tunables; the defaults follow docs/events.md and the issue."""

    retention: timedelta = DEFAULT_RETENTION
    attempt_timeout: float = DEFAULT_ATTEMPT_TIMEOUT
    max_backlog: int = DEFAULT_MAX_BACKLOG
    max_in_flight: int = DEFAULT_MAX_IN_FLIGHT
    failing_after: timedelta = DEFAULT_FAILING_AFTER
    update_interval: float = DEFAULT_UPDATE_INTERVAL


@dataclass(frozen=True, slots=True)
class EndpointView:
    """What the sensors of one endpoint show."""

    key: str
    name: str
    url: str
    backlog: int
    delivered: int
    dead_letters: int
    last_success: datetime | None
    last_error: str | None
    failing_since: datetime | None


@dataclass(slots=True)
class _Lane:
    """The queue of one station for one endpoint; at most one attempt in flight."""

    station_id: str
    queue: deque[OutboxEntry] = field(default_factory=deque)
    task: asyncio.Task[None] | None = None
    timer: CALLBACK_TYPE | None = None


@dataclass(slots=True)
class _EndpointRuntime:
    endpoint: Endpoint
    stats: EndpointStats
    slots: asyncio.Semaphore
    lanes: dict[str, _Lane] = field(default_factory=dict)
    pending_ids: set[str] = field(default_factory=set)
    paused_until: float = 0.0
    failing_timer: CALLBACK_TYPE | None = None
    update_timer: CALLBACK_TYPE | None = None
    last_update: float = float("-inf")


def _invalid_event(problem: str) -> ServiceValidationError:
    return ServiceValidationError(
        translation_domain=DOMAIN,
        translation_key="invalid_event",
        translation_placeholders={"problem": problem},
    )


def _check_event(event: object) -> dict[str, Any]:
    """The event as a plain dict, or ServiceValidationError when it is no envelope."""
    if not isinstance(event, Mapping):
        raise _invalid_event(f"expected a mapping, got {type(event).__name__}")
    for name in _REQUIRED_FIELDS:
        value = event.get(name)
        if not isinstance(value, str) or not value:
            raise _invalid_event(f"{name} is missing or not a text")
        # These go into HTTP headers, where a line break would be a header injection.
        if any(ord(char) < 32 or ord(char) == 127 for char in value):
            raise _invalid_event(f"{name} contains control characters")
    return dict(event)


class ForwardingManager:
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
        # The config entry whose sensor platform shows the endpoints (there may be several
        # entries, but the endpoints are global).
        self.sensor_entry_id: str | None = None

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

        Returns False when the same event_id is already waiting for this endpoint (an
        automation that fired twice): it is sent once.
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

    def _runtime(self, endpoint: Endpoint) -> _EndpointRuntime:
        if (runtime := self._endpoints.get(endpoint.key)) is not None:
            return runtime
        known = endpoint.key in self.outbox.stats
        stats = self.outbox.stats.setdefault(endpoint.key, EndpointStats(endpoint.url))
        runtime = _EndpointRuntime(endpoint, stats, asyncio.Semaphore(self.settings.max_in_flight))
        self._endpoints[endpoint.key] = runtime
        if not known:
            async_dispatcher_send(self.hass, SIGNAL_ENDPOINT_ADDED, endpoint.key)
        return runtime

    @staticmethod
    def _lane(runtime: _EndpointRuntime, station_id: str) -> _Lane:
        if (lane := runtime.lanes.get(station_id)) is None:
            lane = runtime.lanes[station_id] = _Lane(station_id)
        return lane

    # -- workers ----------------------------------------------------------------------------

    @callback
    def _kick(self, runtime: _EndpointRuntime, lane: _Lane) -> None:
        """Start the lane's worker unless it runs, waits for a retry, or has nothing to do."""
        if not self._delivering or lane.task or lane.timer or not lane.queue:
            return
        task = self.hass.async_create_background_task(
            self._async_run_lane(runtime, lane),
            f"{DOMAIN} forwarding {runtime.endpoint.key} {lane.station_id}",
        )
        # Started eagerly: a lane that only had to arm its retry timer is already finished
        # (and has cleared `lane.task` itself).
        if not task.done():
            lane.task = task

    async def _async_run_lane(self, runtime: _EndpointRuntime, lane: _Lane) -> None:
        try:
            while self._delivering and lane.queue:
                entry = lane.queue[0]
                async with runtime.slots:
                    if (wait := self._wait_before(runtime, entry)) > 0:
                        self._sleep(runtime, lane, wait)
                        return
                    result = await self._async_attempt(runtime, entry)
                self._handle_result(runtime, lane, entry, result)
        finally:
            lane.task = None
            if not lane.queue and lane.timer is None:
                runtime.lanes.pop(lane.station_id, None)

    def _wait_before(self, runtime: _EndpointRuntime, entry: OutboxEntry) -> float:
        retry = self.outbox.retries.get(entry.seq)
        not_before = max(retry.next_at if retry else 0.0, runtime.paused_until)
        return not_before - time.time()

    def _sleep(self, runtime: _EndpointRuntime, lane: _Lane, delay: float) -> None:
        @callback
        def wake(_now: datetime) -> None:
            lane.timer = None
            self._kick(runtime, lane)

        lane.timer = async_call_later(self.hass, delay, wake)

    async def _async_attempt(self, runtime: _EndpointRuntime, entry: OutboxEntry) -> DeliveryResult:
        if self._session is None:
            self._session = async_get_clientsession(self.hass)
        try:
            return await async_deliver(
                self._session,
                runtime.endpoint,
                entry,
                sent_at=time.time(),
                timeout_s=self.settings.attempt_timeout,
            )
        except Exception as err:  # A bug must not stop the lane for good: retry, loudly.
            _LOGGER.exception("Unexpected error forwarding event %s", entry.event_id)
            return DeliveryResult(Outcome.RETRY, None, f"unexpected error: {err!r}")

    def _handle_result(
        self,
        runtime: _EndpointRuntime,
        lane: _Lane,
        entry: OutboxEntry,
        result: DeliveryResult,
    ) -> None:
        now = time.time()
        stats = runtime.stats
        stats.last_activity = now
        if result.outcome is Outcome.DELIVERED:
            self._finish(runtime, lane, entry)
            stats.delivered += 1
            stats.last_success = now
            if stats.failing_since is not None:
                self._recovered(runtime)
        elif result.outcome is Outcome.REJECTED:
            failures = self._failures(entry) + 1
            stats.last_error = result.error
            stats.last_error_at = now
            self._dead_letter(
                runtime,
                lane,
                entry,
                reason=result.error or "rejected",
                result=result,
                failures=failures,
            )
            self._raise_rejected_issue(runtime, entry, result)
        else:
            self._retry_later(runtime, lane, entry, result, now)
        self.outbox.changed()
        self._changed(runtime)

    def _failures(self, entry: OutboxEntry) -> int:
        retry = self.outbox.retries.get(entry.seq)
        return retry.failures if retry else 0

    def _retry_later(
        self,
        runtime: _EndpointRuntime,
        lane: _Lane,
        entry: OutboxEntry,
        result: DeliveryResult,
        now: float,
    ) -> None:
        stats = runtime.stats
        stats.last_error = result.error
        stats.last_error_at = now
        retry = self.outbox.retries.setdefault(entry.seq, RetryState())
        retry.failures += 1
        retry.error = result.error
        retention = self.settings.retention.total_seconds()
        self._failing(runtime, now)
        if now >= entry.enqueued_at + retention:
            # The events behind it are about as old and the endpoint just failed: expire them
            # together rather than spending one timeout on each.
            reason = f"not delivered within {self.settings.retention}; last error: {result.error}"
            self._dead_letter(
                runtime, lane, entry, reason=reason, result=result, failures=retry.failures
            )
            while lane.queue and now >= lane.queue[0].enqueued_at + retention:
                later = lane.queue[0]
                self._dead_letter(
                    runtime,
                    lane,
                    later,
                    reason=reason,
                    result=result,
                    failures=self._failures(later),
                )
            return
        delay = retry_delay(retry.failures)
        if result.retry_after is not None:
            delay = max(delay, result.retry_after)
            # Retry-After speaks for the receiver, not for one event: pause every station.
            runtime.paused_until = max(runtime.paused_until, now + result.retry_after)
        retry.next_at = min(now + delay, entry.enqueued_at + retention)
        _LOGGER.debug(
            "Forwarding %s event %s to %s failed (%s); retry %s in %.0f s",
            entry.event_type,
            entry.event_id,
            runtime.endpoint.display_url,
            result.error,
            retry.failures,
            retry.next_at - now,
        )

    def _finish(self, runtime: _EndpointRuntime, lane: _Lane, entry: OutboxEntry) -> None:
        lane.queue.popleft()
        runtime.pending_ids.discard(entry.event_id)
        self.outbox.complete(entry)

    def _dead_letter(
        self,
        runtime: _EndpointRuntime,
        lane: _Lane,
        entry: OutboxEntry,
        *,
        reason: str,
        result: DeliveryResult,
        failures: int,
    ) -> None:
        self._finish(runtime, lane, entry)
        runtime.stats.dead_letters += 1
        self.outbox.add_dead_letter(
            DeadLetter(
                endpoint_key=runtime.endpoint.key,
                url=runtime.endpoint.url,
                event_id=entry.event_id,
                event_type=entry.event_type,
                station_id=entry.station_id,
                reason=reason,
                status=result.status,
                failures=failures,
                enqueued_at=entry.enqueued_at,
                dead_at=time.time(),
                body=entry.body.decode(),
            )
        )
        _LOGGER.error(
            "Gave up forwarding %s event %s of station %s to %s: %s; "
            "it is kept in the dead letters (see the diagnostics)",
            entry.event_type,
            entry.event_id,
            entry.station_id,
            runtime.endpoint.display_url,
            reason,
        )

    # -- repair issues ----------------------------------------------------------------------

    def _failing(self, runtime: _EndpointRuntime, now: float) -> None:
        stats = runtime.stats
        if stats.failing_since is None:
            stats.failing_since = now
        due = stats.failing_since + self.settings.failing_after.total_seconds()
        if now >= due:
            self._raise_failing_issue(runtime, stats.failing_since)
        elif runtime.failing_timer is None:

            @callback
            def check(_now: datetime) -> None:
                runtime.failing_timer = None
                if (since := runtime.stats.failing_since) is not None:
                    self._raise_failing_issue(runtime, since)

            runtime.failing_timer = async_track_point_in_utc_time(
                self.hass, check, dt_util.utc_from_timestamp(due)
            )

    def _raise_failing_issue(self, runtime: _EndpointRuntime, failing_since: float) -> None:
        stats = runtime.stats
        since = dt_util.as_local(dt_util.utc_from_timestamp(failing_since))
        ir.async_create_issue(
            self.hass,
            DOMAIN,
            f"{ISSUE_ENDPOINT_FAILING}_{runtime.endpoint.key}",
            is_fixable=False,
            severity=ir.IssueSeverity.WARNING,
            translation_key=ISSUE_ENDPOINT_FAILING,
            translation_placeholders={
                "endpoint": runtime.endpoint.display_url,
                "since": since.strftime("%Y-%m-%d %H:%M:%S"),
                "error": stats.last_error or "-",
                "backlog": str(len(runtime.pending_ids)),
            },
        )

    def _recovered(self, runtime: _EndpointRuntime) -> None:
        runtime.stats.failing_since = None
        if runtime.failing_timer is not None:
            runtime.failing_timer()
            runtime.failing_timer = None
        ir.async_delete_issue(self.hass, DOMAIN, f"{ISSUE_ENDPOINT_FAILING}_{runtime.endpoint.key}")
        _LOGGER.info("Forwarding to %s works again", runtime.endpoint.display_url)

    def _raise_rejected_issue(
        self, runtime: _EndpointRuntime, entry: OutboxEntry, result: DeliveryResult
    ) -> None:
        # Persistent: the dead letters outlive a restart, so does the notice about them.
        ir.async_create_issue(
            self.hass,
            DOMAIN,
            f"{ISSUE_EVENT_REJECTED}_{runtime.endpoint.key}",
            is_fixable=False,
            is_persistent=True,
            severity=ir.IssueSeverity.ERROR,
            translation_key=ISSUE_EVENT_REJECTED,
            translation_placeholders={
                "endpoint": runtime.endpoint.display_url,
                "event_type": entry.event_type,
                "event_id": entry.event_id,
                "error": result.error or "-",
                "count": str(runtime.stats.dead_letters),
            },
        )

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

    # -- figures ----------------------------------------------------------------------------

    def _changed(self, runtime: _EndpointRuntime) -> None:
        """Tell the endpoint's entities, at most once per `update_interval`."""
        if runtime.update_timer is not None or not self._delivering:
            return
        wait = runtime.last_update + self.settings.update_interval - self.hass.loop.time()
        if wait <= 0:
            self._send_update(runtime)
            return

        @callback
        def send(_now: datetime) -> None:
            runtime.update_timer = None
            self._send_update(runtime)

        runtime.update_timer = async_call_later(self.hass, wait, send)

    def _send_update(self, runtime: _EndpointRuntime) -> None:
        runtime.last_update = self.hass.loop.time()
        async_dispatcher_send(self.hass, signal_endpoint_update(runtime.endpoint.key))

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
        endpoints = []
        for key, stats in self.outbox.stats.items():
            runtime = self._endpoints.get(key)
            endpoint = self.outbox.endpoints.get(key)
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
                "retention_s": self.settings.retention.total_seconds(),
                "attempt_timeout_s": self.settings.attempt_timeout,
                "max_backlog": self.settings.max_backlog,
                "max_in_flight": self.settings.max_in_flight,
            },
            "outbox": {
                "pending": self.outbox.pending_count,
                "segments": self.outbox.segment_count,
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
                for letter in self.outbox.dead_letters
            ],
        }


def _datetime(timestamp: float | None) -> datetime | None:
    return None if timestamp is None else dt_util.utc_from_timestamp(timestamp)


def _iso(timestamp: float | None) -> str | None:
    return None if timestamp is None else dt_util.utc_from_timestamp(timestamp).isoformat()


# -- the action -------------------------------------------------------------------------------


async def _async_handle_forward_event(call: ServiceCall) -> None:
    manager = call.hass.data[DATA_FORWARDING]
    endpoint = Endpoint(
        call.data[ATTR_URL],
        call.data.get(ATTR_TOKEN) or None,
        call.data.get(ATTR_API_KEY) or None,
        call.data.get(ATTR_SECRET) or None,
    )
    await manager.async_forward(endpoint, call.data[ATTR_EVENT])


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

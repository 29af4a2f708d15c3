"""The delivery half of webhook forwarding: one lane per (endpoint, station), retries, figures.

`ForwardingManager` (forwarding.py) owns the life cycle and the queueing; this base class runs
the lanes: an event is sent only after the earlier events of the same station to the same
endpoint are delivered or dead-lettered, at most `max_in_flight` requests per endpoint.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
import logging
import time
from typing import Final

import aiohttp
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.dispatcher import async_dispatcher_send
from homeassistant.helpers.event import async_call_later, async_track_point_in_utc_time
from homeassistant.util import dt as dt_util

from .const import DOMAIN
from .delivery import (
    DEFAULT_ATTEMPT_TIMEOUT,
    DeliveryResult,
    Outcome,
    async_deliver,
    retry_delay,
)
from .forwarding_issues import ISSUE_ENDPOINT_FAILING, raise_failing_issue, raise_rejected_issue
from .outbox import Outbox
from .outbox_records import DeadLetter, Endpoint, EndpointStats, OutboxEntry, RetryState
from .signals import SIGNAL_ENDPOINT_ADDED, signal_endpoint_update

_LOGGER = logging.getLogger(__name__)

DEFAULT_RETENTION: Final = timedelta(days=7)
DEFAULT_MAX_BACKLOG: Final = 10_000
DEFAULT_MAX_IN_FLIGHT: Final = 4
DEFAULT_FAILING_AFTER: Final = timedelta(minutes=10)
# Entities follow an endpoint at most once a second: a burst of thousands of events must not
# become thousands of state writes.
DEFAULT_UPDATE_INTERVAL: Final = 1.0


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


class LaneWorkers:
    """The lanes of every endpoint and what happens after each attempt."""

    hass: HomeAssistant
    settings: ForwardingSettings
    outbox: Outbox
    _session: aiohttp.ClientSession | None
    _endpoints: dict[str, _EndpointRuntime]
    _delivering: bool

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
            raise_rejected_issue(self.hass, runtime, entry, result)
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

    def _failing(self, runtime: _EndpointRuntime, now: float) -> None:
        stats = runtime.stats
        if stats.failing_since is None:
            stats.failing_since = now
        due = stats.failing_since + self.settings.failing_after.total_seconds()
        if now >= due:
            raise_failing_issue(self.hass, runtime, stats.failing_since)
        elif runtime.failing_timer is None:

            @callback
            def check(_now: datetime) -> None:
                runtime.failing_timer = None
                if (since := runtime.stats.failing_since) is not None:
                    raise_failing_issue(self.hass, runtime, since)

            runtime.failing_timer = async_track_point_in_utc_time(
                self.hass, check, dt_util.utc_from_timestamp(due)
            )

    def _recovered(self, runtime: _EndpointRuntime) -> None:
        runtime.stats.failing_since = None
        if runtime.failing_timer is not None:
            runtime.failing_timer()
            runtime.failing_timer = None
        ir.async_delete_issue(self.hass, DOMAIN, f"{ISSUE_ENDPOINT_FAILING}_{runtime.endpoint.key}")
        _LOGGER.info("Forwarding to %s works again", runtime.endpoint.display_url)

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

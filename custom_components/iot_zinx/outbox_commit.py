"""Group commit of the outbox: concurrent enqueues share one write and its fsyncs.

Every `forward_event` call must return only once its event is on disk, and a durable write
costs two fsyncs (`outbox_files.write_durably`). One write per call caps forwarding at what the
disk does one fsync pair at a time. Instead, a writer asks for its segment to be written and
waits; one task writes: it takes every request queued so far, writes each segment they
touched once (a snapshot holding all their events), and then resolves all of their waiters.
Requests made while a write is under way form the next batch. Alone, a writer is written at
once (the task starts eagerly), so a quiet outbox waits no longer than before; when many
stations fire together, N writers cost one write instead of N.

A failed write fails every waiter of its batch (the action raises) and keeps the segments to
be written again with the next batch; what earlier writes put on disk stays as it was, since
a file is only ever replaced whole.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
import logging

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError

from .const import DOMAIN
from .outbox_files import WRITE_ERRORS, _Segment

_LOGGER = logging.getLogger(__name__)


class GroupCommit:
    """Queues requests to write segments and writes them in batches, one batch at a time."""

    def __init__(self, hass: HomeAssistant, write: Callable[[_Segment], Awaitable[None]]) -> None:
        """`write` writes one segment durably (raising one of WRITE_ERRORS when it fails)."""
        self._hass = hass
        self._write = write
        self._dirty: dict[int, _Segment] = {}  # segments to write with the next batch
        self._waiters: list[asyncio.Future[None]] = []  # the next batch's writers
        self._task: asyncio.Task[None] | None = None
        self.batches = 0  # batches written, for the figures

    @property
    def idle(self) -> bool:
        """Nothing asked for is still unwritten."""
        return self._task is None and not self._dirty

    def request(self, segment: _Segment | None) -> asyncio.Future[None]:
        """Ask for `segment` to be written; the future resolves once a write covering it is done.

        With None, the future resolves once everything asked for until now is written.
        """
        if segment is not None:
            self._dirty.setdefault(segment.number, segment)
        waiter: asyncio.Future[None] = self._hass.loop.create_future()
        self._waiters.append(waiter)
        if self._task is None:
            task = self._hass.async_create_task(
                self._async_run(), f"{DOMAIN} outbox writer", eager_start=True
            )
            # Started eagerly, it may have finished already (and cleared `_task` itself).
            if not task.done():
                self._task = task
        return waiter

    async def _async_run(self) -> None:
        try:
            while self._waiters:
                await self._async_batch()
        finally:
            self._task = None

    async def _async_batch(self) -> None:
        # A new segment is written only once the index lists it (see Outbox._new_segment).
        while registering := [
            segment.registered
            for segment in self._dirty.values()
            if segment.registered is not None and not segment.registered.done()
        ]:
            await asyncio.gather(*registering)
        # Taken together, with no await in between: every waiter's event is in a snapshot.
        waiters, self._waiters = self._waiters, []
        segments = [segment for segment in self._dirty.values() if not segment.removing]
        self._dirty = {}
        self.batches += 1
        try:
            for segment in segments:
                await self._write(segment)
        except asyncio.CancelledError:  # Home Assistant ending: nobody may wait forever
            self._dirty |= {segment.number: segment for segment in segments}
            for waiter in waiters:
                waiter.cancel()
            raise
        except WRITE_ERRORS as err:
            _LOGGER.error(
                "Writing the webhook outbox failed; %s waiting events were not acknowledged: %s",
                len(waiters),
                err,
            )
            for segment in segments:  # their events are written with the next batch
                self._dirty.setdefault(segment.number, segment)
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_exception(_write_failed(err))
            return
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)


def _write_failed(err: Exception) -> HomeAssistantError:
    # One exception per waiter: raising a shared one would pile up its traceback.
    return HomeAssistantError(
        translation_domain=DOMAIN,
        translation_key="outbox_write_failed",
        translation_placeholders={"error": str(err) or type(err).__name__},
    )

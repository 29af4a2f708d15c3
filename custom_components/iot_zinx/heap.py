"""Large sites: keep Home Assistant's long-lived heap out of Python's full garbage collections.

Why: with thousands of stations Home Assistant holds over a million objects that live as long
as it runs (registry entries, entities, their states, listeners). Python's full (generation
2) collection walks every one of them, about 1 s at 3,000 stations, and it runs whenever the
objects promoted since the last one exceed a quarter of the heap: every minute or so there,
because each state written replaces one that had lived long enough to be promoted. Every frame
that arrives meanwhile waits; that pause is the whole p99 latency of a large site.

``gc.freeze()`` moves every object alive at that moment into a permanent generation the
collector no longer walks, so the automatic collections only walk what came since. Reference
counting still frees frozen objects; only reference cycles among them wait, until the next
thaw. Hence two passes:

- the *young* pass, every minute from a few minutes after the option is on (the stations have
  connected and their entities exist by then): a collection of what is not frozen yet (the
  last minute's survivors, a few tens of milliseconds), then the survivors are frozen too.
  Without it the objects promoted after a freeze pile up again, and with them the pause of
  every automatic full collection;
- the *full* pass, every hour: thaw, one collection over everything (the ~1 s pause, at a time
  we chose and logged, instead of every minute), freeze again. Cycles that became garbage
  while frozen are reclaimed there;
- thawed for good when the last entry using the option unloads.

It is process-wide, like the collector: an option of a server's entry, off by default,
recommended only where Home Assistant serves mostly this integration's stations.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import timedelta
import gc
import time
from typing import Any, Literal

from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers.event import async_call_later, async_track_time_interval
from homeassistant.util import dt as dt_util
from homeassistant.util.hass_dict import HassKey

from .const import DOMAIN, LOGGER

DATA_HEAP: HassKey[HeapFreezer] = HassKey(f"{DOMAIN}_heap")

# Long enough for a connect storm of thousands of stations and their entities (20-45 s at
# 3,000), short enough that a restarted Home Assistant is soon back to short pauses. Not a
# multiple of the young interval, so the first pass never coincides with a young one.
FIRST_FREEZE_DELAY = timedelta(minutes=2, seconds=30)
YOUNG_FREEZE_INTERVAL = timedelta(minutes=1)
FULL_FREEZE_INTERVAL = timedelta(hours=1)
# A collection asked for while another thread (the recorder's) is collecting does not run
# (CPython skips it); the pass is tried again this much later.
RETRY_DELAY = timedelta(seconds=1)

type PassKind = Literal["young", "full"]


@dataclass(frozen=True, slots=True)
class FreezeResult:
    """One pass: which, when, how long it paused, what it collected and froze."""

    kind: PassKind
    at: str
    pause_ms: float
    collected: int
    frozen: int


def _full_collections() -> int:
    """How many generation-2 collections this process has run (they count ours too)."""
    return int(gc.get_stats()[2]["collections"])


class HeapFreezer:
    """Freezes the heap while at least one entry wants it; one per Home Assistant."""

    def __init__(self, hass: HomeAssistant) -> None:
        self._hass = hass
        self._entries: set[str] = set()
        self._unsubscribe: list[CALLBACK_TYPE] = []
        self._cancel_retry: CALLBACK_TYPE | None = None
        self._started = False
        self.last: FreezeResult | None = None
        self.last_full: FreezeResult | None = None
        self.young_passes = 0
        self.full_passes = 0
        self.retries = 0

    @property
    def active(self) -> bool:
        """Whether an entry wants the heap frozen."""
        return bool(self._entries)

    @callback
    def async_enable(self, entry_id: str) -> None:
        """Start the schedule if ``entry_id`` is the first entry that wants it."""
        first = not self._entries
        self._entries.add(entry_id)
        if not first:
            return
        self._unsubscribe = [
            async_call_later(self._hass, FIRST_FREEZE_DELAY, self._async_first),
            async_track_time_interval(
                self._hass,
                self._async_young,
                YOUNG_FREEZE_INTERVAL,
                name="iot_zinx heap young freeze",
            ),
            async_track_time_interval(
                self._hass,
                self._async_full,
                FULL_FREEZE_INTERVAL,
                name="iot_zinx heap full freeze",
            ),
        ]

    @callback
    def async_disable(self, entry_id: str) -> None:
        """Stop and thaw once no entry wants it any more."""
        if entry_id not in self._entries:
            return
        self._entries.discard(entry_id)
        if self._entries:
            return
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe = []
        self._cancel_pending_retry()
        self._started = False
        # The next automatic full collection walks (and reclaims) everything again.
        gc.unfreeze()
        LOGGER.info("Heap thawed: Python's garbage collector walks every object again")

    @callback
    def _async_first(self, _now: Any) -> None:
        self._started = True
        self._run("full")

    @callback
    def _async_young(self, _now: Any) -> None:
        # Nothing to add to before the first (full) freeze.
        if self._started:
            self._run("young")

    @callback
    def _async_full(self, _now: Any) -> None:
        if self._started:
            self._run("full")

    def _cancel_pending_retry(self) -> None:
        if self._cancel_retry is not None:
            self._cancel_retry()
            self._cancel_retry = None

    def _run(self, kind: PassKind) -> None:
        """Run a pass now, or again shortly if another thread was collecting."""
        self._cancel_pending_retry()
        if self.run_pass(kind) is None:
            self.retries += 1
            self._cancel_retry = async_call_later(
                self._hass, RETRY_DELAY, self._retry_callback(kind)
            )

    def _retry_callback(self, kind: PassKind) -> Callable[[Any], None]:
        @callback
        def retry(_now: Any) -> None:
            self._cancel_retry = None
            if self.active:
                self._run(kind)

        return retry

    def run_pass(self, kind: PassKind) -> FreezeResult | None:
        """One pass; ``None`` (nothing changed) when the collection could not run now."""
        before = _full_collections()
        was_frozen = gc.get_freeze_count() > 0
        started = time.perf_counter()
        if kind == "full":
            gc.unfreeze()
        collected = gc.collect()
        if _full_collections() == before:
            # Another thread is collecting: freezing now would freeze garbage unseen. Leave
            # the heap as frozen as it was (a full pass had thawed it) and retry.
            if kind == "full" and was_frozen:
                gc.freeze()
            return None
        gc.freeze()
        pause_ms = (time.perf_counter() - started) * 1000
        result = FreezeResult(
            kind=kind,
            at=dt_util.utcnow().isoformat(),
            pause_ms=round(pause_ms, 1),
            collected=collected,
            frozen=gc.get_freeze_count(),
        )
        self.last = result
        if kind == "full":
            self.full_passes += 1
            self.last_full = result
            LOGGER.info(
                "Heap frozen: %d long-lived objects out of the garbage collector's full passes "
                "(%d unreachable collected, paused %.0f ms); thawed and collected again in %s",
                result.frozen,
                collected,
                pause_ms,
                FULL_FREEZE_INTERVAL,
            )
        else:
            self.young_passes += 1
            LOGGER.debug(
                "Heap: %d objects frozen (%d collected, %.0f ms)",
                result.frozen,
                collected,
                pause_ms,
            )
        return result

    def diagnostics(self) -> dict[str, Any]:
        """Whether the heap is frozen, how often, and the last passes, for diagnostics."""
        return {
            "active": self.active,
            "full_passes": self.full_passes,
            "young_passes": self.young_passes,
            "retries": self.retries,
            "frozen_objects": gc.get_freeze_count(),
            "last": None if self.last is None else asdict(self.last),
            "last_full": None if self.last_full is None else asdict(self.last_full),
        }


@callback
def async_heap_freezer(hass: HomeAssistant) -> HeapFreezer:
    """The one freezer of this Home Assistant, created on first use."""
    if (freezer := hass.data.get(DATA_HEAP)) is None:
        freezer = hass.data[DATA_HEAP] = HeapFreezer(hass)
    return freezer

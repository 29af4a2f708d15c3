"""Large sites: tune the Python runtime under Home Assistant (the large_site_tuning option).

Two process-wide settings, for a Home Assistant that mostly serves thousands of stations: the
long-lived heap kept out of Python's full garbage collections, and a shorter GIL switch
interval (``SWITCH_INTERVAL_S``, why there).

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

- the *young* pass, every ten seconds from a few minutes after the option is on (the stations
  have connected and their entities exist by then): a collection of what is not frozen yet
  (the last seconds' survivors: 6 ms at 3,000 stations), then the survivors are frozen too.
  Without it the objects promoted after a freeze pile up again, and with them the pause of
  every automatic full collection (150-250 ms a minute after a freeze at 3,000 stations);
- the *full* pass, every hour: thaw, one collection over everything (the ~1 s pause, at a time
  we chose and logged, instead of every minute), freeze again. Cycles that became garbage
  while frozen are reclaimed there;
- thawed for good when the last entry using the option unloads.

Both are process-wide, like the collector and the GIL: an option of a server's entry, off by
default, recommended only where Home Assistant serves mostly this integration's stations.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import timedelta
from functools import partial
import gc
import sys
import time
from typing import Any, Literal

from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers.event import async_call_later, async_track_time_interval
from homeassistant.util import dt as dt_util
from homeassistant.util.hass_dict import HassKey

from .const import DOMAIN, LOGGER

DATA_RUNTIME_TUNING: HassKey[RuntimeTuning] = HassKey(f"{DOMAIN}_runtime_tuning")

# Long enough for a connect storm of thousands of stations and their entities (20-45 s at
# 3,000), short enough that a restarted Home Assistant is soon back to short pauses. Not a
# multiple of the young interval, so the first pass never coincides with a young one.
FIRST_FREEZE_DELAY = timedelta(minutes=2, seconds=25)
YOUNG_FREEZE_INTERVAL = timedelta(seconds=10)
FULL_FREEZE_INTERVAL = timedelta(hours=1)
# Python's GIL switch interval while the option is on (its default is 5 ms). The event loop
# gives up the GIL at every socket read and write; while the recorder's thread computes (its
# commits, its statistics every five minutes), the loop waits up to the interval to get it
# back, each time: the syscalls of a few hundred frames then add up to stalls of a second
# at 3,000 stations. A shorter interval makes the computing thread hand it back sooner.
SWITCH_INTERVAL_S = 0.0005
# A collection asked for while another thread (the recorder's) is collecting does not run
# (CPython skips it); the pass is tried again this much later.
RETRY_DELAY = timedelta(seconds=1)

type PassKind = Literal["young", "full"]
# The passes that come back (the first, full one is due once, FIRST_FREEZE_DELAY in).
PASS_SCHEDULE: tuple[tuple[PassKind, timedelta], ...] = (
    ("young", YOUNG_FREEZE_INTERVAL),
    ("full", FULL_FREEZE_INTERVAL),
)


@dataclass(frozen=True, slots=True)
class FreezeResult:
    """One pass: which, when, how long it paused, what it collected and froze."""

    kind: PassKind
    at: str
    pause_ms: float
    collected: int
    frozen: int | None  # counted by full passes only (the count walks every frozen object)


def _full_collections() -> int:
    """How many generation-2 collections this process has run (they count ours too)."""
    return int(gc.get_stats()[2]["collections"])


class RuntimeTuning:
    """Tunes the runtime while at least one entry wants it; one per Home Assistant."""

    def __init__(self, hass: HomeAssistant) -> None:
        self._hass = hass
        self._entries: set[str] = set()
        self._unsubscribe: list[CALLBACK_TYPE] = []
        self._cancel_retry: CALLBACK_TYPE | None = None
        self._retry_kind: PassKind | None = None
        self._started = False
        self._frozen = False
        self._switch_interval_before: float | None = None
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
        self._switch_interval_before = sys.getswitchinterval()
        sys.setswitchinterval(SWITCH_INTERVAL_S)
        self._unsubscribe = [
            async_call_later(self._hass, FIRST_FREEZE_DELAY, self._async_first),
            *(
                async_track_time_interval(
                    self._hass,
                    partial(self._async_scheduled, kind),
                    interval,
                    name=f"iot_zinx heap {kind} freeze",
                )
                for kind, interval in PASS_SCHEDULE
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
        if self._switch_interval_before is not None:
            sys.setswitchinterval(self._switch_interval_before)
            self._switch_interval_before = None
        # The next automatic full collection walks (and reclaims) everything again.
        gc.unfreeze()
        self._frozen = False
        LOGGER.info("Heap thawed: Python's garbage collector walks every object again")

    @callback
    def _async_first(self, _now: Any) -> None:
        self._started = True
        self._run("full")

    @callback
    def _async_scheduled(self, kind: PassKind, _now: Any) -> None:
        # Nothing to add to, nor to redo, before the first (full) freeze.
        if self._started:
            self._run(kind)

    def _cancel_pending_retry(self) -> None:
        if self._cancel_retry is not None:
            self._cancel_retry()
            self._cancel_retry = None
        self._retry_kind = None

    def _run(self, kind: PassKind) -> None:
        """Run a pass now, or again shortly if another thread was collecting."""
        # A full pass still waiting for its retry is not lost to a young one due meanwhile.
        if self._retry_kind == "full":
            kind = "full"
        self._cancel_pending_retry()
        if self.run_pass(kind) is None:
            self._retry_kind = kind
            self.retries += 1
            self._cancel_retry = async_call_later(
                self._hass, RETRY_DELAY, self._retry_callback(kind)
            )

    def _retry_callback(self, kind: PassKind) -> Callable[[Any], None]:
        @callback
        def retry(_now: Any) -> None:
            self._cancel_retry = None
            self._retry_kind = None
            if self.active:
                self._run(kind)

        return retry

    def run_pass(self, kind: PassKind) -> FreezeResult | None:
        """One pass; ``None`` (nothing changed) when the collection could not run now."""
        before = _full_collections()
        started = time.perf_counter()
        if kind == "full":
            gc.unfreeze()
        collected = gc.collect()
        if _full_collections() == before:
            # Another thread is collecting: freezing now would freeze garbage unseen. Leave
            # the heap as frozen as it was (a full pass had thawed it) and retry.
            if kind == "full" and self._frozen:
                gc.freeze()
            return None
        gc.freeze()
        self._frozen = True
        # Counting the frozen objects walks all of them (~0.2 s at 3,000 stations): only in
        # the hourly full pass, whose pause it is then part of.
        frozen = gc.get_freeze_count() if kind == "full" else None
        pause_ms = (time.perf_counter() - started) * 1000
        result = FreezeResult(
            kind=kind,
            at=dt_util.utcnow().isoformat(),
            pause_ms=round(pause_ms, 1),
            collected=collected,
            frozen=frozen,
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
            LOGGER.debug("Heap: young pass, %d collected, %.0f ms", collected, pause_ms)
        return result

    def diagnostics(self) -> dict[str, Any]:
        """Whether the heap is frozen, how often, and the last passes, for diagnostics."""
        return {
            "active": self.active,
            "full_passes": self.full_passes,
            "young_passes": self.young_passes,
            "retries": self.retries,
            # Walks every frozen object: fine for a diagnostics download, not for each pass.
            "frozen_objects": gc.get_freeze_count(),
            "switch_interval_ms": round(sys.getswitchinterval() * 1000, 3),
            "last": None if self.last is None else asdict(self.last),
            "last_full": None if self.last_full is None else asdict(self.last_full),
        }


@callback
def async_runtime_tuning(hass: HomeAssistant) -> RuntimeTuning:
    """The one runtime tuning of this Home Assistant, created on first use."""
    if (tuning := hass.data.get(DATA_RUNTIME_TUNING)) is None:
        tuning = hass.data[DATA_RUNTIME_TUNING] = RuntimeTuning(hass)
    return tuning

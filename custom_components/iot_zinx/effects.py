"""The effects of what a station said, as the tracker returns them and the hub carries out.

Plain data, in the order they must happen: events to fire, devices to refresh in the
registry, entities to tell, store writes to schedule, new stations for the platforms.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import events
from .models import StationState
from .store import SAVE_DELAY


@dataclass(frozen=True, slots=True)
class Fire:
    """Fire this envelope on the event bus."""

    event: events.Envelope


@dataclass(frozen=True, slots=True)
class RefreshDevice:
    """Create or refresh the station's device in the registry (model, firmware, via)."""

    station: StationState


@dataclass(frozen=True, slots=True)
class Notify:
    """Tell the station's entities: its own (``station_level``) and those of ``ports``.

    ``ports=None``: every port. Whatever the entities are told about, the store writes next.
    """

    station: StationState
    ports: tuple[int, ...] | None = None
    station_level: bool = True


@dataclass(frozen=True, slots=True)
class Save:
    """Schedule a store write ``delay`` seconds after the first unsaved change."""

    delay: float = SAVE_DELAY


@dataclass(frozen=True, slots=True)
class NewStation:
    """A station was seen for the first time: the platforms add its entities."""

    station: StationState


type Effect = Fire | RefreshDevice | Notify | Save | NewStation

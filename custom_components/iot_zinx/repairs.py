"""The repair issues a large fleet calls for: fewer port entities, events not recorded.

And Home Assistant's cap of enabled entities per config entry (entity_cap.py): the stations
whose port entities were created disabled to stay below it, or the cap reached all the same
(docs/large-sites.md).
"""

from __future__ import annotations

from collections.abc import Set
import heapq

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import entity_registry as er, issue_registry as ir
from homeassistant.helpers.recorder import DATA_INSTANCE

from .const import (
    DOMAIN,
    EVENT_IOT_ZINX,
    ISSUE_ENTITY_CAP,
    ISSUE_MANY_PORT_ENTITIES,
    ISSUE_RECORDED_EVENTS,
    MANY_STATIONS_FOR_ALL_PORT_ENTITIES,
    MANY_STATIONS_FOR_RECORDED_EVENTS,
    PORT_ENTITIES_ALL,
)
from .entity_cap import entity_cap

# The stations the entity cap's issue names; the rest are counted.
STATIONS_NAMED = 20


class FleetSizeRepair:
    """Raised once per start when the stations outgrow the entry's settings.

    Three issues: every port entity (the *Entities per port* option), ``iot_zinx_event``
    recorded (the recorder's configuration), and Home Assistant's cap of enabled entities
    (stations' port entities created disabled, or the cap reached). Each is removed at the
    next start once the setting (or the fleet) no longer calls for it.
    """

    def __init__(self, hass: HomeAssistant, entry_id: str, title: str, port_entities: str) -> None:
        """Watch the fleet of one entry, whose *Entities per port* is ``port_entities``."""
        self._hass = hass
        self._entry_id = entry_id
        self._cap_issue_id = f"{ISSUE_ENTITY_CAP}_{entry_id}"
        # (cap reached, how many stations' ports were disabled) as the issue last showed it.
        self._cap_shown: tuple[bool, int] | None = None
        self._ports_disabled: Set[str] = frozenset()
        self._issue_id = f"{ISSUE_MANY_PORT_ENTITIES}_{entry_id}"
        self._events_issue_id = f"{ISSUE_RECORDED_EVENTS}_{entry_id}"
        self._title = title
        self._all_port_entities = port_entities == PORT_ENTITIES_ALL
        self._checked = False
        self._raised = False
        self._events_checked = False
        self._events_raised = False

    @callback
    def check(self, station_count: int) -> None:
        """Raise the issues the fleet's size calls for."""
        self._check_port_entities(station_count)
        self._check_recorded_events(station_count)
        self._check_entity_cap()

    def _check_port_entities(self, station_count: int) -> None:
        if not self._all_port_entities or station_count <= MANY_STATIONS_FOR_ALL_PORT_ENTITIES:
            if not self._checked:
                ir.async_delete_issue(self._hass, DOMAIN, self._issue_id)
                self._checked = True
            return
        if self._raised:
            return
        self._raised = True
        ir.async_create_issue(
            self._hass,
            DOMAIN,
            self._issue_id,
            is_fixable=False,
            severity=ir.IssueSeverity.WARNING,
            translation_key=ISSUE_MANY_PORT_ENTITIES,
            translation_placeholders={
                "stations": str(MANY_STATIONS_FOR_ALL_PORT_ENTITIES),
                "title": self._title,
            },
        )

    def _check_recorded_events(self, station_count: int) -> None:
        if station_count <= MANY_STATIONS_FOR_RECORDED_EVENTS or not self._events_recorded():
            if not self._events_checked:
                ir.async_delete_issue(self._hass, DOMAIN, self._events_issue_id)
                self._events_checked = True
            return
        if self._events_raised:
            return
        self._events_raised = True
        ir.async_create_issue(
            self._hass,
            DOMAIN,
            self._events_issue_id,
            is_fixable=False,
            severity=ir.IssueSeverity.WARNING,
            translation_key=ISSUE_RECORDED_EVENTS,
            translation_placeholders={
                "stations": str(MANY_STATIONS_FOR_RECORDED_EVENTS),
                "title": self._title,
                "event_type": EVENT_IOT_ZINX,
            },
        )

    @callback
    def ports_disabled(self, stations: Set[str]) -> None:
        """``PortEntityBudget``: these stations' new port entities were created disabled."""
        self._ports_disabled = stations
        self._check_entity_cap()

    def _check_entity_cap(self) -> None:
        """Checked as each new station appears (the previous stations' entities are counted)
        and each time a station's port entities are created disabled."""
        enabled = er.async_get(self._hass).entities.get_enabled_count_for_config_entry_id(
            self._entry_id
        )
        cap = entity_cap()
        reached = enabled >= cap
        shown = (reached, len(self._ports_disabled))
        if shown == self._cap_shown:
            return
        first = self._cap_shown is None
        self._cap_shown = shown
        if not reached and not self._ports_disabled:
            if first:
                ir.async_delete_issue(self._hass, DOMAIN, self._cap_issue_id)
            return
        count = len(self._ports_disabled)
        # Linear, not a sort: the issue is updated for each such station.
        stations = ", ".join(heapq.nsmallest(STATIONS_NAMED, self._ports_disabled)) or "-"
        if count > STATIONS_NAMED:
            stations += f" (+{count - STATIONS_NAMED})"
        ir.async_create_issue(
            self._hass,
            DOMAIN,
            self._cap_issue_id,
            is_fixable=False,
            severity=ir.IssueSeverity.ERROR if reached else ir.IssueSeverity.WARNING,
            translation_key=ISSUE_ENTITY_CAP,
            translation_placeholders={
                "cap": f"{cap:,}",
                "title": self._title,
                "count": str(count),
                "stations": stations,
            },
        )

    def _events_recorded(self) -> bool:
        """Whether the recorder runs and stores ``iot_zinx_event`` (not excluded)."""
        if (recorder := self._hass.data.get(DATA_INSTANCE)) is None:
            return False
        return EVENT_IOT_ZINX not in recorder.exclude_event_types

"""The repair issues a large fleet calls for: fewer port entities, events not recorded.

And Home Assistant's cap of enabled entities per config entry reached all the same in one of
the server's entries (station_groups.py keeps a reserve below it; docs/large-sites.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

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
from .entries import station_entity_entry_ids
from .station_groups import entity_cap

if TYPE_CHECKING:
    from homeassistant.config_entries import ConfigEntry


class FleetSizeRepair:
    """Raised once per start when the stations outgrow the entry's settings.

    Three issues: every port entity (the *Entities per port* option), ``iot_zinx_event``
    recorded (the recorder's configuration), and Home Assistant's cap of enabled entities
    reached in the server's entry or one of its station groups (entities enabled by hand
    beyond the reserve). Each is removed at the next start once the setting (or the fleet)
    no longer calls for it.
    """

    def __init__(self, hass: HomeAssistant, entry: ConfigEntry, port_entities: str) -> None:
        """Watch the fleet of one server entry, whose *Entities per port* is ``port_entities``."""
        self._hass = hass
        entry_id = self._entry_id = entry.entry_id
        title = entry.title
        self._cap_issue_id = f"{ISSUE_ENTITY_CAP}_{entry_id}"
        # Whether the cap was reached, as the issue last showed it.
        self._cap_shown: bool | None = None
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

    def _check_entity_cap(self) -> None:
        """Checked at each start and as each new station appears (the previous ones' counted)."""
        counts = er.async_get(self._hass).entities.get_enabled_count_for_config_entry_id
        cap = entity_cap()
        reached = any(
            counts(entry_id) >= cap
            for entry_id in station_entity_entry_ids(self._hass, self._entry_id)
        )
        if reached == self._cap_shown:
            return
        self._cap_shown = reached
        if not reached:
            ir.async_delete_issue(self._hass, DOMAIN, self._cap_issue_id)
            return
        ir.async_create_issue(
            self._hass,
            DOMAIN,
            self._cap_issue_id,
            is_fixable=False,
            severity=ir.IssueSeverity.ERROR,
            translation_key=ISSUE_ENTITY_CAP,
            translation_placeholders={"cap": f"{cap:,}", "title": self._title},
        )

    def _events_recorded(self) -> bool:
        """Whether the recorder runs and stores ``iot_zinx_event`` (not excluded)."""
        if (recorder := self._hass.data.get(DATA_INSTANCE)) is None:
            return False
        return EVENT_IOT_ZINX not in recorder.exclude_event_types

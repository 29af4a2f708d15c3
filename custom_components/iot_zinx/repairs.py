"""The repair issues a large fleet calls for: fewer port entities, events not recorded.

And Home Assistant's cap of enabled entities per config entry reached all the same in one of
the server's entries (station_groups.py keeps a reserve below it; docs/large-sites.md).
"""

from __future__ import annotations

from collections.abc import Callable
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


class _IssueOfTheStart:
    """A warning decided for this start: raised once when first called for, else removed
    (once: what an earlier start raised goes away when the setting no longer calls for it)."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry_id: str,
        translation_key: str,
        placeholders: Callable[[], dict[str, str]],
    ) -> None:
        """``placeholders`` are read when the issue is raised (the thresholds as they are)."""
        self._hass = hass
        self._issue_id = f"{translation_key}_{entry_id}"
        self._translation_key = translation_key
        self._placeholders = placeholders
        self._removed = False
        self._raised = False

    @callback
    def update(self, called_for: bool) -> None:
        """Raise it (once) or remove it (once), whether the fleet calls for it or not."""
        if not called_for:
            if not self._removed:
                ir.async_delete_issue(self._hass, DOMAIN, self._issue_id)
                self._removed = True
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
            translation_key=self._translation_key,
            translation_placeholders=self._placeholders(),
        )


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
        self._entry_id = entry.entry_id
        self._title = entry.title
        self._cap_issue_id = f"{ISSUE_ENTITY_CAP}_{entry.entry_id}"
        # Whether the cap was reached, as the issue last showed it.
        self._cap_shown: bool | None = None
        self._all_port_entities = port_entities == PORT_ENTITIES_ALL
        self._many_port_entities = _IssueOfTheStart(
            hass,
            entry.entry_id,
            ISSUE_MANY_PORT_ENTITIES,
            lambda: {"stations": str(MANY_STATIONS_FOR_ALL_PORT_ENTITIES), "title": entry.title},
        )
        self._recorded_events = _IssueOfTheStart(
            hass,
            entry.entry_id,
            ISSUE_RECORDED_EVENTS,
            lambda: {
                "stations": str(MANY_STATIONS_FOR_RECORDED_EVENTS),
                "title": entry.title,
                "event_type": EVENT_IOT_ZINX,
            },
        )

    @callback
    def check(self, station_count: int) -> None:
        """Raise the issues the fleet's size calls for."""
        self._many_port_entities.update(
            self._all_port_entities and station_count > MANY_STATIONS_FOR_ALL_PORT_ENTITIES
        )
        self._recorded_events.update(
            station_count > MANY_STATIONS_FOR_RECORDED_EVENTS and self._events_recorded()
        )
        self._check_entity_cap()

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

"""The repair issue that suggests fewer port entities once a server's fleet is large."""

from __future__ import annotations

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir

from .const import (
    DOMAIN,
    ISSUE_MANY_PORT_ENTITIES,
    MANY_STATIONS_FOR_ALL_PORT_ENTITIES,
    PORT_ENTITIES_ALL,
)


class FleetSizeRepair:
    """Raised once per start when the stations outgrow what every port entity allows.

    Removed at the next start once the option (or the fleet) no longer calls for it.
    """

    def __init__(self, hass: HomeAssistant, entry_id: str, title: str, port_entities: str) -> None:
        """Watch the fleet of one entry, whose *Entities per port* is ``port_entities``."""
        self._hass = hass
        self._issue_id = f"{ISSUE_MANY_PORT_ENTITIES}_{entry_id}"
        self._title = title
        self._all_port_entities = port_entities == PORT_ENTITIES_ALL
        self._checked = False
        self._raised = False

    @callback
    def check(self, station_count: int) -> None:
        """Raise the issue when the fleet is too large for every port entity."""
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

"""The websocket command the dashboard strategy builds its port map from.

``iot_zinx/port_map`` answers, for every station device (and the site device), the entity
of each entity description: the station's own and each port's, keyed ``"<domain>.<key>"``
("sensor.status", "switch.charging"). The strategy needs no knowledge of how unique ids are
made (entity_levels.py owns that contract), and no name parsing.

With ``limit`` the stations come only when there are no more than that many: a large site's
dashboard shows the compact station list (station_list.py, ``iot_zinx/station_list/subscribe``)
and needs only the site devices' entities, not a map of 10,000 x 10 ports.
"""

from __future__ import annotations

from typing import Any

from homeassistant.components import websocket_api
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import device_registry as dr, entity_registry as er
import probatio

from .const import DOMAIN
from .entity_levels import parse_unique_id
from .entries import station_entity_entry_ids, station_entries
from .site_totals import site_device_identifier, site_unique_id_prefix
from .station_list import ws_station_list

COMMAND_PORT_MAP = f"{DOMAIN}/port_map"


@callback
def async_register_websocket_commands(hass: HomeAssistant) -> None:
    """Register the commands; call once, from ``async_setup``."""
    websocket_api.async_register_command(hass, ws_port_map)
    websocket_api.async_register_command(hass, ws_station_list)


@callback
def async_station_count(hass: HomeAssistant) -> int:
    """How many stations the loaded servers know."""
    return sum(len(entry.runtime_data.stations) for entry in station_entries(hass, loaded=True))


@callback
def async_port_map(hass: HomeAssistant, *, sites_only: bool = False) -> list[dict[str, Any]]:
    """Every station device with its entities, as the strategy reads them.

    ``[{device_id, station_id, name, station: {key: entity_id}, ports: [{number,
    entities: {key: entity_id}}]}]``: disabled and hidden entities left out, like the
    frontend's own entity list; the site device has ``station_id`` "". ``sites_only``: only
    the site devices.
    """
    entities = er.async_get(hass)
    devices = dr.async_get(hass)
    stations: dict[str, dict[str, Any]] = {}
    for entry in station_entries(hass):
        site_prefix = site_unique_id_prefix(entry.entry_id)
        if not sites_only:
            # The server's own entry and its station groups' (station_groups.py).
            candidates = [
                entity
                for entry_id in station_entity_entry_ids(hass, entry.entry_id)
                for entity in er.async_entries_for_config_entry(entities, entry_id)
            ]
        elif site := devices.async_get_device_by_identifier(
            site_device_identifier(entry.entry_id), entry.entry_id
        ):
            candidates = er.async_entries_for_device(entities, site.id)
        else:
            continue
        for entity in candidates:
            if entity.disabled_by or entity.hidden_by or entity.device_id is None:
                continue
            if entity.unique_id.startswith(site_prefix):
                station_id, port, key = "", None, entity.unique_id.removeprefix(site_prefix)
            elif (parsed := parse_unique_id(entity.unique_id)) is not None:
                station_id, port, key = parsed.station_id, parsed.port, parsed.key
            else:  # neither a station's nor the site's (an older version's endpoint sensor)
                continue
            if (record := stations.get(entity.device_id)) is None:
                device = devices.async_get(entity.device_id, include_child_devices=False)
                if device is None:
                    continue
                record = stations[entity.device_id] = {
                    "device_id": entity.device_id,
                    "station_id": station_id,
                    "name": device.name_by_user or device.name or entity.device_id,
                    "station": {},
                    "ports": {},
                }
            name = f"{entity.domain}.{key}"
            if port is None:
                record["station"][name] = entity.entity_id
            else:
                record["ports"].setdefault(port, {})[name] = entity.entity_id
    return [
        {
            **record,
            "ports": [
                {"number": number, "entities": found}
                for number, found in sorted(record["ports"].items())
            ],
        }
        for record in stations.values()
    ]


@websocket_api.websocket_command(
    {
        probatio.Required("type"): COMMAND_PORT_MAP,
        probatio.Optional("limit"): probatio.All(int, probatio.Range(min=0)),
    }
)
@callback
def ws_port_map(
    hass: HomeAssistant, connection: websocket_api.ActiveConnection, msg: dict[str, Any]
) -> None:
    """Answer the port map of every station, or of the sites only above ``limit`` stations."""
    count = async_station_count(hass)
    sites_only = "limit" in msg and count > msg["limit"]
    connection.send_result(
        msg["id"],
        {
            "stations": async_port_map(hass, sites_only=sites_only),
            "station_count": count,
            "complete": not sites_only,
        },
    )

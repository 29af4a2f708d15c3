"""Constants of the iot_zinx integration: domain, option keys and defaults, signal names."""

from __future__ import annotations

import logging
from typing import Final

DOMAIN: Final = "iot_zinx"
EVENT_IOT_ZINX: Final = "iot_zinx_event"
MANUFACTURER: Final = "AP3000"

DEFAULT_HOST: Final = "0.0.0.0"
DEFAULT_PORT: Final = 7054

# Options (entry.options). Heartbeats come every 3 min by default (docs/protocol.md 3, 0x21); a
# station is offline after more than two missed periods (docs/protocol.md 6).
CONF_HEARTBEAT_TIMEOUT: Final = "heartbeat_timeout"
DEFAULT_HEARTBEAT_TIMEOUT: Final = 420

CONF_CHARGE_MODE: Final = "charge_mode"
DEFAULT_CHARGE_MODE: Final = "full"
CONF_CHARGE_MINUTES: Final = "charge_minutes"
DEFAULT_CHARGE_MINUTES: Final = 240
CONF_CHARGE_ENERGY: Final = "charge_energy_kwh"
DEFAULT_CHARGE_ENERGY: Final = 1.0

# Tariff in CNY per kWh; fees in the events are fen (docs/events.md).
CONF_ELECTRICITY_PRICE: Final = "electricity_price"
DEFAULT_ELECTRICITY_PRICE: Final = 0.0
CONF_SERVICE_PRICE: Final = "service_price"
DEFAULT_SERVICE_PRICE: Final = 0.0

CONF_CARD_POLICY: Final = "card_policy"
CARD_POLICY_ACCEPT_ALL: Final = "accept_all"
CARD_POLICY_ALLOW_LIST: Final = "allow_list"
CARD_POLICY_REFUSE_ALL: Final = "refuse_all"
DEFAULT_CARD_POLICY: Final = CARD_POLICY_ACCEPT_ALL
CONF_CARD_ALLOW_LIST: Final = "card_allow_list"

# How long the webhook outbox keeps retrying an undelivered event before it becomes a dead
# letter (docs/events.md: beyond the documented three retries, never dropped silently).
CONF_FORWARD_RETENTION_DAYS: Final = "forward_retention_days"
DEFAULT_FORWARD_RETENTION_DAYS: Final = 7
MAX_FORWARD_RETENTION_DAYS: Final = 90

# Webhook forwarding has a config entry of its own (a "service" entry, created on first use):
# it holds the retention option and the endpoints' devices. Station-server entries have no
# `kind` in their data.
CONF_KIND: Final = "kind"
KIND_FORWARDING: Final = "forwarding"
FORWARDING_UNIQUE_ID: Final = "forwarding"
FORWARDING_TITLE: Final = "Webhook forwarding"
# A station group: an entry a station server creates for the entities of its stations beyond
# Home Assistant's cap of enabled entities per config entry (station_groups.py). Its data names
# the server's entry and the group's number (1, 2, ...; the server itself is group 0).
KIND_STATION_GROUP: Final = "station_group"
CONF_SERVER: Final = "server"
CONF_GROUP: Final = "group"
STATION_GROUP_TITLE: Final = "station group"

# Which entities a port gets. Each entity costs Home Assistant about 11 KB and some work on
# every write, so an operator of thousands of stations keeps the essential ones, or none and
# reads the ports through the station's totals, the events, the dashboard and the actions.
CONF_PORT_ENTITIES: Final = "port_entities"
PORT_ENTITIES_ALL: Final = "all"
PORT_ENTITIES_ESSENTIAL: Final = "essential"
PORT_ENTITIES_NONE: Final = "none"
PORT_ENTITIES_CONNECTIVITY: Final = "connectivity"
DEFAULT_PORT_ENTITIES: Final = PORT_ENTITIES_ALL
# (platform, description key): a tile, a switch and what the Energy dashboard needs.
ESSENTIAL_PORT_ENTITIES: Final = frozenset(
    {
        ("sensor", "status"),
        ("sensor", "power"),
        ("sensor", "lifetime_energy"),
        ("switch", "charging"),
    }
)
# (platform, description key) of the port entities enabled by default (the others are disabled
# by default, their descriptions say why): what a port adds to Home Assistant's count of enabled
# entities at the level "all" (station_groups.py; tests/test_station_groups.py checks the
# descriptions).
ENABLED_PORT_ENTITIES: Final = frozenset(
    {
        ("sensor", "status"),
        ("sensor", "power"),
        ("sensor", "session_energy"),
        ("sensor", "lifetime_energy"),
        ("switch", "charging"),
    }
)
# The station totals: only with "none", where they stand in for the port entities.
STATION_TOTAL_KEYS: Final = frozenset({"charging_ports", "total_power", "total_lifetime_energy"})
# With "none" (for thousands of stations) a station keeps what a fleet overview needs: whether
# it is online, its mains voltage and temperature, and the totals. Each entity costs Home
# Assistant about 11 KB and some 60 objects its garbage collector walks; last heartbeat,
# ICCID and the reboot / query buttons are left to the events (device_register carries the
# ICCID) and the actions (iot_zinx.reboot, iot_zinx.query_status).
FLEET_STATION_ENTITIES: Final = frozenset(
    {
        ("binary_sensor", "connectivity"),
        ("sensor", "voltage"),
        ("sensor", "temperature"),
        *(("sensor", key) for key in STATION_TOTAL_KEYS),
    }
)
# With "connectivity" (thousands of stations in under 100 KB each) a station keeps only
# whether it is online: every further entity costs about 36 KB of resident memory. The
# server's site totals stand in for the station totals.
CONNECTIVITY_STATION_ENTITIES: Final = frozenset({("binary_sensor", "connectivity")})

# Large sites: keep Home Assistant's long-lived heap out of Python's full garbage collections
# and shorten the GIL switch interval (runtime_tuning.py). Process-wide, so off unless the
# operator asks for it.
CONF_LARGE_SITE_TUNING: Final = "large_site_tuning"
DEFAULT_LARGE_SITE_TUNING: Final = False

CONF_ADMISSION: Final = "admission"
ADMISSION_ANY: Final = "any"
ADMISSION_ALLOW_LIST: Final = "allow_list"
DEFAULT_ADMISSION: Final = ADMISSION_ANY
CONF_STATION_ALLOW_LIST: Final = "station_allow_list"


# --- UI surface: option choices and bounds, actions -------------------------------------------

LOGGER: Final = logging.getLogger(__package__)

CHARGE_MODES: Final = ("full", "time", "energy")
CARD_POLICIES: Final = (CARD_POLICY_ACCEPT_ALL, CARD_POLICY_ALLOW_LIST, CARD_POLICY_REFUSE_ALL)
ADMISSIONS: Final = (ADMISSION_ANY, ADMISSION_ALLOW_LIST)
PORT_ENTITY_LEVELS: Final = (
    PORT_ENTITIES_ALL,
    PORT_ENTITIES_ESSENTIAL,
    PORT_ENTITIES_NONE,
    PORT_ENTITIES_CONNECTIVITY,
)

# The station's heartbeat period is 3 min by default but configurable (0x83); below one minute
# a healthy station would flap offline, above an hour a dead one would linger as online.
MIN_HEARTBEAT_TIMEOUT: Final = 60
MAX_HEARTBEAT_TIMEOUT: Final = 3600
# 0x82 value is a u16 of seconds (docs/protocol.md 4), so a timed start is at most 1092 min.
MAX_CHARGE_MINUTES: Final = 1092
# 0x82 value is a u16 of 0.01 kWh in energy mode: at most 655.35 kWh.
MAX_CHARGE_ENERGY_KWH: Final = 655.35
# 0x82 order numbers are 16 bytes on the wire; we accept readable ASCII up to that length.
MAX_ORDER_NUMBER_LENGTH: Final = 16

# Action names and fields (services.yaml).
SERVICE_START_CHARGING: Final = "start_charging"
SERVICE_STOP_CHARGING: Final = "stop_charging"
SERVICE_MODIFY_CHARGING: Final = "modify_charging"
SERVICE_QUERY_STATUS: Final = "query_status"
SERVICE_REBOOT: Final = "reboot"
SERVICE_SET_LIMITS: Final = "set_limits"

ATTR_STATION_ID: Final = "station_id"
ATTR_PORT: Final = "port"
ATTR_MODE: Final = "mode"
ATTR_DURATION: Final = "duration"
ATTR_ENERGY: Final = "energy"
ATTR_ORDER_NUMBER: Final = "order_number"
ATTR_MAX_POWER: Final = "max_power"
ATTR_VALUE: Final = "value"
ATTR_MAX_DURATION: Final = "max_duration"
ATTR_OVERLOAD_POWER: Final = "overload_power"
ATTR_OVER_VOLTAGE: Final = "over_voltage"
ATTR_UNDER_VOLTAGE: Final = "under_voltage"

# 0x8A modify-charging modes (docs/protocol.md 4): the action's names for the wire values.
MODIFY_MODES: Final = {"time": 0, "time_stop_full": 1, "energy_stop_full": 2}

# Repair issue raised while the listener cannot bind its port (one per config entry).
ISSUE_CANNOT_BIND: Final = "cannot_bind"
# Repair issue suggesting fewer port entities once a server has this many stations: with every
# port entity Home Assistant falls behind beyond a few hundred (docs/performance.md), and past
# its cap of 10,000 enabled entities per config entry (about 150 10-port stations) the server
# needs station groups (station_groups.py).
ISSUE_MANY_PORT_ENTITIES: Final = "many_port_entities"
MANY_STATIONS_FOR_ALL_PORT_ENTITIES: Final = 150
# Repair issue suggesting to keep iot_zinx_event out of the recorder once a server has this
# many stations: every frame fires one, and the recorder's thread competes with the event loop
# (docs/large-sites.md).
ISSUE_RECORDED_EVENTS: Final = "recorded_events"
MANY_STATIONS_FOR_RECORDED_EVENTS: Final = 500
# Repair issue raised once a server's entry has as many enabled entities as Home Assistant adds
# to one config entry (homeassistant.helpers.entity_platform): the later stations' are missing.
ISSUE_ENTITY_CAP: Final = "entity_cap"

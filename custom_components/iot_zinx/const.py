"""Constants of the iot_zinx integration: domain, option keys and defaults, signal names."""

from __future__ import annotations

from typing import Final

DOMAIN: Final = "iot_zinx"
EVENT_IOT_ZINX: Final = "iot_zinx_event"
MANUFACTURER: Final = "AP3000"

DEFAULT_HOST: Final = "0.0.0.0"
DEFAULT_PORT: Final = 7054

# Options (entry.options). Heartbeats come every 3 min by default (PROTOCOL.md 3, 0x21); a
# station is offline after more than two missed periods (PROTOCOL.md 6).
CONF_HEARTBEAT_TIMEOUT: Final = "heartbeat_timeout"
DEFAULT_HEARTBEAT_TIMEOUT: Final = 420

CONF_CHARGE_MODE: Final = "charge_mode"
DEFAULT_CHARGE_MODE: Final = "full"
CONF_CHARGE_MINUTES: Final = "charge_minutes"
DEFAULT_CHARGE_MINUTES: Final = 240
CONF_CHARGE_ENERGY: Final = "charge_energy_kwh"
DEFAULT_CHARGE_ENERGY: Final = 1.0

# Tariff in CNY per kWh; fees in the events are fen (EVENTS.md).
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

CONF_ADMISSION: Final = "admission"
ADMISSION_ANY: Final = "any"
ADMISSION_ALLOW_LIST: Final = "allow_list"
DEFAULT_ADMISSION: Final = ADMISSION_ANY
CONF_STATION_ALLOW_LIST: Final = "station_allow_list"


def signal_new_station(entry_id: str) -> str:
    """Dispatcher signal sent once per station when it first talks; payload: device_id."""
    return f"{DOMAIN}_new_station_{entry_id}"


def signal_station_update(entry_id: str, device_id: str) -> str:
    """Dispatcher signal sent whenever anything of one station changed; no payload."""
    return f"{DOMAIN}_station_update_{entry_id}_{device_id}"

"""The options of a station server entry, read once and typed.

Every option change reloads the entry (``OptionsFlowWithReload``), so the hub and the
entities read them once at set-up instead of ``entry.options.get(X, DEFAULT_X)`` with a cast
wherever they are used. Allow lists are upper-cased here, once, not on every swipe.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .const import (
    ADMISSION_ALLOW_LIST,
    CARD_POLICY_ACCEPT_ALL,
    CARD_POLICY_ALLOW_LIST,
    CONF_ADMISSION,
    CONF_CARD_ALLOW_LIST,
    CONF_CARD_POLICY,
    CONF_CHARGE_ENERGY,
    CONF_CHARGE_MINUTES,
    CONF_CHARGE_MODE,
    CONF_ELECTRICITY_PRICE,
    CONF_HEARTBEAT_TIMEOUT,
    CONF_LARGE_SITE_TUNING,
    CONF_PORT_ENTITIES,
    CONF_SERVICE_PRICE,
    CONF_STATION_ALLOW_LIST,
    DEFAULT_CARD_POLICY,
    DEFAULT_CHARGE_ENERGY,
    DEFAULT_CHARGE_MINUTES,
    DEFAULT_CHARGE_MODE,
    DEFAULT_ELECTRICITY_PRICE,
    DEFAULT_HEARTBEAT_TIMEOUT,
    DEFAULT_LARGE_SITE_TUNING,
    DEFAULT_PORT_ENTITIES,
    DEFAULT_SERVICE_PRICE,
)
from .models import ChargeMode

if TYPE_CHECKING:
    from homeassistant.config_entries import ConfigEntry


@dataclass(frozen=True, slots=True)
class ChargeParameters:
    """How a port switch or an accepted card starts charging (the charge mode options)."""

    mode: ChargeMode
    minutes: int | None  # time mode only
    energy_kwh: float | None  # energy mode only


@dataclass(frozen=True, slots=True)
class ServerOptions:
    """The options of one station server entry."""

    heartbeat_timeout_s: float
    charge: ChargeParameters
    electricity_price: float  # CNY per kWh
    service_price: float  # CNY per kWh
    card_policy: str
    card_allow_list: frozenset[str]  # upper-case hex
    # None: every station is admitted; else the upper-case station ids that are.
    station_allow_list: frozenset[str] | None
    port_entities: str
    large_site_tuning: bool

    @classmethod
    def from_entry(cls, entry: ConfigEntry[Any]) -> ServerOptions:
        """Read the entry's options, with the defaults of the options flow."""
        options = entry.options
        mode = ChargeMode(options.get(CONF_CHARGE_MODE, DEFAULT_CHARGE_MODE))
        stations: frozenset[str] | None = None
        if options.get(CONF_ADMISSION) == ADMISSION_ALLOW_LIST:
            stations = _upper(options.get(CONF_STATION_ALLOW_LIST, []))
        return cls(
            heartbeat_timeout_s=float(
                options.get(CONF_HEARTBEAT_TIMEOUT, DEFAULT_HEARTBEAT_TIMEOUT)
            ),
            charge=ChargeParameters(
                mode=mode,
                minutes=(
                    int(options.get(CONF_CHARGE_MINUTES, DEFAULT_CHARGE_MINUTES))
                    if mode is ChargeMode.TIME
                    else None
                ),
                energy_kwh=(
                    float(options.get(CONF_CHARGE_ENERGY, DEFAULT_CHARGE_ENERGY))
                    if mode is ChargeMode.ENERGY
                    else None
                ),
            ),
            electricity_price=float(options.get(CONF_ELECTRICITY_PRICE, DEFAULT_ELECTRICITY_PRICE)),
            service_price=float(options.get(CONF_SERVICE_PRICE, DEFAULT_SERVICE_PRICE)),
            card_policy=str(options.get(CONF_CARD_POLICY, DEFAULT_CARD_POLICY)),
            card_allow_list=_upper(options.get(CONF_CARD_ALLOW_LIST, [])),
            station_allow_list=stations,
            port_entities=str(options.get(CONF_PORT_ENTITIES, DEFAULT_PORT_ENTITIES)),
            large_site_tuning=bool(options.get(CONF_LARGE_SITE_TUNING, DEFAULT_LARGE_SITE_TUNING)),
        )

    def card_accepted(self, card_hex: str) -> bool:
        """Whether the card policy accepts this card (upper-case hex)."""
        if self.card_policy == CARD_POLICY_ACCEPT_ALL:
            return True
        return self.card_policy == CARD_POLICY_ALLOW_LIST and card_hex in self.card_allow_list


def _upper(items: Any) -> frozenset[str]:
    return frozenset(str(item).upper() for item in items)

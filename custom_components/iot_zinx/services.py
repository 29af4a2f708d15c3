"""Actions of the iot_zinx integration: commands to one station, by station id or device."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from homeassistant.const import ATTR_DEVICE_ID
from homeassistant.core import (
    HomeAssistant,
    ServiceCall,
    ServiceResponse,
    SupportsResponse,
    callback,
)
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import config_validation as cv, device_registry as dr
import probatio

from .const import (
    ATTR_DURATION,
    ATTR_ENERGY,
    ATTR_MAX_DURATION,
    ATTR_MAX_POWER,
    ATTR_MODE,
    ATTR_ORDER_NUMBER,
    ATTR_OVER_VOLTAGE,
    ATTR_OVERLOAD_POWER,
    ATTR_PORT,
    ATTR_STATION_ID,
    ATTR_UNDER_VOLTAGE,
    ATTR_VALUE,
    DOMAIN,
    MAX_CHARGE_ENERGY_KWH,
    MAX_CHARGE_MINUTES,
    MAX_ORDER_NUMBER_LENGTH,
    MODIFY_MODES,
    SERVICE_MODIFY_CHARGING,
    SERVICE_QUERY_STATUS,
    SERVICE_REBOOT,
    SERVICE_SET_LIMITS,
    SERVICE_START_CHARGING,
    SERVICE_STOP_CHARGING,
)
from .entries import station_entries
from .helpers import handle_command_errors
from .models import ChargeMode
from .protocol.frame import format_physical_id, parse_physical_id

if TYPE_CHECKING:
    from .hub import ChargeOutcome, IotZinxHub

# Wire limits (docs/protocol.md 4): 0x85 voltages and 0x82/0x85 powers are u16 in 0.1 units.
_MAX_DECI_U16 = 6553.5
MODIFY_MODE_ENERGY = "energy_stop_full"
# Stations have at most 16 ports (docs/protocol.md 2: wire ports 0x00-0x0F).
_MAX_PORT = 16


def _station_id(value: Any) -> str:
    """``"04a228cd"`` or ``"0x04A228CD"`` -> ``"04A228CD"``."""
    try:
        return format_physical_id(parse_physical_id(str(value)))
    except ValueError as err:
        raise probatio.Invalid("expected 8 hexadecimal digits, e.g. 04A228CD") from err


def valid_order_number(value: Any) -> str:
    text = str(value)
    if not text.isascii() or not text.isprintable() or len(text) > MAX_ORDER_NUMBER_LENGTH:
        raise probatio.Invalid(f"at most {MAX_ORDER_NUMBER_LENGTH} printable ASCII characters")
    return text


def _number(minimum: float, maximum: float) -> probatio.All[float]:
    return probatio.All(probatio.Coerce(float), probatio.Range(min=minimum, max=maximum))


def station_schema(fields: dict[Any, Any]) -> probatio.All[dict[str, Any]]:
    """A station action's schema: ``station_id`` or ``device_id`` (one of them), then fields."""
    return probatio.All(
        probatio.Schema(
            {
                probatio.Exclusive(ATTR_STATION_ID, "station"): _station_id,
                probatio.Exclusive(ATTR_DEVICE_ID, "station"): cv.string,
                **fields,
            }
        ),
        cv.has_at_least_one_key(ATTR_STATION_ID, ATTR_DEVICE_ID),
    )


PORT = probatio.All(probatio.Coerce(int), probatio.Range(min=1, max=_MAX_PORT))

START_CHARGING_SCHEMA = station_schema(
    {
        probatio.Required(ATTR_PORT): PORT,
        probatio.Optional(ATTR_MODE, default=ChargeMode.FULL.value): probatio.In(
            [mode.value for mode in ChargeMode]
        ),
        probatio.Optional(ATTR_DURATION): probatio.All(
            probatio.Coerce(int), probatio.Range(min=1, max=MAX_CHARGE_MINUTES)
        ),
        probatio.Optional(ATTR_ENERGY): _number(0.01, MAX_CHARGE_ENERGY_KWH),
        probatio.Optional(ATTR_ORDER_NUMBER): valid_order_number,
        probatio.Optional(ATTR_MAX_POWER): _number(1, _MAX_DECI_U16),
    }
)
STOP_CHARGING_SCHEMA = station_schema({probatio.Required(ATTR_PORT): PORT})


def _modify_value_fits(data: dict[str, Any]) -> dict[str, Any]:
    """0x8A carries a u16: at most 1092 minutes of seconds, or 655.35 kWh of 0.01 kWh."""
    if data[ATTR_MODE] == MODIFY_MODE_ENERGY and data[ATTR_VALUE] > MAX_CHARGE_ENERGY_KWH:
        raise probatio.Invalid(f"at most {MAX_CHARGE_ENERGY_KWH} kWh", path=[ATTR_VALUE])
    return data


MODIFY_CHARGING_SCHEMA = probatio.All(
    station_schema(
        {
            probatio.Required(ATTR_PORT): PORT,
            probatio.Required(ATTR_MODE): probatio.In(list(MODIFY_MODES)),
            # Minutes (time modes) or kWh (energy mode).
            probatio.Required(ATTR_VALUE): _number(0.01, MAX_CHARGE_MINUTES),
        }
    ),
    _modify_value_fits,
)
STATION_SCHEMA = station_schema({})
SET_LIMITS_SCHEMA = station_schema(
    {
        probatio.Required(ATTR_MAX_DURATION): probatio.All(
            probatio.Coerce(int), probatio.Range(min=1, max=MAX_CHARGE_MINUTES)
        ),
        probatio.Required(ATTR_OVERLOAD_POWER): _number(1, _MAX_DECI_U16),
        probatio.Required(ATTR_OVER_VOLTAGE): _number(1, _MAX_DECI_U16),
        probatio.Required(ATTR_UNDER_VOLTAGE): _number(1, _MAX_DECI_U16),
    }
)


def resolve_station(hass: HomeAssistant, call: ServiceCall) -> tuple[IotZinxHub, str]:
    """The hub serving the station the call names, and the station's id."""
    wanted: str = call.data.get(ATTR_STATION_ID, "")
    if device_ref := call.data.get(ATTR_DEVICE_ID):
        wanted = device_ref
        if (device := dr.async_get(hass).async_get(device_ref)) is not None:
            wanted = next(
                (ident for domain, ident in device.identifiers if domain == DOMAIN), device_ref
            )
    for entry in station_entries(hass, loaded=True):
        hub: IotZinxHub = entry.runtime_data
        if wanted in hub.stations:
            return hub, wanted
    raise ServiceValidationError(
        translation_domain=DOMAIN,
        translation_key="unknown_station",
        translation_placeholders={"station": wanted},
    )


def check_port(hub: IotZinxHub, station_id: str, port: int) -> None:
    """Refuse a port beyond the station's port count, once the station told it."""
    port_count = hub.stations[station_id].port_count
    if port_count and port > port_count:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="invalid_port",
            translation_placeholders={
                "device_id": station_id,
                "port": str(port),
                "port_count": str(port_count),
            },
        )


def _outcome_response(outcome: ChargeOutcome) -> ServiceResponse:
    return {
        "order_number": outcome.order_number,
        "response_code": outcome.response_code,
        "status_desc": outcome.status_desc,
    }


@handle_command_errors
async def _async_start_charging(call: ServiceCall) -> ServiceResponse:
    hub, station_id = resolve_station(call.hass, call)
    port: int = call.data[ATTR_PORT]
    check_port(hub, station_id, port)
    mode = ChargeMode(call.data[ATTR_MODE])
    minutes: int | None = call.data.get(ATTR_DURATION)
    energy_kwh: float | None = call.data.get(ATTR_ENERGY)
    if mode is ChargeMode.TIME and minutes is None:
        raise ServiceValidationError(translation_domain=DOMAIN, translation_key="missing_duration")
    if mode is ChargeMode.ENERGY and energy_kwh is None:
        raise ServiceValidationError(translation_domain=DOMAIN, translation_key="missing_energy")
    outcome = await hub.orders.async_start_charging(
        station_id,
        port,
        mode=mode,
        minutes=minutes if mode is ChargeMode.TIME else None,
        energy_kwh=energy_kwh if mode is ChargeMode.ENERGY else None,
        order_number=call.data.get(ATTR_ORDER_NUMBER),
        max_power_w=call.data.get(ATTR_MAX_POWER),
    )
    return _outcome_response(outcome)


@handle_command_errors
async def _async_stop_charging(call: ServiceCall) -> ServiceResponse:
    hub, station_id = resolve_station(call.hass, call)
    port: int = call.data[ATTR_PORT]
    check_port(hub, station_id, port)
    return _outcome_response(await hub.orders.async_stop_charging(station_id, port))


@handle_command_errors
async def _async_modify_charging(call: ServiceCall) -> None:
    hub, station_id = resolve_station(call.hass, call)
    port: int = call.data[ATTR_PORT]
    check_port(hub, station_id, port)
    mode = MODIFY_MODES[call.data[ATTR_MODE]]
    value: float = call.data[ATTR_VALUE]
    # docs/protocol.md 4, 0x8A: value in seconds for the time modes, 0.01 kWh for energy.
    if call.data[ATTR_MODE] == MODIFY_MODE_ENERGY:
        wire_value = round(value * 100)
    else:
        wire_value = round(value * 60)
    await hub.orders.async_modify_charging(station_id, port, mode=mode, value=wire_value)


@handle_command_errors
async def _async_query_status(call: ServiceCall) -> None:
    hub, station_id = resolve_station(call.hass, call)
    await hub.orders.async_query_status(station_id)


@handle_command_errors
async def _async_reboot(call: ServiceCall) -> None:
    hub, station_id = resolve_station(call.hass, call)
    await hub.orders.async_reboot(station_id)


@handle_command_errors
async def _async_set_limits(call: ServiceCall) -> None:
    hub, station_id = resolve_station(call.hass, call)
    await hub.orders.async_set_limits(
        station_id,
        max_duration_s=call.data[ATTR_MAX_DURATION] * 60,
        overload_power_w=call.data[ATTR_OVERLOAD_POWER],
        over_voltage_v=call.data[ATTR_OVER_VOLTAGE],
        under_voltage_v=call.data[ATTR_UNDER_VOLTAGE],
    )


# An action: its name, handler, schema and whether it answers.
type ActionSpec = tuple[
    str,
    Callable[[ServiceCall], Coroutine[Any, Any, ServiceResponse]],
    probatio.All[dict[str, Any]],
    SupportsResponse,
]

_SERVICES: tuple[ActionSpec, ...] = (
    (
        SERVICE_START_CHARGING,
        _async_start_charging,
        START_CHARGING_SCHEMA,
        SupportsResponse.OPTIONAL,
    ),
    (SERVICE_STOP_CHARGING, _async_stop_charging, STOP_CHARGING_SCHEMA, SupportsResponse.OPTIONAL),
    (
        SERVICE_MODIFY_CHARGING,
        _async_modify_charging,
        MODIFY_CHARGING_SCHEMA,
        SupportsResponse.NONE,
    ),
    (SERVICE_QUERY_STATUS, _async_query_status, STATION_SCHEMA, SupportsResponse.NONE),
    (SERVICE_REBOOT, _async_reboot, STATION_SCHEMA, SupportsResponse.NONE),
    (SERVICE_SET_LIMITS, _async_set_limits, SET_LIMITS_SCHEMA, SupportsResponse.NONE),
)


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    """Register the actions (once, from ``async_setup``)."""
    for name, handler, schema, supports_response in _SERVICES:
        hass.services.async_register(
            DOMAIN, name, handler, schema=schema, supports_response=supports_response
        )

"""The actions for a station's settings and its commands beyond charging.

Schemas only coerce types; ranges, text sizes and keys are checked in the handlers, so that a
bad value gets a translated error naming the field (and a card key is never echoed back).
Nothing is sent until every value passed.
"""

from __future__ import annotations

import ipaddress
import re
from typing import TYPE_CHECKING, Final

from homeassistant.core import (
    HomeAssistant,
    ServiceCall,
    ServiceResponse,
    SupportsResponse,
    callback,
)
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import config_validation as cv
import probatio

from .const import ATTR_MODE, ATTR_ORDER_NUMBER, ATTR_PORT, DOMAIN
from .helpers import handle_command_errors
from .protocol.messages import CARD_KEY_SIZE
from .services import (
    PORT,
    STATION_SCHEMA,
    ActionSpec,
    resolve_station,
    station_schema,
    valid_order_number,
)
from .station_commands import IDENTIFY_SECONDS, CardBillingMode, ServerModule, WorkMode
from .station_settings import SETTING_FIELDS, SettingOutOfRangeError, check_ranges

if TYPE_CHECKING:
    from .hub import IotZinxHub

ATTR_SECONDS: Final = "seconds"
ATTR_TEXT: Final = "text"
ATTR_MAIN_SCREEN: Final = "main_screen"
ATTR_MUTE: Final = "mute"
ATTR_SECTOR: Final = "sector"
ATTR_USER_KEY: Final = "user_key"
ATTR_NEW_CARD_KEY: Final = "new_card_key"
ATTR_CONFIRM: Final = "confirm"
ATTR_HOST: Final = "host"
ATTR_SERVER_PORT: Final = "server_port"
ATTR_MODULE: Final = "module"
ATTR_SOCKET_B: Final = "socket_b"

# Text sizes (docs/protocol.md 4): 0x8E keeps its 72nd byte 0, 0x95 holds 200, 0x34's
# address 45 plus its NUL.
_QR_CODE_BYTES: Final = 71
_TEMPORARY_QR_BYTES: Final = 200
_SERVER_ADDRESS_BYTES: Final = 45
_MAX_LOCATE_SECONDS: Final = 255  # u8
_M1_SECTORS: Final = 16  # an M1 (MIFARE Classic 1K) card has sectors 0-15
_HOST_NAME: Final = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*$")
_MAIN_SCREENS: Final = {"port_states": False, "qr_code": True}
_WORK_MODES: Final = {mode.name.lower(): mode for mode in WorkMode}
_BILLING_MODES: Final = {mode.name.lower(): mode for mode in CardBillingMode}
_MODULES: Final = {"wifi": ServerModule.WIFI, "2g": ServerModule.GSM, "4g": ServerModule.LTE}

SET_SETTINGS_SCHEMA = station_schema(
    {probatio.Optional(field.name): probatio.Coerce(float) for field in SETTING_FIELDS}
)
LOCATE_SCHEMA = station_schema(
    {probatio.Optional(ATTR_SECONDS, default=IDENTIFY_SECONDS): probatio.Coerce(int)}
)
WORK_MODE_SCHEMA = station_schema({probatio.Required(ATTR_MODE): probatio.In(list(_WORK_MODES))})
QR_CODE_SCHEMA = station_schema(
    {
        probatio.Required(ATTR_TEXT): cv.string,
        probatio.Optional(ATTR_MAIN_SCREEN, default="port_states"): probatio.In(
            list(_MAIN_SCREENS)
        ),
    }
)
TEMPORARY_QR_SCHEMA = station_schema({probatio.Required(ATTR_TEXT): cv.string})
MUTE_SCHEMA = station_schema({probatio.Required(ATTR_MUTE): cv.boolean})
BILLING_MODE_SCHEMA = station_schema(
    {probatio.Required(ATTR_MODE): probatio.In(list(_BILLING_MODES))}
)
CARD_KEYS_SCHEMA = station_schema(
    {
        probatio.Required(ATTR_SECTOR): probatio.Coerce(int),
        probatio.Required(ATTR_USER_KEY): cv.string,
        probatio.Required(ATTR_NEW_CARD_KEY): cv.string,
    }
)
CLEAR_MEMORY_SCHEMA = station_schema({probatio.Optional(ATTR_CONFIRM, default=False): cv.boolean})
LOCKER_RELEASE_SCHEMA = station_schema(
    {probatio.Required(ATTR_PORT): PORT, probatio.Optional(ATTR_ORDER_NUMBER): valid_order_number}
)
LOCKER_DOOR_SCHEMA = station_schema({probatio.Required(ATTR_PORT): PORT})
SERVER_ADDRESS_SCHEMA = station_schema(
    {
        probatio.Required(ATTR_HOST): cv.string,
        probatio.Required(ATTR_SERVER_PORT): probatio.Coerce(int),
        probatio.Required(ATTR_MODULE): probatio.In(list(_MODULES)),
        probatio.Optional(ATTR_SOCKET_B, default=True): cv.boolean,
    }
)


def _invalid(key: str, **placeholders: str) -> ServiceValidationError:
    return ServiceValidationError(
        translation_domain=DOMAIN, translation_key=key, translation_placeholders=placeholders
    )


def _out_of_range(field: str, minimum: float, maximum: float) -> ServiceValidationError:
    return _invalid("value_out_of_range", field=field, min=f"{minimum:g}", max=f"{maximum:g}")


def _text(call: ServiceCall, size: int) -> str:
    """The call's text, if it fits ``size`` single-byte (Latin-1) characters."""
    text: str = call.data[ATTR_TEXT]
    try:
        fits = len(text.encode("latin-1")) <= size
    except UnicodeEncodeError:
        fits = False
    if not fits:
        raise _invalid("invalid_text", field=ATTR_TEXT, limit=str(size))
    return text


def _card_key(call: ServiceCall, field: str) -> bytes:
    """Six bytes from 12 hex digits; the error names the field only, never the key."""
    text = call.data[field].replace(" ", "")
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) != CARD_KEY_SIZE:
        raise _invalid("invalid_card_key", field=field)
    return key


def _station(call: ServiceCall, *, host: bool) -> tuple[IotZinxHub, str]:
    """The station named, if of the kind the action is for (refused before anything else)."""
    hub, station_id = resolve_station(call.hass, call)
    hub.commands.check_kind(station_id, host=host)
    return hub, station_id


@handle_command_errors
async def _async_get_settings(call: ServiceCall) -> ServiceResponse:
    hub, station_id = _station(call, host=False)
    return dict(await hub.settings.async_read(station_id))


@handle_command_errors
async def _async_set_settings(call: ServiceCall) -> ServiceResponse:
    given = {
        field.name: call.data[field.name] for field in SETTING_FIELDS if field.name in call.data
    }
    if not given:
        raise _invalid("no_settings")
    try:
        changes = check_ranges(given)
    except SettingOutOfRangeError as err:
        raise _out_of_range(err.field.name, err.field.minimum, err.field.maximum) from err
    hub, station_id = _station(call, host=False)
    return dict(await hub.settings.async_write(station_id, changes))


@handle_command_errors
async def _async_locate(call: ServiceCall) -> None:
    seconds: int = call.data[ATTR_SECONDS]
    if not 1 <= seconds <= _MAX_LOCATE_SECONDS:
        raise _out_of_range(ATTR_SECONDS, 1, _MAX_LOCATE_SECONDS)
    hub, station_id = _station(call, host=False)
    await hub.commands.async_locate(station_id, seconds)


@handle_command_errors
async def _async_set_work_mode(call: ServiceCall) -> None:
    hub, station_id = _station(call, host=False)
    await hub.commands.async_set_work_mode(station_id, _WORK_MODES[call.data[ATTR_MODE]])


@handle_command_errors
async def _async_set_qr_code(call: ServiceCall) -> None:
    text = _text(call, _QR_CODE_BYTES)
    hub, station_id = _station(call, host=False)
    show_qr = _MAIN_SCREENS[call.data[ATTR_MAIN_SCREEN]]
    await hub.commands.async_set_qr_code(station_id, text, show_qr=show_qr)


@handle_command_errors
async def _async_show_temporary_qr_code(call: ServiceCall) -> None:
    text = _text(call, _TEMPORARY_QR_BYTES)
    hub, station_id = _station(call, host=False)
    await hub.commands.async_show_temporary_qr_code(station_id, text)


@handle_command_errors
async def _async_set_mute(call: ServiceCall) -> None:
    hub, station_id = _station(call, host=False)
    await hub.commands.async_set_mute(station_id, call.data[ATTR_MUTE])


@handle_command_errors
async def _async_set_card_billing_mode(call: ServiceCall) -> None:
    hub, station_id = _station(call, host=False)
    await hub.commands.async_set_card_billing_mode(station_id, _BILLING_MODES[call.data[ATTR_MODE]])


@handle_command_errors
async def _async_set_card_keys(call: ServiceCall) -> None:
    sector: int = call.data[ATTR_SECTOR]
    if not 0 <= sector < _M1_SECTORS:
        raise _out_of_range(ATTR_SECTOR, 0, _M1_SECTORS - 1)
    user_key = _card_key(call, ATTR_USER_KEY)
    new_card_key = _card_key(call, ATTR_NEW_CARD_KEY)
    hub, station_id = _station(call, host=False)
    await hub.commands.async_set_card_keys(
        station_id, sector=sector, user_key=user_key, new_card_key=new_card_key
    )


@handle_command_errors
async def _async_clear_memory(call: ServiceCall) -> None:
    if call.data[ATTR_CONFIRM] is not True:
        raise _invalid("confirmation_required")
    hub, station_id = _station(call, host=False)
    await hub.commands.async_clear_memory(station_id)


@handle_command_errors
async def _async_locker_release(call: ServiceCall) -> None:
    hub, station_id = _station(call, host=False)
    await hub.commands.async_locker_release(
        station_id, call.data[ATTR_PORT], call.data.get(ATTR_ORDER_NUMBER)
    )


@handle_command_errors
async def _async_locker_open_door(call: ServiceCall) -> None:
    hub, station_id = _station(call, host=False)
    await hub.commands.async_locker_open_door(station_id, call.data[ATTR_PORT])


def _server_host(text: str) -> str:
    """A host name or IP address the 0x34 address field holds."""
    host = text.strip()
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if not _HOST_NAME.match(host):
            raise _invalid("invalid_server_address", field=ATTR_HOST) from None
    if len(host) > _SERVER_ADDRESS_BYTES:
        raise _invalid("invalid_server_address", field=ATTR_HOST)
    return host


@handle_command_errors
async def _async_change_server_address(call: ServiceCall) -> None:
    host = _server_host(call.data[ATTR_HOST])
    port: int = call.data[ATTR_SERVER_PORT]
    if not 1 <= port <= 0xFFFF:
        raise _out_of_range(ATTR_SERVER_PORT, 1, 0xFFFF)
    hub, station_id = _station(call, host=True)
    await hub.commands.async_change_server_address(
        station_id,
        host=host,
        port=port,
        module=_MODULES[call.data[ATTR_MODULE]],
        socket_b=call.data[ATTR_SOCKET_B],
    )


@handle_command_errors
async def _async_reboot_module(call: ServiceCall) -> None:
    hub, station_id = _station(call, host=True)
    await hub.commands.async_reboot_module(station_id)


@handle_command_errors
async def _async_clear_sub_upgrade(call: ServiceCall) -> None:
    hub, station_id = _station(call, host=True)
    await hub.commands.async_clear_sub_upgrade(station_id)


_NONE: Final = SupportsResponse.NONE
STATION_ACTIONS: Final[tuple[ActionSpec, ...]] = (
    ("get_settings", _async_get_settings, STATION_SCHEMA, SupportsResponse.OPTIONAL),
    ("set_settings", _async_set_settings, SET_SETTINGS_SCHEMA, SupportsResponse.OPTIONAL),
    ("locate", _async_locate, LOCATE_SCHEMA, _NONE),
    ("set_work_mode", _async_set_work_mode, WORK_MODE_SCHEMA, _NONE),
    ("set_qr_code", _async_set_qr_code, QR_CODE_SCHEMA, _NONE),
    ("show_temporary_qr_code", _async_show_temporary_qr_code, TEMPORARY_QR_SCHEMA, _NONE),
    ("set_mute", _async_set_mute, MUTE_SCHEMA, _NONE),
    ("set_card_billing_mode", _async_set_card_billing_mode, BILLING_MODE_SCHEMA, _NONE),
    ("set_card_keys", _async_set_card_keys, CARD_KEYS_SCHEMA, _NONE),
    ("clear_memory", _async_clear_memory, CLEAR_MEMORY_SCHEMA, _NONE),
    ("locker_release", _async_locker_release, LOCKER_RELEASE_SCHEMA, _NONE),
    ("locker_open_door", _async_locker_open_door, LOCKER_DOOR_SCHEMA, _NONE),
    ("change_server_address", _async_change_server_address, SERVER_ADDRESS_SCHEMA, _NONE),
    ("reboot_module", _async_reboot_module, STATION_SCHEMA, _NONE),
    ("clear_sub_upgrade", _async_clear_sub_upgrade, STATION_SCHEMA, _NONE),
)


@callback
def async_setup_station_actions(hass: HomeAssistant) -> None:
    """Register the settings and command actions (once, from ``async_setup``)."""
    for name, handler, schema, supports_response in STATION_ACTIONS:
        hass.services.async_register(
            DOMAIN, name, handler, schema=schema, supports_response=supports_response
        )

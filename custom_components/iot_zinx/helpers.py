"""Helpers of the iot_zinx integration: the one place protocol errors become HA errors."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from functools import wraps
from typing import Any

from homeassistant.exceptions import HomeAssistantError, ServiceValidationError

from .const import DOMAIN
from .hub import NoActiveOrderError
from .protocol.errors import (
    CommandError,
    CommandTimeoutError,
    StationOfflineError,
    StationRefusedError,
)
from .station_commands import WrongStationKindError
from .station_settings import (
    SettingsNotConfirmedError,
    SettingsRefusedError,
    SettingUnsupportedError,
)


def handle_command_errors[**P, R](
    func: Callable[P, Awaitable[R]],
) -> Callable[P, Coroutine[Any, Any, R]]:
    """Turn a command's ``CommandError`` into a translated ``HomeAssistantError``.

    Wraps entity methods (switch, button) and action handlers alike, so the user reads the
    same message whichever way the command was sent.
    """

    @wraps(func)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await func(*args, **kwargs)
        except StationOfflineError as err:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="station_offline",
                translation_placeholders={"device_id": err.device_id},
            ) from err
        except CommandTimeoutError as err:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="command_timeout",
                translation_placeholders={
                    "device_id": err.device_id,
                    "command": f"0x{err.command:02X}",
                },
            ) from err
        except SettingsRefusedError as err:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="settings_refused",
                translation_placeholders={
                    "device_id": err.device_id,
                    "command": f"0x{err.command:02X}",
                    "code": str(err.code),
                },
            ) from err
        except StationRefusedError as err:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="station_refused",
                translation_placeholders={
                    "device_id": err.device_id,
                    "code": str(err.code),
                    "description": err.description,
                },
            ) from err
        except NoActiveOrderError as err:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="no_active_order",
                translation_placeholders={"device_id": err.station_id, "port": str(err.port)},
            ) from err
        except SettingUnsupportedError as err:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="setting_unsupported",
                translation_placeholders={
                    "device_id": err.device_id,
                    "fields": ", ".join(err.names),
                },
            ) from err
        except SettingsNotConfirmedError as err:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="settings_not_confirmed",
                translation_placeholders={
                    "device_id": err.device_id,
                    "fields": ", ".join(err.names),
                },
            ) from err
        except WrongStationKindError as err:
            if err.needs_host:
                raise ServiceValidationError(
                    translation_domain=DOMAIN,
                    translation_key="host_only",
                    translation_placeholders={"device_id": err.device_id},
                ) from err
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="not_for_host",
                translation_placeholders={"device_id": err.device_id},
            ) from err
        except CommandError as err:
            # Any other refusal the protocol package may add (a busy station, ...): still
            # translated, with the library's own English text as detail.
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="command_failed",
                translation_placeholders={
                    "device_id": str(getattr(err, "device_id", "?")),
                    "error": str(err),
                },
            ) from err

    return wrapper

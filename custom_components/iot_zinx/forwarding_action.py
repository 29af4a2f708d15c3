"""The action `iot_zinx.forward_event`: its schema, the envelope check and the handler."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from homeassistant.config_entries import SOURCE_SYSTEM
from homeassistant.core import HomeAssistant, ServiceCall, callback
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import config_validation as cv
from homeassistant.util.hass_dict import HassKey
import probatio

from .const import CONF_FORWARD_RETENTION_DAYS, CONF_KIND, DOMAIN, KIND_FORWARDING
from .entries import forwarding_entry
from .outbox_records import Endpoint

if TYPE_CHECKING:
    from .forwarding import ForwardingManager

DATA_FORWARDING: HassKey[ForwardingManager] = HassKey(f"{DOMAIN}_forwarding")
# The flow creating forwarding's config entry, while it runs.
_DATA_ENTRY_FLOW: HassKey[asyncio.Task[Any]] = HassKey(f"{DOMAIN}_forwarding_entry_flow")

SERVICE_FORWARD_EVENT: Final = "forward_event"
ATTR_URL: Final = "url"
ATTR_EVENT: Final = "event"
ATTR_TOKEN: Final = "token"
ATTR_API_KEY: Final = "api_key"
ATTR_SECRET: Final = "secret"

_REQUIRED_FIELDS: Final = ("event_id", "event_type", "device_id")

FORWARD_EVENT_SCHEMA: Final = probatio.Schema(
    {
        probatio.Required(ATTR_URL): cv.url,
        # Checked by the handler, to refuse with a translated message.
        probatio.Required(ATTR_EVENT): object,
        probatio.Optional(ATTR_TOKEN): probatio.Any(None, cv.string),
        probatio.Optional(ATTR_API_KEY): probatio.Any(None, cv.string),
        probatio.Optional(ATTR_SECRET): probatio.Any(None, cv.string),
    }
)


def _invalid_event(problem: str) -> ServiceValidationError:
    return ServiceValidationError(
        translation_domain=DOMAIN,
        translation_key="invalid_event",
        translation_placeholders={"problem": problem},
    )


def _check_event(event: object) -> dict[str, Any]:
    """The event as a plain dict, or ServiceValidationError when it is no envelope."""
    if not isinstance(event, Mapping):
        raise _invalid_event(f"expected a mapping, got {type(event).__name__}")
    for name in _REQUIRED_FIELDS:
        value = event.get(name)
        if not isinstance(value, str) or not value:
            raise _invalid_event(f"{name} is missing or not a text")
        # These go into HTTP headers, where a line break would be a header injection.
        if any(ord(char) < 32 or ord(char) == 127 for char in value):
            raise _invalid_event(f"{name} contains control characters")
    return dict(event)


async def _async_handle_forward_event(call: ServiceCall) -> None:
    manager = call.hass.data[DATA_FORWARDING]
    endpoint = Endpoint(
        call.data[ATTR_URL],
        call.data.get(ATTR_TOKEN) or None,
        call.data.get(ATTR_API_KEY) or None,
        call.data.get(ATTR_SECRET) or None,
    )
    await manager.async_forward(endpoint, call.data[ATTR_EVENT])
    async_ensure_forwarding_entry(call.hass)


@callback
def async_ensure_forwarding_entry(
    hass: HomeAssistant, retention_days: int | None = None, *, migrating: bool = False
) -> None:
    """Create forwarding's own config entry unless it exists (in the background).

    Only once the integration is set up (or from its set-up, `migrating`): a bare manager
    (the forwarding tests, the benchmark) has no entry to create.
    """
    if not migrating and DOMAIN not in hass.config.components:
        return
    if forwarding_entry(hass) is not None:
        return
    if (task := hass.data.get(_DATA_ENTRY_FLOW)) is not None and not task.done():
        return
    data: dict[str, Any] = {CONF_KIND: KIND_FORWARDING}
    if retention_days is not None:
        data[CONF_FORWARD_RETENTION_DAYS] = retention_days
    hass.data[_DATA_ENTRY_FLOW] = hass.async_create_task(
        hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_SYSTEM}, data=data),
        f"{DOMAIN} forwarding entry",
    )

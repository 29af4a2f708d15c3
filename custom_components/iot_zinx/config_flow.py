"""Config flow of the iot_zinx integration: the listener address, options and reconfigure.

There is nothing to discover or log in to: the integration *is* the server the stations
connect to, so the only thing a flow can check is that the TCP port can be bound.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any, Literal

from homeassistant.config_entries import (
    ConfigEntry,
    ConfigFlow,
    ConfigFlowResult,
    OptionsFlowWithReload,
)
from homeassistant.const import CONF_HOST, CONF_PORT
from homeassistant.core import callback
from homeassistant.helpers.selector import (
    BooleanSelector,
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
    TextSelector,
    TextSelectorConfig,
)
import probatio

from .const import (
    ADMISSIONS,
    CARD_POLICIES,
    CHARGE_MODES,
    CONF_ADMISSION,
    CONF_CARD_ALLOW_LIST,
    CONF_CARD_POLICY,
    CONF_CHARGE_ENERGY,
    CONF_CHARGE_MINUTES,
    CONF_CHARGE_MODE,
    CONF_ELECTRICITY_PRICE,
    CONF_FORWARD_RETENTION_DAYS,
    CONF_GROUP,
    CONF_HEARTBEAT_TIMEOUT,
    CONF_KIND,
    CONF_LARGE_SITE_TUNING,
    CONF_PORT_ENTITIES,
    CONF_SERVER,
    CONF_SERVICE_PRICE,
    CONF_STATION_ALLOW_LIST,
    DEFAULT_ADMISSION,
    DEFAULT_CARD_POLICY,
    DEFAULT_CHARGE_ENERGY,
    DEFAULT_CHARGE_MINUTES,
    DEFAULT_CHARGE_MODE,
    DEFAULT_ELECTRICITY_PRICE,
    DEFAULT_FORWARD_RETENTION_DAYS,
    DEFAULT_HEARTBEAT_TIMEOUT,
    DEFAULT_HOST,
    DEFAULT_LARGE_SITE_TUNING,
    DEFAULT_PORT,
    DEFAULT_PORT_ENTITIES,
    DEFAULT_SERVICE_PRICE,
    DOMAIN,
    FORWARDING_TITLE,
    FORWARDING_UNIQUE_ID,
    KIND_FORWARDING,
    KIND_STATION_GROUP,
    LOGGER,
    MAX_CHARGE_ENERGY_KWH,
    MAX_CHARGE_MINUTES,
    MAX_FORWARD_RETENTION_DAYS,
    MAX_HEARTBEAT_TIMEOUT,
    MIN_HEARTBEAT_TIMEOUT,
    PORT_ENTITY_LEVELS,
    STATION_GROUP_TITLE,
)
from .entries import is_forwarding_entry, is_station_group_entry

# Card ids and station ids are both shown as 8 hex digits (docs/protocol.md 2 and 3, 0x02).
_HEX_ID = re.compile(r"^(?:0[xX])?([0-9A-Fa-f]{8})$")

_PORT_SELECTOR = probatio.All(
    NumberSelector(NumberSelectorConfig(min=1, max=65535, mode=NumberSelectorMode.BOX)),
    probatio.Coerce(int),
)


def _listener_schema(host: str, port: int) -> probatio.Schema:
    return probatio.Schema(
        {
            probatio.Required(CONF_HOST, default=host): TextSelector(
                TextSelectorConfig(autocomplete="off")
            ),
            probatio.Required(CONF_PORT, default=port): _PORT_SELECTOR,
        }
    )


async def async_can_bind(host: str, port: int) -> bool:
    """Whether a TCP listener can be opened on ``host``:``port`` right now.

    Opened the way the station server opens its own (``create_server`` with SO_REUSEADDR), so
    a port in TIME_WAIT passes and a port someone listens on fails.
    """
    loop = asyncio.get_running_loop()
    try:
        server = await loop.create_server(asyncio.Protocol, host=host, port=port)
    except OSError as err:
        LOGGER.debug("Cannot bind %s:%s: %s", host, port, err)
        return False
    server.close()
    await server.wait_closed()
    return True


def normalize_hex_ids(values: list[str]) -> list[str] | None:
    """Upper-case 8-hex-digit ids without duplicates, or ``None`` if one is malformed."""
    ids: list[str] = []
    for value in values:
        if not (text := value.strip()):
            continue
        if (match := _HEX_ID.match(text)) is None:
            return None
        if (normalized := match.group(1).upper()) not in ids:
            ids.append(normalized)
    return ids


class IotZinxConfigFlow(ConfigFlow, domain=DOMAIN):
    """Set up one station server (one TCP port) per config entry."""

    VERSION = 1

    @staticmethod
    @callback
    def async_get_options_flow(
        config_entry: ConfigEntry,
    ) -> IotZinxOptionsFlow | ForwardingOptionsFlow:
        """Return the options flow: a station server's, or webhook forwarding's."""
        if is_forwarding_entry(config_entry):
            return ForwardingOptionsFlow()
        return IotZinxOptionsFlow()

    @classmethod
    @callback
    def async_supports_options_flow(cls, config_entry: ConfigEntry) -> bool:
        """A station group has nothing to set: its server's options apply."""
        return not is_station_group_entry(config_entry)

    async def async_step_system(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Create webhook forwarding's own entry (on first use, or when upgrading), or a
        station server's station group (station_groups.py).

        The retention found on the station entries of an older version comes in `user_input`.
        """
        if user_input is not None and user_input.get(CONF_KIND) == KIND_STATION_GROUP:
            return await self._async_create_station_group(user_input)
        await self.async_set_unique_id(FORWARDING_UNIQUE_ID)
        self._abort_if_unique_id_configured()
        data = user_input or {}
        return self.async_create_entry(
            title=FORWARDING_TITLE,
            data={CONF_KIND: KIND_FORWARDING},
            options={
                CONF_FORWARD_RETENTION_DAYS: int(
                    data.get(CONF_FORWARD_RETENTION_DAYS, DEFAULT_FORWARD_RETENTION_DAYS)
                )
            },
        )

    async def _async_create_station_group(self, data: dict[str, Any]) -> ConfigFlowResult:
        """The entry of a server's station group ``data[CONF_GROUP]``, named after the server."""
        server_id, number = str(data[CONF_SERVER]), int(data[CONF_GROUP])
        await self.async_set_unique_id(f"{server_id}_{KIND_STATION_GROUP}_{number}")
        self._abort_if_unique_id_configured()
        if (server := self.hass.config_entries.async_get_entry(server_id)) is None:
            return self.async_abort(reason="station_group_without_server")
        return self.async_create_entry(
            title=f"{server.title} · {STATION_GROUP_TITLE} {number}",
            data={CONF_KIND: KIND_STATION_GROUP, CONF_SERVER: server_id, CONF_GROUP: number},
        )

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Ask where to listen for stations."""
        errors: dict[str, str] = {}
        host, port = DEFAULT_HOST, DEFAULT_PORT
        if user_input is not None:
            host, port = user_input[CONF_HOST].strip(), user_input[CONF_PORT]
            # One entry per port: two servers cannot share it, whatever the host.
            await self.async_set_unique_id(str(port))
            self._abort_if_unique_id_configured()
            if await async_can_bind(host, port):
                return self.async_create_entry(
                    title=f"AP3000 server {host}:{port}",
                    data={CONF_HOST: host, CONF_PORT: port},
                )
            errors[CONF_PORT] = "cannot_bind"
        return self.async_show_form(
            step_id="user", data_schema=_listener_schema(host, port), errors=errors
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Move the station server to another address or port."""
        entry = self._get_reconfigure_entry()
        if is_forwarding_entry(entry):
            return self.async_abort(reason="forwarding_not_reconfigurable")
        if is_station_group_entry(entry):
            return self.async_abort(reason="station_group_not_reconfigurable")
        errors: dict[str, str] = {}
        host, port = entry.data[CONF_HOST], entry.data[CONF_PORT]
        if user_input is not None:
            host, port = user_input[CONF_HOST].strip(), user_input[CONF_PORT]
            if any(
                other.unique_id == str(port) and other.entry_id != entry.entry_id
                for other in self._async_current_entries(include_ignore=False)
            ):
                return self.async_abort(reason="already_configured")
            # Our own running server holds the current port, so a bind test would always
            # fail there; the reload reports a real problem through the repair issue.
            if port == entry.data[CONF_PORT] or await async_can_bind(host, port):
                return self.async_update_reload_and_abort(
                    entry,
                    unique_id=str(port),
                    title=f"AP3000 server {host}:{port}",
                    data_updates={CONF_HOST: host, CONF_PORT: port},
                )
            errors[CONF_PORT] = "cannot_bind"
        return self.async_show_form(
            step_id="reconfigure", data_schema=_listener_schema(host, port), errors=errors
        )


class IotZinxOptionsFlow(OptionsFlowWithReload):
    """Tune timeouts, the switch's charge mode, the tariff, cards and admission.

    ``OptionsFlowWithReload`` instead of an update listener: a listener would also fire on
    the reconfigure flow's data update, which reloads by itself, and reload twice.
    """

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Show and validate every option on one page."""
        errors: dict[str, str] = {}
        values: dict[str, Any] = {**_DEFAULT_OPTIONS, **self.config_entry.options}
        if user_input is not None:
            values = {**values, **user_input}
            cards = normalize_hex_ids(user_input.get(CONF_CARD_ALLOW_LIST, []))
            stations = normalize_hex_ids(user_input.get(CONF_STATION_ALLOW_LIST, []))
            if cards is None:
                errors[CONF_CARD_ALLOW_LIST] = "invalid_card_id"
            if stations is None:
                errors[CONF_STATION_ALLOW_LIST] = "invalid_station_id"
            if cards is not None and stations is not None:
                return self.async_create_entry(
                    data={
                        **user_input,
                        CONF_HEARTBEAT_TIMEOUT: int(user_input[CONF_HEARTBEAT_TIMEOUT]),
                        CONF_CHARGE_MINUTES: int(user_input[CONF_CHARGE_MINUTES]),
                        CONF_CARD_ALLOW_LIST: cards,
                        CONF_STATION_ALLOW_LIST: stations,
                    }
                )
        return self.async_show_form(
            step_id="init", data_schema=_options_schema(values), errors=errors
        )


class ForwardingOptionsFlow(OptionsFlowWithReload):
    """Webhook forwarding's options: how long an undelivered event is retried."""

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Show the forwarding step (its own translations, apart from a server's)."""
        return await self.async_step_forwarding()

    async def async_step_forwarding(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for the retention in days."""
        if user_input is not None:
            days = int(user_input[CONF_FORWARD_RETENTION_DAYS])
            return self.async_create_entry(data={CONF_FORWARD_RETENTION_DAYS: days})
        current = self.config_entry.options.get(
            CONF_FORWARD_RETENTION_DAYS, DEFAULT_FORWARD_RETENTION_DAYS
        )
        schema = probatio.Schema(
            {
                probatio.Required(CONF_FORWARD_RETENTION_DAYS, default=current): _number(
                    1, MAX_FORWARD_RETENTION_DAYS, 1, "d"
                )
            }
        )
        return self.async_show_form(step_id="forwarding", data_schema=schema)


_DEFAULT_OPTIONS: dict[str, Any] = {
    CONF_HEARTBEAT_TIMEOUT: DEFAULT_HEARTBEAT_TIMEOUT,
    CONF_CHARGE_MODE: DEFAULT_CHARGE_MODE,
    CONF_CHARGE_MINUTES: DEFAULT_CHARGE_MINUTES,
    CONF_CHARGE_ENERGY: DEFAULT_CHARGE_ENERGY,
    CONF_ELECTRICITY_PRICE: DEFAULT_ELECTRICITY_PRICE,
    CONF_SERVICE_PRICE: DEFAULT_SERVICE_PRICE,
    CONF_CARD_POLICY: DEFAULT_CARD_POLICY,
    CONF_CARD_ALLOW_LIST: [],
    CONF_ADMISSION: DEFAULT_ADMISSION,
    CONF_STATION_ALLOW_LIST: [],
    CONF_PORT_ENTITIES: DEFAULT_PORT_ENTITIES,
    CONF_LARGE_SITE_TUNING: DEFAULT_LARGE_SITE_TUNING,
}


def _number(
    minimum: float, maximum: float, step: float | Literal["any"], unit: str
) -> NumberSelector:
    return NumberSelector(
        NumberSelectorConfig(
            min=minimum,
            max=maximum,
            step=step,
            unit_of_measurement=unit,
            mode=NumberSelectorMode.BOX,
        )
    )


def _select(options: tuple[str, ...], translation_key: str) -> SelectSelector:
    return SelectSelector(
        SelectSelectorConfig(
            options=list(options),
            translation_key=translation_key,
            mode=SelectSelectorMode.DROPDOWN,
        )
    )


def _options_schema(values: dict[str, Any]) -> probatio.Schema:
    """The options form, pre-filled with ``values`` (current options over the defaults)."""

    def key(name: str) -> probatio.Required:
        return probatio.Required(name, default=values[name])

    return probatio.Schema(
        {
            key(CONF_HEARTBEAT_TIMEOUT): _number(
                MIN_HEARTBEAT_TIMEOUT, MAX_HEARTBEAT_TIMEOUT, 1, "s"
            ),
            key(CONF_CHARGE_MODE): _select(CHARGE_MODES, CONF_CHARGE_MODE),
            key(CONF_CHARGE_MINUTES): _number(1, MAX_CHARGE_MINUTES, 1, "min"),
            key(CONF_CHARGE_ENERGY): _number(0.01, MAX_CHARGE_ENERGY_KWH, 0.01, "kWh"),
            key(CONF_ELECTRICITY_PRICE): _number(0, 100, "any", "CNY/kWh"),
            key(CONF_SERVICE_PRICE): _number(0, 100, "any", "CNY/kWh"),
            key(CONF_CARD_POLICY): _select(CARD_POLICIES, CONF_CARD_POLICY),
            key(CONF_CARD_ALLOW_LIST): TextSelector(TextSelectorConfig(multiple=True)),
            key(CONF_ADMISSION): _select(ADMISSIONS, CONF_ADMISSION),
            key(CONF_STATION_ALLOW_LIST): TextSelector(TextSelectorConfig(multiple=True)),
            key(CONF_PORT_ENTITIES): _select(PORT_ENTITY_LEVELS, CONF_PORT_ENTITIES),
            key(CONF_LARGE_SITE_TUNING): BooleanSelector(),
        }
    )

"""The config flow: user step, options and reconfigure, through every step and error."""

from __future__ import annotations

from collections.abc import Generator
from datetime import timedelta
import socket

from homeassistant.config_entries import SOURCE_USER, ConfigEntryState
from homeassistant.const import CONF_HOST, CONF_PORT
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.iot_zinx.config_flow import normalize_hex_ids
from custom_components.iot_zinx.const import (
    CONF_ADMISSION,
    CONF_CARD_ALLOW_LIST,
    CONF_CARD_POLICY,
    CONF_CHARGE_ENERGY,
    CONF_CHARGE_MINUTES,
    CONF_CHARGE_MODE,
    CONF_ELECTRICITY_PRICE,
    CONF_FORWARD_RETENTION_DAYS,
    CONF_HEARTBEAT_TIMEOUT,
    CONF_LARGE_SITE_TUNING,
    CONF_PORT_ENTITIES,
    CONF_SERVICE_PRICE,
    CONF_STATION_ALLOW_LIST,
    DOMAIN,
)
from custom_components.iot_zinx.forwarding import DATA_FORWARDING

from .conftest import port_holder


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (the OS's pick, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def occupied_port() -> Generator[int]:
    """A port some other program listens on for the duration of the test."""
    with port_holder() as sock:
        yield int(sock.getsockname()[1])


@pytest.fixture
def mock_config_entry() -> MockConfigEntry:
    """An entry on a concrete port: the forms only accept ports 1-65535."""
    port = free_port()
    return MockConfigEntry(
        domain=DOMAIN,
        title=f"AP3000 server 127.0.0.1:{port}",
        unique_id=str(port),
        data={CONF_HOST: "127.0.0.1", CONF_PORT: port},
    )


OPTIONS_INPUT = {
    CONF_HEARTBEAT_TIMEOUT: 600,
    CONF_CHARGE_MODE: "time",
    CONF_CHARGE_MINUTES: 120,
    CONF_CHARGE_ENERGY: 2.5,
    CONF_ELECTRICITY_PRICE: 0.6,
    CONF_SERVICE_PRICE: 0.4,
    CONF_CARD_POLICY: "allow_list",
    CONF_CARD_ALLOW_LIST: ["0a1b2c3d", " 0x0A1B2C3D ", "DEADBEEF", ""],
    CONF_ADMISSION: "allow_list",
    CONF_STATION_ALLOW_LIST: ["04a228cd"],
    CONF_PORT_ENTITIES: "essential",
    CONF_LARGE_SITE_TUNING: False,
}


async def test_user_flow(hass: HomeAssistant, command_timing: None) -> None:
    """The form offers 0.0.0.0:7054; a bindable address creates the entry, keyed by port."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    assert result["errors"] == {}
    assert result["data_schema"]({}) == {CONF_HOST: "0.0.0.0", CONF_PORT: 7054}

    port = free_port()
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_HOST: " 127.0.0.1 ", CONF_PORT: port}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == f"AP3000 server 127.0.0.1:{port}"
    assert result["data"] == {CONF_HOST: "127.0.0.1", CONF_PORT: port}
    entry = result["result"]
    assert entry.unique_id == str(port)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert entry.runtime_data.server.port == port
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_user_flow_cannot_bind(hass: HomeAssistant, occupied_port: int) -> None:
    """A port in use is refused on the port field, and the form keeps what was typed."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_HOST: "127.0.0.1", CONF_PORT: occupied_port}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    assert result["errors"] == {CONF_PORT: "cannot_bind"}
    assert result["data_schema"]({}) == {CONF_HOST: "127.0.0.1", CONF_PORT: occupied_port}


async def test_user_flow_cannot_bind_then_recovers(
    hass: HomeAssistant, command_timing: None
) -> None:
    """After the port is freed, the same flow goes through."""
    with port_holder() as blocker:
        port = int(blocker.getsockname()[1])
        result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_HOST: "127.0.0.1", CONF_PORT: port}
        )
        assert result["errors"] == {CONF_PORT: "cannot_bind"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_HOST: "127.0.0.1", CONF_PORT: port}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert await hass.config_entries.async_unload(result["result"].entry_id)


async def test_user_flow_bad_address(hass: HomeAssistant) -> None:
    """An address that is not this machine's cannot be bound either."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_HOST: "192.0.2.1", CONF_PORT: free_port()}
    )
    assert result["errors"] == {CONF_PORT: "cannot_bind"}


async def test_user_flow_already_configured(hass: HomeAssistant) -> None:
    """A second entry on a port already served is aborted before any bind test."""
    MockConfigEntry(
        domain=DOMAIN, unique_id="7054", data={CONF_HOST: "0.0.0.0", CONF_PORT: 7054}
    ).add_to_hass(hass)
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_HOST: "127.0.0.1", CONF_PORT: 7054}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


async def test_options_flow(hass: HomeAssistant, init_integration: MockConfigEntry) -> None:
    """Every option is saved, ids normalised (upper case, no 0x, no duplicates), reloaded."""
    hub_before = init_integration.runtime_data
    result = await hass.config_entries.options.async_init(init_integration.entry_id)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "init"
    # Defaults fill what the entry's options do not set.
    assert result["data_schema"]({}) == {
        CONF_HEARTBEAT_TIMEOUT: 420,
        CONF_CHARGE_MODE: "full",
        CONF_CHARGE_MINUTES: 240,
        CONF_CHARGE_ENERGY: 1.0,
        CONF_ELECTRICITY_PRICE: 0.0,
        CONF_SERVICE_PRICE: 0.0,
        CONF_CARD_POLICY: "accept_all",
        CONF_CARD_ALLOW_LIST: [],
        CONF_ADMISSION: "any",
        CONF_STATION_ALLOW_LIST: [],
        CONF_PORT_ENTITIES: "all",
        CONF_LARGE_SITE_TUNING: False,
    }
    # The webhook retention is no longer a server's option: forwarding's own entry has it.
    assert CONF_FORWARD_RETENTION_DAYS not in result["data_schema"]({})

    result = await hass.config_entries.options.async_configure(result["flow_id"], OPTIONS_INPUT)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert init_integration.options == {
        **OPTIONS_INPUT,
        CONF_CARD_ALLOW_LIST: ["0A1B2C3D", "DEADBEEF"],
        CONF_STATION_ALLOW_LIST: ["04A228CD"],
    }
    await hass.async_block_till_done()
    # Saving restarts the server with the new options.
    assert init_integration.state is ConfigEntryState.LOADED
    assert init_integration.runtime_data is not hub_before
    assert init_integration.runtime_data.server.config.heartbeat_timeout == 600.0
    assert hass.data[DATA_FORWARDING].settings.retention == timedelta(days=7)

    # The next time, the form shows the saved values.
    result = await hass.config_entries.options.async_init(init_integration.entry_id)
    assert result["data_schema"]({})[CONF_CARD_ALLOW_LIST] == ["0A1B2C3D", "DEADBEEF"]
    assert result["data_schema"]({})[CONF_CHARGE_MODE] == "time"


@pytest.mark.parametrize(
    ("cards", "stations", "errors"),
    [
        (["0A1B2C3"], ["04A228CD"], {CONF_CARD_ALLOW_LIST: "invalid_card_id"}),
        (["0A1B2C3D"], ["station-1"], {CONF_STATION_ALLOW_LIST: "invalid_station_id"}),
        (
            ["0A1B2C3G"],
            ["04A228CD0"],
            {
                CONF_CARD_ALLOW_LIST: "invalid_card_id",
                CONF_STATION_ALLOW_LIST: "invalid_station_id",
            },
        ),
    ],
)
async def test_options_flow_invalid_ids(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    cards: list[str],
    stations: list[str],
    errors: dict[str, str],
) -> None:
    """Malformed ids are refused on their field; correcting them saves the options."""
    result = await hass.config_entries.options.async_init(init_integration.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {**OPTIONS_INPUT, CONF_CARD_ALLOW_LIST: cards, CONF_STATION_ALLOW_LIST: stations},
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == errors
    # What was typed stays in the form.
    assert result["data_schema"]({})[CONF_CARD_ALLOW_LIST] == cards

    result = await hass.config_entries.options.async_configure(result["flow_id"], OPTIONS_INPUT)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()


def test_normalize_hex_ids() -> None:
    """Blank lines are skipped; anything but 8 hex digits (after an optional 0x) fails."""
    assert normalize_hex_ids([]) == []
    assert normalize_hex_ids(["", "  ", "0xabcdef01", "ABCDEF01"]) == ["ABCDEF01"]
    assert normalize_hex_ids(["ABCDEF0"]) is None
    assert normalize_hex_ids(["ABCDEF012"]) is None
    assert normalize_hex_ids(["0yABCDEF01"]) is None


async def test_reconfigure_same_port(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """Keeping the port skips the bind test (the running server holds it) and reloads."""
    result = await init_integration.start_reconfigure_flow(hass)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reconfigure"
    port = init_integration.data[CONF_PORT]
    assert result["data_schema"]({}) == {CONF_HOST: "127.0.0.1", CONF_PORT: port}

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_HOST: "localhost", CONF_PORT: port}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert init_integration.data == {CONF_HOST: "localhost", CONF_PORT: port}
    assert init_integration.title == f"AP3000 server localhost:{port}"
    await hass.async_block_till_done()
    assert init_integration.state is ConfigEntryState.LOADED


async def test_reconfigure_new_port(hass: HomeAssistant, init_integration: MockConfigEntry) -> None:
    """A free new port is tested, saved with the new unique id, and the server moves."""
    port = free_port()
    result = await init_integration.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_HOST: "127.0.0.1", CONF_PORT: port}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert init_integration.unique_id == str(port)
    assert init_integration.data == {CONF_HOST: "127.0.0.1", CONF_PORT: port}
    await hass.async_block_till_done()
    assert init_integration.state is ConfigEntryState.LOADED
    assert init_integration.runtime_data.server.port == port


async def test_reconfigure_cannot_bind(
    hass: HomeAssistant, init_integration: MockConfigEntry, occupied_port: int
) -> None:
    """A new port in use is refused, and the entry is left as it was."""
    data = dict(init_integration.data)
    result = await init_integration.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_HOST: "127.0.0.1", CONF_PORT: occupied_port}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_PORT: "cannot_bind"}
    assert init_integration.data == data


async def test_reconfigure_port_of_another_entry(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """Moving onto the port of another entry is aborted."""
    data = dict(init_integration.data)
    MockConfigEntry(
        domain=DOMAIN, unique_id="7054", data={CONF_HOST: "0.0.0.0", CONF_PORT: 7054}
    ).add_to_hass(hass)
    result = await init_integration.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_HOST: "127.0.0.1", CONF_PORT: 7054}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert init_integration.data == data

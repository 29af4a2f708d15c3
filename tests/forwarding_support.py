"""Shared pieces of the forwarding tests: envelopes, the action call, the frozen clock."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import UTC, datetime, timedelta
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import async_fire_time_changed

import custom_components.iot_zinx  # noqa: F401
from custom_components.iot_zinx.const import DOMAIN
from custom_components.iot_zinx.forwarding import (
    SERVICE_FORWARD_EVENT,
    EndpointView,
    ForwardingManager,
    ForwardingSettings,
    async_setup_forwarding,
    async_unload_forwarding,
)
from custom_components.iot_zinx.outbox import Endpoint

from .webhook_receiver import Receiver, settle

STATION_A = "04A228CD"
STATION_B = "04AB373B"
NOW = datetime(2026, 1, 1, 8, 0, 0, tzinfo=UTC)
NOW_TS = int(NOW.timestamp())


def envelope(
    number: int, station_id: str = STATION_A, event_type: str = "charging_start"
) -> dict[str, Any]:
    """A documented envelope (docs/events.md), numbered to check order."""
    return {
        "event_id": f"7d3c6a52-0000-4000-8000-{number:012d}",
        "event_type": event_type,
        "device_id": station_id,
        "port_number": 1,
        "timestamp": 1_767_225_600 + number,
        "data": {
            "order_number": f"ORDER-{number:04d}",
            "response_code": 0,
            "status_desc": "充电开始成功",
        },
    }


def event_id(number: int) -> str:
    """The event_id of `envelope(number)`."""
    return str(envelope(number)["event_id"])


@pytest.fixture(name="settings")
def settings_fixture() -> ForwardingSettings:
    """Forwarding settings; tests override this fixture or build their own."""
    return ForwardingSettings()


@pytest.fixture(name="receiver")
async def receiver_fixture() -> AsyncGenerator[Receiver]:
    """A platform answering success unless told otherwise."""
    platform = Receiver()
    await platform.start()
    yield platform
    await platform.stop()


@pytest.fixture(name="manager")
async def manager_fixture(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, settings: ForwardingSettings
) -> AsyncGenerator[ForwardingManager]:
    """Forwarding set up as the integration does, with the clock frozen at NOW."""
    freezer.move_to(NOW)
    forwarding = await async_setup_forwarding(hass, settings)
    yield forwarding
    await async_unload_forwarding(hass)


async def forward(hass: HomeAssistant, url: str, event: object, **credentials: str) -> None:
    """Call the action as an automation does."""
    await hass.services.async_call(
        DOMAIN,
        SERVICE_FORWARD_EVENT,
        {"url": url, "event": event, **credentials},
        blocking=True,
    )


async def advance(hass: HomeAssistant, freezer: FrozenDateTimeFactory, seconds: float) -> None:
    """Move Home Assistant's clock and run what became due."""
    freezer.tick(timedelta(seconds=seconds))
    async_fire_time_changed(hass)
    await settle()


def view(manager: ForwardingManager, url: str, **credentials: str) -> EndpointView:
    """The figures of the endpoint `url` with these credentials."""
    return manager.endpoint_view(Endpoint(url, **credentials).key)


def failures(manager: ForwardingManager) -> list[int]:
    """Failure counts of the queue heads."""
    return [state.failures for state in manager.outbox.retries.values()]

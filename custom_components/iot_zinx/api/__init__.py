"""The IoT-Zinx gateway's HTTP API inside Home Assistant, under ``/api/iot_zinx/v1/``.

Platforms written for the gateway (routes under ``/api/v1``) move by changing the base URL
and adding a Home Assistant access token: the same routes, JSON field names, envelope
``{"code", "message", "data"}`` and HTTP statuses (docs/api.md). Every view requires
authentication (``requires_auth``, Home Assistant's default); the commands require an
administrator.

Modules: ``envelope`` (answers, request bodies), ``device_id`` (the forms of ``deviceId``),
``stations`` (finding a station, its detail), ``actions`` (what the charging routes share),
the views (``device_views``, ``charging_views``, ``power_view``, ``system_views``,
``notification_views``) and ``notifications`` (the history and the stream clients).
"""

from __future__ import annotations

from homeassistant.core import HomeAssistant
from homeassistant.loader import async_get_integration
from homeassistant.util.hass_dict import HassKey

from custom_components.iot_zinx.const import DOMAIN

from .actions import ApiOrders
from .charging_views import ChargingStartView, ChargingStopView
from .device_views import DeviceLocateView, DeviceQueryView, DeviceStatusView, DevicesView
from .notification_views import NotificationsRecentView, NotificationsStreamView
from .notifications import NotificationFeed
from .power_view import ChargingUpdatePowerView
from .system_views import HealthView, StatsView

DATA_API: HassKey[NotificationFeed] = HassKey(f"{DOMAIN}_api")


async def async_setup_api(hass: HomeAssistant) -> None:
    """Record the notifications and serve the routes; once per Home Assistant (``async_setup``).

    The feed records even without the HTTP server, so that nothing is missing from the
    recent notifications once it runs; the views need it (``http`` is loaded before us when
    configured, as an after-dependency).
    """
    if DATA_API in hass.data:
        return
    feed = hass.data[DATA_API] = NotificationFeed(hass)
    feed.async_start()
    if "http" not in hass.config.components:
        return
    version = str((await async_get_integration(hass, DOMAIN)).version)
    orders = ApiOrders()
    for view in (
        DevicesView(),
        DeviceStatusView(),
        DeviceQueryView(),
        DeviceLocateView(),
        ChargingStartView(orders),
        ChargingStopView(orders),
        ChargingUpdatePowerView(orders),
        HealthView(version),
        StatsView(feed),
        NotificationsRecentView(feed),
        NotificationsStreamView(feed),
    ):
        hass.http.register_view(view)

"""System routes: ``GET /health`` and ``GET /stats``.

As ``internal/adapter/http/gateway_handlers.go`` answers them, with our own figures added.
"""

from __future__ import annotations

from collections import Counter
import time
from typing import Any

from aiohttp import web
from homeassistant.components.http import KEY_HASS, HomeAssistantView
from homeassistant.util import dt as dt_util

from .envelope import API_PREFIX, success
from .notifications import NotificationFeed
from .stations import hubs, now_text


def uptime_text(seconds: float) -> str:
    """Go's duration text, as the gateway's model shows it: ``"1h30m45s"``."""
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"


class HealthView(HomeAssistantView):
    """Whether the station servers listen."""

    url = f"{API_PREFIX}/health"
    name = "api:iot_zinx:health"

    def __init__(self, version: str) -> None:
        """Report ``version`` (the integration's) and the time since set-up."""
        self._version = version
        self._started = time.monotonic()

    async def get(self, request: web.Request) -> web.Response:
        """``{status, timestamp, version, uptime, gateway, servers}``; ``status`` "ok" while
        every loaded station server listens, else "degraded".
        """
        servers = [
            {"port": hub.server.port, "running": hub.server.running}
            for hub in hubs(request.app[KEY_HASS])
        ]
        healthy = all(server["running"] for server in servers)
        return success(
            "IoT设备网关运行正常" if healthy else "IoT设备网关部分服务未运行",
            {
                "status": "ok" if healthy else "degraded",
                "timestamp": dt_util.now().isoformat(),
                "version": self._version,
                "uptime": uptime_text(time.monotonic() - self._started),
                "gateway": "Home Assistant iot_zinx",
                "servers": servers,
            },
        )


class StatsView(HomeAssistantView):
    """The gateway's ``GetDeviceStatistics`` keys, the servers' counters and the feed's."""

    url = f"{API_PREFIX}/stats"
    name = "api:iot_zinx:stats"

    def __init__(self, feed: NotificationFeed) -> None:
        """Report ``feed``'s figures too."""
        self._feed = feed

    async def get(self, request: web.Request) -> web.Response:
        """Counts of stations and connections, and the notification feed."""
        servers = hubs(request.app[KEY_HASS])
        online = sorted(
            station_id
            for hub in servers
            for station_id, station in hub.stations.items()
            if station.online
        )
        counters: Counter[str] = Counter()
        connections: set[tuple[int, int]] = set()
        for index, hub in enumerate(servers):
            counters.update(hub.server.stats.as_dict())
            connections.update((index, link.conn_id) for link in hub.server.links())
        stats: dict[str, Any] = {
            "onlineDeviceCount": len(online),
            "onlineDevices": online,
            "connectionCount": counters["connections_open"],
            "groupCount": len(connections),
            "totalDeviceCount": sum(len(hub.stations) for hub in servers),
            "timestamp": int(time.time()),
            "formattedTime": now_text(),
            "server": dict(counters),
            "notification": {
                "recorded": self._feed.recorded,
                "history_size": self._feed.history_size,
                "stream_clients": self._feed.clients,
                "stream_clients_dropped": self._feed.clients_dropped,
            },
        }
        return success("获取统计信息成功", stats)

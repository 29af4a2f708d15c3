"""Firmware updates: the files in ``<config>/iot_zinx/firmware/``, matching, installs.

docs/firmware.md. A file named ``station-21-V2.06.bin`` is firmware V2.06 for stations of
device type 0x21 (the 0x20 register's type byte); ``host-50-V3.02.bin`` for host gateways of
host type 0x50 (the 0x11 heartbeat's). A file is offered to a device of that type whose
installed version is of the same family (the same major version: the vendor's tables give
each model one, "2.xx") and older. The folder is read in the executor, never polled: at set-up,
before each install, and when the update entity is refreshed (``homeassistant.update_entity``).

An install sends the image with ``protocol.firmware.send_firmware`` and succeeds only once the
device reports the new version (the station's next 0x20 register, a host's 0x11 heartbeat).
An install that fails starts over from packet 1 next time (a station keeps no half image).
A device's own upgrade request (0x05; 0x15 from the old RS-485 host) fires
``iot_zinx_upgrade_request`` and shows on its update entity; during an F8/F9 install it
sends the image again from packet 1, as the vendor's sections say.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict, dataclass
from datetime import datetime
import logging
from pathlib import Path
import re
from typing import TYPE_CHECKING, Any, Final

from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.dispatcher import async_dispatcher_connect, async_dispatcher_send
from homeassistant.util import dt as dt_util

from .const import DOMAIN
from .models import StationState
from .protocol import codes
from .protocol.errors import StationOfflineError
from .protocol.firmware import (
    MAX_RESTARTS,
    FirmwareRejectedError,
    FirmwareRestartError,
    FirmwareTimeoutError,
    UpgradeProgress,
    host_method,
    packetize,
    send_firmware,
    station_method,
)
from .protocol.messages import HostUpgradeRequest, UpgradeRequest
from .protocol.server import DnyServer, StationLink
from .signals import signal_station_update

if TYPE_CHECKING:
    from .devices import StationDevices

_LOGGER = logging.getLogger(__name__)

EVENT_UPGRADE_REQUEST: Final = f"{DOMAIN}_upgrade_request"
FIRMWARE_FOLDER: Final = (DOMAIN, "firmware")
# How long a device may take to reboot and report its new version; tests shorten it.
CONFIRM_TIMEOUT: Final = 600.0
_NAME = re.compile(
    r"(?P<target>station|host)-(?P<type>[0-9a-f]{2})-v?(?P<major>\d{1,3})\.(?P<minor>\d{2})"
    r"(?:[-_ ][^/]*)?\.bin",
    re.IGNORECASE,
)


def version_text(firmware: int) -> str:
    """126 -> ``"1.26"`` (docs/protocol.md 3, 0x20), the form the update entity compares.

    The protocol's ``"V1.26"`` (events, device page) without its ``V``.
    """
    return codes.firmware_text(firmware).removeprefix("V")


@dataclass(frozen=True, slots=True)
class FirmwareFile:
    """One firmware file, as its name describes it."""

    name: str
    path: Path
    host: bool  # for host gateways (by host type), else for stations (by device type)
    device_type: int
    version: int  # 206 = V2.06

    def fits(self, station: StationState) -> bool:
        """For this device's type and family, and newer than what it runs."""
        device_type = station.host_type if station.is_host else station.device_type
        return (
            self.host == station.is_host
            and device_type == self.device_type
            and station.firmware is not None
            and self.version // 100 == station.firmware // 100
            and self.version > station.firmware
        )


def file_pattern(station: StationState) -> str | None:
    """The names a file for this device must have: ``"station-21-V1.xx.bin"``."""
    device_type = station.host_type if station.is_host else station.device_type
    if device_type is None or station.firmware is None:
        return None
    target = "host" if station.is_host else "station"
    return f"{target}-{device_type:02X}-V{station.firmware // 100}.xx.bin"


def parse_name(path: Path) -> FirmwareFile | None:
    """The file's target, type and version from its name; None for any other name."""
    match = _NAME.fullmatch(path.name)
    if match is None:
        return None
    return FirmwareFile(
        name=path.name,
        path=path,
        host=match["target"].lower() == "host",
        device_type=int(match["type"], 16),
        version=int(match["major"]) * 100 + int(match["minor"]),
    )


def scan_folder(folder: Path) -> list[FirmwareFile]:
    """Every firmware file of the folder (none when it does not exist); in the executor."""
    if not folder.is_dir():
        return []
    files = [parse_name(path) for path in sorted(folder.iterdir()) if path.is_file()]
    return [file for file in files if file is not None]


@dataclass(slots=True)
class FirmwareInstall:
    """One install of a station, for its entity and the diagnostics."""

    file: str
    from_version: str | None
    to_version: str
    started: datetime
    total: int = 0
    acknowledged: int = 0
    resends: int = 0
    restarts: int = 0  # times the device's request (F8/F9) sent the image again from packet 1
    # running, confirming, success, or the error's translation key.
    result: str = "running"
    finished: datetime | None = None

    @property
    def percentage(self) -> float:
        """Packets acknowledged, in percent."""
        return round(100 * self.acknowledged / self.total, 1) if self.total else 0.0

    def as_dict(self) -> dict[str, Any]:
        """For the diagnostics download."""
        data = asdict(self)
        data["started"] = self.started.isoformat()
        data["finished"] = None if self.finished is None else self.finished.isoformat()
        return data


def signal_firmware(entry_id: str, station_id: str) -> str:
    """Sent when a station's firmware files, install or upgrade request changed."""
    return f"{DOMAIN}_firmware_{entry_id}_{station_id}"


class FirmwareUpdates:
    """The firmware files of one entry's stations, their installs and upgrade requests."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry_id: str,
        devices: StationDevices,
        server: DnyServer,
        stations: dict[str, StationState],
    ) -> None:
        """Nothing is read until ``async_scan``."""
        self.hass = hass
        self.entry_id = entry_id
        self._devices = devices
        self.server = server
        self.stations = stations
        self.folder = Path(hass.config.path(*FIRMWARE_FOLDER))
        self.files: list[FirmwareFile] = []
        self.installs: dict[str, FirmwareInstall] = {}  # the last one of each station
        self.requests: dict[str, dict[str, Any]] = {}  # the last 0x05 of each station
        self._running: set[str] = set()
        # Per running install: (the request command that restarts it, the event to set).
        self._restart: dict[str, tuple[int | None, asyncio.Event]] = {}

    async def async_scan(self) -> None:
        """Read the folder again (in the executor); tell every update entity if it changed."""
        files = await self.hass.async_add_executor_job(scan_folder, self.folder)
        if files == self.files:
            return  # thousands of entities need not write an unchanged state
        self.files = files
        for station_id in self.stations:
            async_dispatcher_send(self.hass, signal_firmware(self.entry_id, station_id))

    def file_for(self, station: StationState) -> FirmwareFile | None:
        """The newest file that fits the station, if any."""
        files = [file for file in self.files if file.fits(station)]
        return max(files, key=lambda file: file.version, default=None)

    def in_progress(self, station_id: str) -> bool:
        """Whether an install of the station runs (packets or the wait for its new version)."""
        return station_id in self._running

    async def async_install(self, station_id: str) -> None:
        """Send the newest fitting file and wait for the device to report its version."""
        station = self.stations.get(station_id)
        if station_id in self._running:
            raise _error("firmware_busy", station_id)
        await self.async_scan()
        file = None if station is None else self.file_for(station)
        if station is None or file is None:
            raise _error("firmware_no_file", station_id)
        method = (
            host_method(station.host_type)
            if station.is_host
            else station_method(station.device_type)
        )
        self._running.add(station_id)
        restart = asyncio.Event()
        self._restart[station_id] = (method.request, restart)
        install = self.installs[station_id] = FirmwareInstall(
            file=file.name,
            from_version=None if station.firmware is None else version_text(station.firmware),
            to_version=version_text(file.version),
            started=dt_util.utcnow(),
        )
        try:
            image = await self.hass.async_add_executor_job(file.path.read_bytes)
            packets = packetize(image, method, device_type=file.device_type, version=file.version)
            install.total = len(packets)
            self._changed(station_id)
            await self._send(station_id, install, packets, method, restart=restart)
            install.result = "confirming"
            self._changed(station_id)
            await self._confirm(station_id, file.version, install)
            install.result = "success"
        finally:
            if install.result in ("running", "confirming"):  # an unexpected error, or unload
                install.result = "firmware_failed"
            install.finished = dt_util.utcnow()
            self._running.discard(station_id)
            self._restart.pop(station_id, None)
            self._changed(station_id)

    async def _send(
        self, station_id: str, install: FirmwareInstall, *args: Any, restart: asyncio.Event
    ) -> None:
        @callback
        def progress(step: UpgradeProgress) -> None:
            install.acknowledged, install.resends = step.acknowledged, step.resends
            install.restarts = step.restarts
            self._changed(station_id)

        try:
            await send_firmware(self.server, station_id, *args, progress=progress, restart=restart)
        except StationOfflineError as err:
            install.result = "firmware_station_offline"
            raise _error(install.result, station_id, packet=str(install.acknowledged + 1)) from err
        except FirmwareTimeoutError as err:
            install.result = "firmware_timeout"
            raise _error(install.result, station_id, packet=str(err.packet)) from err
        except FirmwareRejectedError as err:
            install.result = "firmware_rejected"
            raise _error(
                install.result,
                station_id,
                packet=str(err.packet),
                code=str(err.code),
                description=err.description,
            ) from err
        except FirmwareRestartError as err:
            install.result = "firmware_restarted"
            raise _error(install.result, station_id, count=str(MAX_RESTARTS)) from err

    async def _confirm(self, station_id: str, version: int, install: FirmwareInstall) -> None:
        """Wait for the station's state to show ``version`` (its next register or 0x11)."""
        confirmed = asyncio.Event()

        @callback
        def check() -> None:
            station = self.stations.get(station_id)
            if station is not None and station.online and station.firmware == version:
                confirmed.set()

        unsubscribe = async_dispatcher_connect(
            self.hass, signal_station_update(self.entry_id, station_id), check
        )
        try:
            check()
            async with asyncio.timeout(CONFIRM_TIMEOUT):
                await confirmed.wait()
        except TimeoutError as err:
            install.result = "firmware_not_confirmed"
            raise _error(install.result, station_id, version=install.to_version) from err
        finally:
            unsubscribe()

    @callback
    def upgrade_requested(
        self, link: StationLink, message: UpgradeRequest | HostUpgradeRequest
    ) -> None:
        """0x05 / 0x15: remember it for the entity and fire ``iot_zinx_upgrade_request``.

        During an install whose method restarts on this request (F8: 0x05, F9: 0x15) the
        image goes again from packet 1 (protocol.firmware.send_firmware).
        """
        station_id = link.device_id
        restart = self._restart.get(station_id)
        if restart is not None and restart[0] == message.command:
            restart[1].set()
        device = self._devices.device(station_id)
        # 0x15 carries nothing; an old station's 0x05 may carry less than the 2024 layout.
        request = message if isinstance(message, UpgradeRequest) else UpgradeRequest()
        data = {
            "station_id": station_id,
            "device_id": None if device is None else device.id,
            "device_type": request.device_type,
            "firmware_version": None
            if request.firmware is None
            else version_text(request.firmware),
            "package_type": request.package_type,
            "requested_at": dt_util.utc_from_timestamp(link.last_seen).isoformat(),
        }
        self.requests[station_id] = data
        self.hass.bus.async_fire(EVENT_UPGRADE_REQUEST, data)
        self._changed(station_id)

    def diagnostics(self) -> dict[str, Any]:
        """The files found and each station's last install and upgrade request."""
        return {
            "files": [file.name for file in self.files],
            "installs": {
                station_id: install.as_dict()
                for station_id, install in sorted(self.installs.items())
            },
            "upgrade_requests": dict(sorted(self.requests.items())),
        }

    @callback
    def _changed(self, station_id: str) -> None:
        async_dispatcher_send(self.hass, signal_firmware(self.entry_id, station_id))


def _error(key: str, station_id: str, **placeholders: str) -> HomeAssistantError:
    return HomeAssistantError(
        translation_domain=DOMAIN,
        translation_key=key,
        translation_placeholders={"device_id": station_id, **placeholders},
    )

"""Station commands beyond charging (docs/protocol.md 4): locate, screen, sound, cards, memory,
lockers, and the host gateway's own (0x31-0x34).

Each sends one command and turns a non-zero result into a typed ``StationRefusedError``. A
command for a host gateway refuses a charging station, and the other way round, before
anything is sent (``WrongStationKindError``). The card keys are never logged nor kept.
"""

from __future__ import annotations

from enum import IntEnum
from typing import TYPE_CHECKING, Final

from .orders import NoActiveOrderError
from .protocol.errors import CommandError, StationRefusedError
from .protocol.messages import (
    CardKeys,
    ChangeServerAddress,
    ClearMemory,
    ClearSubUpgrade,
    CommandResult,
    Locate,
    LockerDoor,
    LockerRelease,
    ModuleReboot,
    Mute,
    QueryStatus,
    SetCardBillingMode,
    SetQrCode,
    SetWorkMode,
    TemporaryQrCode,
    parse_order_no,
)

if TYPE_CHECKING:
    from .models import StationState
    from .protocol.messages import DownstreamCommand
    from .protocol.server import DnyServer

# The identify button's beep and flash (0x96 takes up to 255 s).
IDENTIFY_SECONDS: Final = 10
_LOCKER_FORCE_OPEN: Final = 0  # 0x98 function 0
# Result meanings the vendor documents (docs/protocol.md 4); others read "result N".
_RESULTS: Final[dict[int, dict[int, str]]] = {
    SetWorkMode.COMMAND: {1: "the station cannot do that mode"},
}


class WorkMode(IntEnum):
    """0x8D ``mode``."""

    ONLINE = 0
    CARD_ONLY = 1


class CardBillingMode(IntEnum):
    """0x8F ``mode`` of card-only stations (2 is not used by the vendor)."""

    TIME = 0
    PER_USE = 1
    ENERGY = 3
    FIXED_FEE = 4
    HOME = 5
    FREE_CHOICE = 6


class ServerModule(IntEnum):
    """0x34 ``module_type``: the host's communication module."""

    WIFI = 1
    GSM = 2
    LTE = 3


class WrongStationKindError(CommandError):
    """A host command for a charging station, or a station command for a host gateway."""

    def __init__(self, device_id: str, *, needs_host: bool) -> None:
        kind = "a host gateway" if needs_host else "a charging station"
        super().__init__(f"{device_id} is not {kind}")
        self.device_id = device_id
        self.needs_host = needs_host


class StationCommands:
    """The non-charging commands of one server's stations."""

    def __init__(self, server: DnyServer, stations: dict[str, StationState]) -> None:
        """Send through ``server``; ``stations`` tells hosts from charging stations."""
        self._server = server
        self._stations = stations

    def check_kind(self, station_id: str, *, host: bool) -> StationState:
        """The station, if it is a host gateway (``host``) or a charging station (not)."""
        station = self._stations[station_id]
        if station.is_host != host:
            raise WrongStationKindError(station_id, needs_host=host)
        return station

    async def _send(self, station_id: str, command: DownstreamCommand, *, host: bool) -> None:
        self.check_kind(station_id, host=host)
        reply = await self._server.request(station_id, command)
        code = reply.result if isinstance(reply, CommandResult) else 0xFF
        if code:
            meaning = _RESULTS.get(command.command, {}).get(code, f"result {code}")
            raise StationRefusedError(station_id, command.command, code, meaning)

    # -- charging stations ----------------------------------------------------------------

    async def async_locate(self, station_id: str, seconds: int = IDENTIFY_SECONDS) -> None:
        """Sound and light for ``seconds`` so that someone finds the station (0x96)."""
        await self._send(station_id, Locate(seconds), host=False)

    async def async_set_work_mode(self, station_id: str, mode: WorkMode) -> None:
        """Online or card only (0x8D); result 1 when the model cannot switch.

        No command reads the mode back, but the register does: 0x81 asks for it, so the
        station's state shows the mode the station reports, not the one asked for.
        """
        await self._send(station_id, SetWorkMode(mode), host=False)
        await self._server.request(station_id, QueryStatus(), expect_reply=False)

    async def async_set_qr_code(self, station_id: str, text: str, *, show_qr: bool) -> None:
        """The screen's QR code text, at most 71 bytes (0x8E), and the main screen's view."""
        await self._send(station_id, SetQrCode(int(show_qr), text), host=False)

    async def async_show_temporary_qr_code(self, station_id: str, text: str) -> None:
        """A temporary QR code of up to 200 bytes (0x95)."""
        await self._send(station_id, TemporaryQrCode(text), host=False)

    async def async_set_mute(self, station_id: str, mute: bool) -> None:
        """Silence the station or give it its voice back (0x97)."""
        await self._send(station_id, Mute(int(mute)), host=False)

    async def async_set_card_billing_mode(self, station_id: str, mode: CardBillingMode) -> None:
        """How a card-only station bills a card (0x8F)."""
        await self._send(station_id, SetCardBillingMode(mode), host=False)

    async def async_set_card_keys(
        self, station_id: str, *, sector: int, user_key: bytes, new_card_key: bytes
    ) -> None:
        """The M1 sector and keys the card reader uses (0x86); the keys are not kept."""
        await self._send(station_id, CardKeys(sector, user_key, new_card_key), host=False)

    async def async_clear_memory(self, station_id: str) -> None:
        """Erase what the station stores except its ids (0x88)."""
        await self._send(station_id, ClearMemory(), host=False)

    async def async_locker_release(
        self, station_id: str, port: int, order_number: str | None = None
    ) -> None:
        """End a locker port's order without opening its door (0x72).

        The station acts only on the running order's number (docs/protocol.md 4); without one
        given, the port's known order is used.
        """
        station = self.check_kind(station_id, host=False)
        if order_number is None:
            state = station.ports.get(port)
            if state is None or state.order is None:
                raise NoActiveOrderError(station_id, port)
            order_no = state.order.order_no
        else:
            order_no = parse_order_no(order_number)
        await self._send(station_id, LockerRelease(port - 1, order_no), host=False)

    async def async_locker_open_door(self, station_id: str, port: int) -> None:
        """Force a locker port's door open (0x98 function 0)."""
        await self._send(station_id, LockerDoor(_LOCKER_FORCE_OPEN, port - 1), host=False)

    # -- host gateways --------------------------------------------------------------------

    async def async_change_server_address(
        self, station_id: str, *, host: str, port: int, module: ServerModule, socket_b: bool
    ) -> None:
        """Point a host gateway, and so its sub-stations, at another server (0x34)."""
        command = ChangeServerAddress(port, module, int(socket_b), host)
        await self._send(station_id, command, host=True)

    async def async_reboot_module(self, station_id: str) -> None:
        """Restart a host gateway's communication module (0x32)."""
        await self._send(station_id, ModuleReboot(), host=True)

    async def async_clear_sub_upgrade(self, station_id: str) -> None:
        """Discard the sub-station firmware a host gateway holds for upgrades (0x33)."""
        await self._send(station_id, ClearSubUpgrade(), host=True)

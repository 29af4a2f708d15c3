"""A station's settings: read back, merged, written and confirmed (0x83-0x85, 0x90-0x92).

The protocol writes whole blocks: 0x83 run parameters 1.1, 0x84 run parameters 1.2 and 0x85
limits (docs/protocol.md 4). Changing one field therefore means reading its block back
(0x90 / 0x91 / 0x92), replacing that field, writing the block and reading it back again to
confirm. Every other field goes out exactly as the station sent it, and a field the station's
firmware did not send (an optional trailing field, docs/protocol.md 2) is never invented.
The card keys (0x86 / 0x93) are not settings here: they are never read.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final, cast

from homeassistant.util import dt as dt_util

from .protocol.errors import CommandError, StationRefusedError
from .protocol.messages import (
    CommandResult,
    Limits,
    ReadParameters,
    RunParameters1,
    RunParameters2,
)

if TYPE_CHECKING:
    from .protocol.server import DnyServer

type SettingsBlock = RunParameters1 | RunParameters2 | Limits
type SettingValue = float | int | None

# Read-back command of each block (docs/protocol.md 4, 0x90-0x92).
_READ_COMMANDS: Final[dict[int, int]] = {
    RunParameters1.COMMAND: 0x90,
    RunParameters2.COMMAND: 0x91,
    Limits.COMMAND: 0x92,
}
_U8: Final = 0xFF
_U16: Final = 0xFFFF
# Result 1 of each block (docs/protocol.md 4, 0x83-0x85).
_REFUSALS: Final[dict[int, str]] = {
    RunParameters1.COMMAND: "a parameter was out of range",
    RunParameters2.COMMAND: "a parameter was out of range",
    Limits.COMMAND: "beyond the station's maximum",
}


@dataclass(frozen=True, slots=True)
class SettingField:
    """One writable field: its block, the range a user may give, and its unit."""

    name: str  # the protocol package's field name, unit included
    block: type[SettingsBlock]
    minimum: float
    maximum: float
    unit: str | None = None

    @property
    def integer(self) -> bool:
        """Whole numbers only (the field has no 0.1 scale)."""
        return not self.name.endswith(("_w", "_v"))


def _power(name: str, block: type[SettingsBlock], wire_max: int = _U16) -> SettingField:
    # Powers and voltages are 0.1 units on the wire (docs/protocol.md 2, Units).
    return SettingField(name, block, 0.0, wire_max / 10, "W")


def _seconds(name: str, block: type[SettingsBlock], minimum: int = 0) -> SettingField:
    return SettingField(name, block, minimum, _U16, "s")


# Ranges: the vendor's where it gives one (float percent 1-100, 0x85's 2000 W / 3500 W per
# port, 0/1 switches), else what the wire field holds (u8 / u16, with its 0.1 scale).
SETTING_FIELDS: Final[tuple[SettingField, ...]] = (
    _power("unplug_power_w", RunParameters1),
    _seconds("unplug_time_s", RunParameters1),
    SettingField("float_percent", RunParameters1, 1, 100, "%"),
    _seconds("float_detect_time_s", RunParameters1),
    _seconds("float_time_s", RunParameters1),
    # 0 would stop the heartbeats that keep the station online here.
    _seconds("heartbeat_interval_s", RunParameters1, minimum=1),
    _power("dynamic_overload_power_w", RunParameters2),
    _seconds("dynamic_overload_time_s", RunParameters2),
    _seconds("dynamic_overload_start_s", RunParameters2),
    _power("unplug_interference_power_w", RunParameters2, wire_max=_U8),
    _seconds("unplug_interference_time_s", RunParameters2),
    _seconds("float_second_check_point_s", RunParameters2),
    _seconds("float_second_check_time_s", RunParameters2),
    _power("min_power_w", RunParameters2),
    _seconds("min_power_check_point_s", RunParameters2),
    _seconds("second_max_power_point_s", RunParameters2),
    # Plain °C, without the +65 of measured temperatures (docs/protocol.md 4, 0x84).
    SettingField("ambient_alarm_temp_c", RunParameters2, 0, _U8, "°C"),
    SettingField("port_alarm_temp_c", RunParameters2, 0, _U8, "°C"),
    SettingField("unplug_detection", RunParameters2, 0, 1),  # 0 on, 1 off
    SettingField("qr_light", RunParameters2, 0, 1),  # 0 on, 1 off
    SettingField("max_duration_s", Limits, 1, _U16, "s"),
    # At most 2000 W per port, 3500 W on high-power models (docs/protocol.md 4, 0x85): the
    # station refuses more with result 1; beyond 3500 W no model takes it.
    SettingField("overload_power_w", Limits, 0.1, 3500.0, "W"),
    SettingField("over_voltage_v", Limits, 0.1, _U16 / 10, "V"),
    SettingField("under_voltage_v", Limits, 0.1, _U16 / 10, "V"),
)
FIELDS_BY_NAME: Final[dict[str, SettingField]] = {field.name: field for field in SETTING_FIELDS}
_BLOCKS: Final[tuple[type[SettingsBlock], ...]] = (RunParameters1, RunParameters2, Limits)


class SettingOutOfRangeError(ValueError):
    """A value outside its field's range; nothing was sent."""

    def __init__(self, field: SettingField, value: float) -> None:
        super().__init__(f"{field.name} must be {field.minimum}..{field.maximum}, not {value}")
        self.field = field
        self.value = value


class SettingUnsupportedError(CommandError):
    """The station's firmware does not have the field (it did not send it); nothing written."""

    def __init__(self, device_id: str, names: list[str]) -> None:
        super().__init__(f"station {device_id} has no setting {', '.join(names)}")
        self.device_id = device_id
        self.names = names


class SettingsRefusedError(StationRefusedError):
    """The station answered a settings block with a non-zero result."""


class SettingsNotConfirmedError(CommandError):
    """The block read back after writing differs from what was written."""

    def __init__(self, device_id: str, names: list[str]) -> None:
        super().__init__(f"station {device_id} did not keep {', '.join(names)}")
        self.device_id = device_id
        self.names = names


class UnexpectedReplyError(CommandError):
    """A read-back answered with something that is not the block asked for."""

    def __init__(self, device_id: str, command: int) -> None:
        super().__init__(f"station {device_id} answered 0x{command:02X} with another layout")
        self.device_id = device_id
        self.command = command


def check_ranges(values: dict[str, float]) -> dict[str, float | int]:
    """The values in wire-ready form; ``SettingOutOfRangeError`` for the first out of range."""
    checked: dict[str, float | int] = {}
    for name, value in values.items():
        field = FIELDS_BY_NAME[name]
        if not field.minimum <= value <= field.maximum:
            raise SettingOutOfRangeError(field, value)
        if field.integer:
            if value != int(value):
                raise SettingOutOfRangeError(field, value)
            checked[name] = int(value)
        else:
            checked[name] = float(value)
    return checked


def block_values(block: SettingsBlock) -> dict[str, SettingValue]:
    """The setting fields of a block, ``None`` where the firmware did not send one."""
    return {
        field.name: getattr(block, field.name)
        for field in SETTING_FIELDS
        if field.block is type(block)
    }


@dataclass(frozen=True, slots=True)
class SettingsRead:
    """What the last read of a station's settings found, and when."""

    read_at: datetime
    values: dict[str, SettingValue]


class StationSettings:
    """Reads and writes the settings of one server's stations; remembers the last read."""

    def __init__(self, server: DnyServer) -> None:
        """Send through ``server``."""
        self._server = server
        self.last_read: dict[str, SettingsRead] = {}
        # One read-merge-write at a time per station: two changes of the same block made at
        # once would each write back the other's field as it was before.
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    async def async_read(self, station_id: str) -> dict[str, SettingValue]:
        """Read the three blocks back; a field the firmware did not send is ``None``."""
        values: dict[str, SettingValue] = {}
        for block_type in _BLOCKS:
            values.update(block_values(await self._read_block(station_id, block_type)))
        self._remember(station_id, values)
        return values

    async def async_write(
        self, station_id: str, changes: dict[str, float | int]
    ) -> dict[str, SettingValue]:
        """Change ``changes`` (range-checked): per block read, merge, write, confirm.

        Every touched block is read before anything is written, so a station that does not
        answer, or lacks a field, gets nothing. Returns the touched blocks as read back.
        """
        async with self._locks[station_id]:
            return await self._write(station_id, changes)

    async def _write(
        self, station_id: str, changes: dict[str, float | int]
    ) -> dict[str, SettingValue]:
        touched = [
            block_type
            for block_type in _BLOCKS
            if any(FIELDS_BY_NAME[name].block is block_type for name in changes)
        ]
        current = {
            block_type: await self._read_block(station_id, block_type) for block_type in touched
        }
        missing = [
            name for name in changes if getattr(current[FIELDS_BY_NAME[name].block], name) is None
        ]
        if missing:
            raise SettingUnsupportedError(station_id, missing)
        confirmed: dict[str, SettingValue] = {}
        for block_type, block in current.items():
            own = {
                name: value
                for name, value in changes.items()
                if FIELDS_BY_NAME[name].block is block_type
            }
            # replace() cannot be typed for a union of blocks; the names come from the table.
            wanted = cast("SettingsBlock", replace(cast("Any", block), **own))
            await self._write_block(station_id, wanted)
            read_back = await self._read_block(station_id, block_type)
            # Compared as the wire has them: 0.1 units, so 12.34 W is kept as 12.3 W.
            if read_back.encode() != wanted.encode():
                differing = [
                    name
                    for name, value in block_values(wanted).items()
                    if getattr(read_back, name) != value
                ]
                raise SettingsNotConfirmedError(station_id, differing or list(own))
            confirmed.update(block_values(read_back))
        self._remember(station_id, confirmed)
        return confirmed

    async def _read_block[B: SettingsBlock](self, station_id: str, block_type: type[B]) -> B:
        command = _READ_COMMANDS[block_type.COMMAND]
        reply = await self._server.request(station_id, ReadParameters(command))
        if not isinstance(reply, block_type):
            raise UnexpectedReplyError(station_id, command)
        return reply

    async def _write_block(self, station_id: str, block: SettingsBlock) -> None:
        reply = await self._server.request(station_id, block)
        code = reply.result if isinstance(reply, CommandResult) else 0xFF
        if code:
            raise SettingsRefusedError(
                station_id, block.COMMAND, code, _REFUSALS.get(block.COMMAND, f"result {code}")
            )

    def _remember(self, station_id: str, values: dict[str, SettingValue]) -> None:
        """Keep what was read for the diagnostics; a partial read updates its fields."""
        previous = self.last_read.get(station_id)
        merged = {**previous.values, **values} if previous is not None else dict(values)
        self.last_read[station_id] = SettingsRead(dt_util.utcnow(), merged)

    def diagnostics(self) -> dict[str, dict[str, object]]:
        """The last read of each station, with its time (no card keys: they are never read)."""
        return {
            station_id: {"read_at": read.read_at.isoformat(), "values": read.values}
            for station_id, read in sorted(self.last_read.items())
        }

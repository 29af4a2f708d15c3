"""``deviceId`` in every form the gateway accepts, and the station it names.

The gateway (``pkg/utils/device_id_processor.go``, ``SmartConvertDeviceID``) reads, after
trimming and upper-casing: 8 characters with a letter A-F as the 8-hex physical id
("04A26CF3"); 6 hex digits as the QR number in hex with kind 04 ("A26CF3" -> "04A26CF3");
a decimal number up to 16777215 as the QR number with kind 04 ("10644723" -> "04A26CF3").

Two readings of the gateway are wrong for some stations, so the station is looked up among
the known ones first (docs/api.md):

* an all-digit text is ambiguous: "04123456" is read as decimal 4123456 by the gateway (a
  different station than the 8-hex id), "123456" as hex;
* the kind byte is always 04, so a 10-port station (kind 05) can not be named by its QR number.

The text's possible ids (its readings, and any known station whose QR number matches) are
matched against the known stations: one match is that station, the gateway's own reading
wins when it is known, several others are a 400. With no match the gateway's reading stands
(and the station is offline).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from http import HTTPStatus
import re
from typing import Final

from custom_components.iot_zinx.protocol.frame import format_physical_id, qr_number

from .envelope import ApiError

_MAX_QR: Final = 0xFFFFFF
_KIND_DUAL: Final = 0x04
_HEX6: Final = re.compile(r"[0-9A-F]{6}")
_HEX8: Final = re.compile(r"(?:0X)?([0-9A-F]{8})")
_DECIMAL: Final = re.compile(r"[0-9]{1,8}")
_HINT: Final = "支持格式: 十进制(10644723)、6位十六进制(A26CF3)、8位十六进制(04A26CF3)"


@dataclass(frozen=True, slots=True)
class DeviceIdReading:
    """What a ``deviceId`` text may mean."""

    text: str  # as sent, trimmed
    standard: str  # the gateway's reading: 8 upper-case hex digits
    ids: tuple[str, ...]  # every full physical id it may be, the gateway's first
    qr_numbers: tuple[int, ...]  # QR numbers it may be, on a station of any kind

    def matches(self, station_id: str, physical_id: int) -> bool:
        """Whether the station with this id may be the one meant."""
        return station_id in self.ids or qr_number(physical_id) in self.qr_numbers


def _with_kind(number: int) -> str:
    return format_physical_id((_KIND_DUAL << 24) | number)


def read_device_id(text: str) -> DeviceIdReading:
    """Every reading of ``text``; ``400 DeviceID格式错误`` when there is none."""
    cleaned = text.strip().upper()
    ids: list[str] = []
    numbers: list[int] = []
    if (hex8 := _HEX8.fullmatch(cleaned)) is not None:
        ids.append(hex8.group(1))
    if _HEX6.fullmatch(cleaned):
        numbers.append(int(cleaned, 16))
    if _DECIMAL.fullmatch(cleaned) and int(cleaned) <= _MAX_QR:
        numbers.append(int(cleaned))
    if not ids and not numbers:
        raise ApiError(
            HTTPStatus.BAD_REQUEST,
            f"DeviceID格式错误: 无法识别的DeviceID格式：{cleaned}，"
            "支持：十进制(10644723)、6位十六进制(A26CF3)、8位十六进制(04A26CF3)",
            {"hint": _HINT},
        )
    # The gateway's order of readings: 8 characters with a hex letter, 6 hex digits, decimal.
    has_letter = any("A" <= char <= "F" for char in cleaned.removeprefix("0X"))
    if ids and (has_letter or cleaned.startswith("0X") or not numbers):
        standard = ids[0]
    else:
        standard = _with_kind(numbers[0])
    readings = [standard, *ids, *(_with_kind(number) for number in numbers)]
    return DeviceIdReading(
        text=text.strip(),
        standard=standard,
        ids=tuple(dict.fromkeys(readings)),
        qr_numbers=tuple(dict.fromkeys(numbers)),
    )


def pick_station(reading: DeviceIdReading, known: Iterable[tuple[str, int]]) -> str:
    """The station id meant among the known ``(station_id, physical_id)`` pairs.

    The gateway's reading when no known station matches (it is offline then).
    """
    matches = sorted(
        {
            station_id
            for station_id, physical_id in known
            if reading.matches(station_id, physical_id)
        }
    )
    if reading.standard in matches or not matches:
        return reading.standard
    if len(matches) == 1:
        return matches[0]
    raise ApiError(
        HTTPStatus.BAD_REQUEST,
        f"DeviceID有歧义：{reading.text} 可指多个设备：{', '.join(matches)}，请使用8位十六进制",
        {"hint": _HINT, "candidates": matches},
    )

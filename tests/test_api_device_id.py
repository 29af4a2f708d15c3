"""``deviceId`` readings: the gateway's (SmartConvertDeviceID) and the known-station fixes."""

from __future__ import annotations

import pytest

from custom_components.iot_zinx.api.device_id import pick_station, read_device_id
from custom_components.iot_zinx.api.envelope import ApiError
from custom_components.iot_zinx.api.stations import device_number
from custom_components.iot_zinx.api.system_views import uptime_text


@pytest.mark.parametrize(
    ("text", "standard"),
    [
        ("10644723", "04A26CF3"),  # decimal QR number (8 digits)
        ("1234567", "0412D687"),  # decimal, 7 digits
        ("A26CF3", "04A26CF3"),  # 6 hex digits
        ("a26cf3", "04A26CF3"),
        ("123456", "04123456"),  # 6 digits: hex first, as the gateway reads them
        ("04A26CF3", "04A26CF3"),  # 8 hex digits
        (" 0x04a26cf3 ", "04A26CF3"),
        ("04123456", "043EEB40"),  # 8 digits: decimal first, as the gateway reads them
        ("99999999", "99999999"),  # too large a decimal: 8 hex digits
    ],
)
def test_the_gateway_reading(text: str, standard: str) -> None:
    """With no known station, the gateway's reading stands."""
    reading = read_device_id(text)
    assert reading.standard == standard
    assert pick_station(reading, []) == standard


@pytest.mark.parametrize("text", ["", "XYZ", "04A26CFG", "123456789", "0x1234", "-1"])
def test_malformed(text: str) -> None:
    """400 with the gateway's message and hint."""
    with pytest.raises(ApiError) as err:
        read_device_id(text)
    assert err.value.status == 400
    assert err.value.message.startswith("DeviceID格式错误: 无法识别的DeviceID格式")
    assert err.value.data == {
        "hint": "支持格式: 十进制(10644723)、6位十六进制(A26CF3)、8位十六进制(04A26CF3)"
    }


def test_known_stations_settle_ambiguous_readings() -> None:
    """All-digit texts and other kinds than 04 find the station that exists."""
    known = [("04123456", 0x04123456), ("05A26CF3", 0x05A26CF3)]
    # The gateway would read 8 digits as decimal (043EEB40): the known 8-hex id wins.
    assert pick_station(read_device_id("04123456"), known) == "04123456"
    # A 10-port station (kind 05) by its QR number, decimal or hex.
    assert pick_station(read_device_id("10644723"), known) == "05A26CF3"
    assert pick_station(read_device_id("A26CF3"), known) == "05A26CF3"


def test_the_gateway_reading_wins_and_ambiguity_is_400() -> None:
    """The gateway's own reading, when known, wins; several others are a 400."""
    known = [("04A26CF3", 0x04A26CF3), ("05A26CF3", 0x05A26CF3)]
    assert pick_station(read_device_id("10644723"), known) == "04A26CF3"
    others = [("05A26CF3", 0x05A26CF3), ("06A26CF3", 0x06A26CF3)]
    with pytest.raises(ApiError) as err:
        pick_station(read_device_id("A26CF3"), others)
    assert err.value.status == 400
    assert err.value.data["candidates"] == ["05A26CF3", "06A26CF3"]


def test_device_number_and_uptime_texts() -> None:
    """The gateway's ``deviceNumber`` (QR number for kind 04) and Go's duration text."""
    assert device_number(0x04A26CF3) == "10644723"
    assert device_number(0x05A26CF3) == str(0x05A26CF3)
    assert [uptime_text(s) for s in (5, 65, 5445)] == ["5s", "1m5s", "1h30m45s"]

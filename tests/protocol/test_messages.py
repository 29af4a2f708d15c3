"""Tests of the typed DNY messages (docs/protocol.md sections 3 and 4)."""

from __future__ import annotations

from collections.abc import Callable
import dataclasses
from typing import Any

from hypothesis import given, settings, strategies as st
import pytest

from custom_components.iot_zinx.protocol import messages as m
from custom_components.iot_zinx.protocol.errors import MessageError
from custom_components.iot_zinx.protocol.messages import downstream, layout, replies, upstream
from tests.protocol.vectors import VECTORS

ORDER = bytes.fromhex("20190901180000130030380102030405")
ORDER_2 = bytes.fromhex("12345678123456781234567812345678")

Decoder = Callable[[int, bytes], m.Message]


def _upstream(message: m.Message, required: int) -> tuple[Decoder, int, m.Message, int]:
    return (m.decode_upstream, message.command, message, required)


def _server(message: m.Message, required: int) -> tuple[Decoder, int, m.Message, int]:
    return (m.decode_server_reply, message.command, message, required)


def _downstream(message: m.Message, required: int) -> tuple[Decoder, int, m.Message, int]:
    return (m.decode_downstream, message.command, message, required)


def _reply(
    message: m.Message, required: int, command: int | None = None
) -> tuple[Decoder, int, m.Message, int]:
    return (
        m.decode_station_reply,
        message.command if command is None else command,
        message,
        required,
    )


POWER_HEARTBEAT = m.PowerHeartbeat(
    port=1,
    status=1,
    duration_s=3600,
    energy_kwh=0.48,
    start_mode=1,
    power_w=100.0,
    max_power_w=120.0,
    min_power_w=80.0,
    avg_power_w=100.0,
    order_no=ORDER,
    interval_energy_raw=1,
    peak_power_w=100.0,
    voltage_v=220.0,
    current_a=0.455,
    ambient_temp_raw=85,
    port_temp_raw=0,
    timestamp=1604914697,
    occupancy_min=12,
)
CHARGE_CONTROL = m.ChargeControl(
    rate_mode=0,
    balance_or_expiry=356,
    port=1,
    action=1,
    value=0,
    order_no=ORDER_2,
    max_duration_s=28800,
    max_power_w=500.0,
    qr_light=0,
    long_charge=0,
    extra_float_time_s=0xFFFF,
    skip_short_check=2,
    ignore_unplug=0,
    force_auto_stop=1,
    full_power_w=30,
    full_power_max_minutes=60,
)
HOST_STATUS = m.HostStatus(
    breaker=1,
    temperature_raw=90,
    voltage_raw=2201,
    current_raw=1234,
    energy_raw=123456,
    meter_current_raw=567,
    meter_energy_raw=654321,
    smoke_alarm=0,
    alarm_relay=1,
    leakage_ma=30,
    live_temp_raw=100,
    neutral_temp_raw=0,
    lock_state=1,
    breaker_style=2,
)
RUN_PARAMETERS_1 = m.RunParameters1(0.3, 10, 20, 1800, 3600, 180)
RUN_PARAMETERS_2 = m.RunParameters2(
    80.0, 30, 1800, 1.0, 300, 10800, 300, 30.0, 1800, 300, 80, 80, 0, qr_light=1
)
LIMITS = m.Limits(36000, 2000.0, 270.0, 100.0)
CARD_KEYS = m.CardKeys(0, bytes.fromhex("159185191880"), b"\xff" * 6)

# (decoder, command, a message with every field set, size of the required fields).
EXAMPLES: list[tuple[Decoder, int, m.Message, int]] = [
    # Upstream (section 3).
    _upstream(m.Register(126, 2, 20, 0x21, 0b0110, 3), 5),
    _upstream(m.Heartbeat(220.0, 3, (1, 0, 5), 9, 25), 8),
    _upstream(
        m.LegacyHeartbeat(126, 218.8, 2, (0, 3), (0.0, 22.8), (0.0, 57.1), 41, 7, 2, -33, 0), 19
    ),
    _upstream(m.TimeRequest(), 0),
    _upstream(m.HostTimeRequest(), 0),
    _upstream(m.CardSwipe(0x7A8D05DD, 4, 1, 500, 1604914697, b"\x01" * 16), 8),
    _upstream(
        m.Settlement(3600, 100.0, 0.48, 1, 1, 0x7A8D05DD, 1, ORDER, 99.9, 1604914697, 15), 29
    ),
    _upstream(m.LegacyOrderConfirm(1, 0, 0x7A8D05DD, 600, ORDER), 24),
    # Every field optional: an old F8 station's 0x05 predates the 2024 layout.
    _upstream(m.UpgradeRequest(0x21, 126, 7), 0),
    _upstream(m.HostUpgradeRequest(), 0),
    _upstream(POWER_HEARTBEAT, 31),
    _upstream(
        m.HostHeartbeat(
            101, 1, 1604934748, 31, 6, "89860413161892009275", 80, 472, "861234567890123", "GM5"
        ),
        32,
    ),
    _upstream(HOST_STATUS, 0),
    _upstream(
        m.SubStationVersions(
            (m.SubStationVersion(0x21, 0, 126, 0x04AB373B), m.SubStationVersion(0x25, 1, 401, 1))
        ),
        17,
    ),
    _upstream(m.LockerHeartbeat(16, 0b101, 0b1), 9),
    _upstream(m.Alarm(4, 3, 0b10), 3),
    _upstream(m.LockerChargeDone(3600, 100.0, 0.48, 2, 0, 0x7A8D05DD, 0x14, ORDER), 29),
    _upstream(m.PortNotice(1, 2, ORDER), 18),
    # Server replies (section 3).
    *(_server(m.ResultReply(command, 1), 1) for command in (0x20, 0x21, 0x01, 0x03, 0x15)),
    *(_server(m.TimeReply(command, 1604914697), 4) for command in (0x22, 0x12)),
    _server(m.CardReply(0x7A8D05DD, 6, 1, 1700000000, 0xFF), 11),
    _server(m.OrderConfirmReply(1, 0), 2),
    # Downstream commands (section 4).
    _downstream(m.QueryStatus(), 0),
    _downstream(CHARGE_CONTROL, 25),
    _downstream(RUN_PARAMETERS_1, 11),
    _downstream(RUN_PARAMETERS_2, 22),
    _downstream(LIMITS, 4),
    _downstream(CARD_KEYS, 13),
    _downstream(m.Reboot(), 0),
    _downstream(m.ClearMemory(), 0),
    _downstream(m.PlayVoice(1, 2, b"\x03\x04"), 2),
    _downstream(m.ModifyCharge(2, 0, 150), 4),
    _downstream(m.ReadEeprom(0x0100, 32), 3),
    _downstream(m.WriteEeprom(0x0100, b"\x01\x02\x03"), 6),
    _downstream(m.SetWorkMode(1), 1),
    _downstream(m.SetQrCode(1, "http://baidu.com"), 76),
    _downstream(m.SetCardBillingMode(3), 1),
    *(_downstream(m.ReadParameters(command), 0) for command in (0x90, 0x91, 0x92, 0x93)),
    _downstream(m.TemporaryQrCode("https://example.com/q?id=1"), 200),
    _downstream(m.Locate(10), 1),
    _downstream(m.Mute(1), 1),
    _downstream(m.LockerRelease(3, ORDER), 17),
    _downstream(m.LockerDoor(0, 3), 2),
    _downstream(m.HostReboot(), 0),
    _downstream(m.ModuleReboot(), 0),
    _downstream(m.ClearSubUpgrade(), 0),
    _downstream(m.ChangeServerAddress(8888, 3, 1, "baidu.com"), 50),
    *(
        _downstream(m.FirmwarePacket(command, 4, 2, bytes(range(8))), 4)
        # FA too, but its empty payload is the host's upgrade start (test below).
        for command in (0xE0, 0xE1, 0xE2, 0xF8, 0xF9)
    ),
    _downstream(m.HostUpgradeStart(), 0),
    _downstream(m.UpgradeTrigger(), 0),
    # Station replies (section 4).
    *(
        _reply(m.CommandResult(command, 1), 1)
        for command in (0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A, 0x8C, 0x8D, 0x8E)
    ),
    *(
        _reply(m.CommandResult(command, 0), 1)
        for command in (0x8F, 0x95, 0x96, 0x97, 0x98, 0x31, 0x32, 0x33, 0x34, 0xE4)
    ),
    _reply(m.CommandResult(0x72, 0, ORDER), 1),
    _reply(m.ChargeControlReply(5, ORDER_2, 0xFF, 0b11), 1),
    _reply(m.EepromReadReply(0, b"\x01\x02"), 1),
    *(
        _reply(m.FirmwareReply(command, 0, 3), 3)
        for command in (0xE0, 0xE1, 0xE2, 0xF8, 0xF9, 0xFA)
    ),
    _reply(RUN_PARAMETERS_1, 11, 0x90),
    _reply(RUN_PARAMETERS_2, 22, 0x91),
    _reply(LIMITS, 4, 0x92),
    _reply(CARD_KEYS, 13, 0x93),
]


def _bytes_make_another_message(message: m.Message) -> bool:
    """An empty FA is the host's upgrade start; with bytes it is a packet (tested apart)."""
    return isinstance(message, m.HostUpgradeStart)


def _example_id(example: tuple[Decoder, int, m.Message, int]) -> str:
    decoder, command, message, _ = example
    return f"{decoder.__name__.removeprefix('decode_')}-{command:02X}-{type(message).__name__}"


def _optional_names(message: m.Message) -> list[str]:
    return [
        field.name
        for field in dataclasses.fields(message)  # type: ignore[arg-type]
        if field.default is None
    ]


def _present(message: m.Message) -> list[str]:
    return [name for name in _optional_names(message) if getattr(message, name) is not None]


# ---------------------------------------------------------------------------------------------
# Round trips, short payloads, missing required fields


@pytest.mark.parametrize("example", EXAMPLES, ids=_example_id)
def test_round_trip(example: tuple[Decoder, int, m.Message, int]) -> None:
    decoder, command, message, _ = example
    decoded = decoder(command, message.encode())
    assert decoded == message
    assert decoded.encode() == message.encode()


@pytest.mark.parametrize("example", EXAMPLES, ids=_example_id)
def test_every_prefix(example: tuple[Decoder, int, m.Message, int]) -> None:
    """Old firmware sends shorter payloads: every optional field absent, step by step."""
    decoder, command, message, required = example
    payload = message.encode()
    assert len(payload) >= required
    present: list[str] = []
    for size in range(len(payload) + 1):
        prefix = payload[:size]
        if size < required:
            with pytest.raises(MessageError):
                decoder(command, prefix)
            continue
        decoded = decoder(command, prefix)
        assert type(decoded) is type(message)
        assert decoded.encode() == prefix
        assert decoder(command, decoded.encode()) == decoded
        # Optional fields appear in order and never disappear as the payload grows.
        now = _present(decoded)
        assert now[: len(present)] == present
        assert now == _optional_names(decoded)[: len(now)]
        present = now
    assert present == _optional_names(message)


@pytest.mark.parametrize("example", EXAMPLES, ids=_example_id)
def test_trailing_bytes_are_kept(example: tuple[Decoder, int, m.Message, int]) -> None:
    decoder, command, message, _ = example
    if _bytes_make_another_message(message):
        return
    payload = message.encode() + b"\xaa\xbb"
    decoded = decoder(command, payload)
    assert decoded.encode() == payload
    names = [field.name for field in dataclasses.fields(decoded)]  # type: ignore[arg-type]
    # Bytes beyond the layout go to `trailing`; classes that end in variable-length data
    # (UnknownMessage, PlayVoice, EepromReadReply, FirmwarePacket) take them as data.
    kept = getattr(decoded, "trailing" if "trailing" in names else names[-1])
    assert kept.endswith(b"\xaa\xbb")


def test_examples_cover_every_class_and_command() -> None:
    classes = {type(message) for _, _, message, _ in EXAMPLES}
    public = {
        value
        for value in vars(m).values()
        if isinstance(value, type)
        and issubclass(value, m.Message)
        and value is not m.Message
        and not value.__name__.startswith("_")
    }
    assert public - classes == {m.UnknownMessage}
    by_decoder: dict[str, set[int]] = {}
    for decoder, command, _, _ in EXAMPLES:
        by_decoder.setdefault(decoder.__name__, set()).add(command)
    assert by_decoder["decode_upstream"] == m.UPSTREAM_COMMANDS
    assert by_decoder["decode_downstream"] == m.DOWNSTREAM_COMMANDS
    assert by_decoder["decode_server_reply"] == {
        0x20, 0x21, 0x01, 0x03, 0x15, 0x22, 0x12, 0x02, 0x04
    }  # fmt: skip
    assert by_decoder["decode_station_reply"] == m.DOWNSTREAM_COMMANDS - {0x81}


_CASES = sorted(
    {(decoder, command) for decoder, command, _, _ in EXAMPLES} | {(m.decode_upstream, 0x7F)},
    key=lambda case: (case[0].__name__, case[1]),
)


@pytest.mark.parametrize(
    "case", _CASES, ids=[f"{d.__name__.removeprefix('decode_')}-{c:02X}" for d, c in _CASES]
)
@settings(max_examples=25, deadline=None)
@given(payload=st.binary(max_size=64) | st.binary(min_size=64, max_size=247))
def test_any_payload_decodes_losslessly_or_raises(
    case: tuple[Decoder, int], payload: bytes
) -> None:
    decoder, command = case
    try:
        message = decoder(command, payload)
    except MessageError:
        return
    _assert_built_like_the_constructor(message)
    if isinstance(message, m.SetQrCode) and len(message.text) > 71:
        # A text filling all 72 bytes breaks the station (section 4, 0x8E): refused on encode.
        with pytest.raises(ValueError, match=r"SetQrCode\.text"):
            message.encode()
        return
    assert message.encode() == payload
    assert decoder(command, payload) == message


@settings(max_examples=50, deadline=None)
@given(
    raw=st.tuples(
        st.integers(0, 0xFFFF),
        st.integers(0, 0xFFFF),
        st.integers(0, 0xFFFF),
        st.integers(0, 0xFFFF),
    ),
    ambient=st.none() | st.integers(0, 255),
)
def test_power_heartbeat_scaled_values_round_trip(
    raw: tuple[int, int, int, int], ambient: int | None
) -> None:
    energy, power, voltage, current = raw
    message = dataclasses.replace(
        POWER_HEARTBEAT,
        energy_kwh=energy / 100,
        power_w=power / 10,
        voltage_v=voltage / 10,
        current_a=current / 1000,
        ambient_temp_raw=ambient,
        port_temp_raw=None,
        timestamp=None,
        occupancy_min=None,
    )
    decoded = m.PowerHeartbeat.decode(message.encode())
    assert decoded == message
    _assert_built_like_the_constructor(decoded)


# ---------------------------------------------------------------------------------------------
# Exact values and bytes


def test_power_heartbeat_optional_fields_step_by_step() -> None:
    payload = POWER_HEARTBEAT.encode()
    assert payload[31:] == bytes.fromhex("0100 E803 9808 C701 55 00 09 0E A9 5F 0C 00")
    expected: list[tuple[int, dict[str, Any]]] = [
        (31, {}),
        (33, {"interval_energy_raw": 1}),
        (35, {"peak_power_w": 100.0}),
        (37, {"voltage_v": 220.0}),
        (39, {"current_a": 0.455}),
        (40, {"ambient_temp_raw": 85}),
        (41, {"port_temp_raw": 0}),
        (45, {"timestamp": 1604914697}),
        (47, {"occupancy_min": 12}),
    ]
    fields: dict[str, Any] = dict.fromkeys(_optional_names(POWER_HEARTBEAT))
    for size, added in expected:
        fields.update(added)
        decoded = m.PowerHeartbeat.decode(payload[:size])
        assert {name: getattr(decoded, name) for name in fields} == fields
        assert decoded.trailing == b""
    # A partial field (one byte of the two of `voltage`) is kept in trailing, not decoded.
    partial = m.PowerHeartbeat.decode(payload[:36])
    assert partial.voltage_v is None
    assert partial.trailing == b"\x98"


def test_power_heartbeat_temperature_absent_versus_no_sensor() -> None:
    without = m.PowerHeartbeat.decode(POWER_HEARTBEAT.encode()[:39])
    no_sensor = m.PowerHeartbeat.decode(POWER_HEARTBEAT.encode()[:41])
    assert (without.ambient_temp_raw, without.port_temp_raw) == (None, None)
    assert (without.ambient_temp_c, without.port_temp_c) == (None, None)
    assert (no_sensor.ambient_temp_raw, no_sensor.port_temp_raw) == (85, 0)
    assert (no_sensor.ambient_temp_c, no_sensor.port_temp_c) == (20, None)
    assert len(without.encode()) == 39
    assert no_sensor.encode()[39:] == b"\x55\x00"


def test_heartbeat_bytes_and_temperature() -> None:
    heartbeat = m.Heartbeat(
        voltage_v=220.0, port_count=2, port_statuses=(1, 3), signal=0, temperature_c=None
    )
    assert heartbeat.encode() == bytes.fromhex("98 08 02 01 03 00 00")
    assert m.Heartbeat.decode(bytes.fromhex("98 08 02 01 03 00 00")).temperature_c is None
    assert m.Heartbeat.decode(bytes.fromhex("98 08 02 01 03 00 41")).temperature_c == 0
    assert m.Heartbeat.decode(bytes.fromhex("98 08 00 00 5A")).port_statuses == ()
    with pytest.raises(MessageError, match="Heartbeat payload of 6 bytes"):
        m.Heartbeat.decode(bytes.fromhex("98 08 02 01 03 00"))


def test_legacy_heartbeat_without_work_mode() -> None:
    # V8.6 removed the work mode byte from 0x01.
    payload = bytes.fromhex("7E 00 8C 08 02 00 03 00 00 E4 00 00 00 3B 02 29 07 02 20")
    heartbeat = m.LegacyHeartbeat.decode(payload)
    assert heartbeat.work_mode is None
    assert heartbeat.temperature_c == -33
    assert heartbeat.power_w == (0.0, 22.8)
    assert heartbeat.peak_power_w == (0.0, 57.1)
    assert heartbeat.firmware_version == "V1.26"
    assert heartbeat.encode() == payload


def test_register_short_and_properties() -> None:
    register = m.Register.decode(bytes.fromhex("7E 00 02 14 21"))
    assert register == m.Register(126, 2, 20, 0x21)
    assert register.firmware_version == "V1.26"
    assert m.Register(126, 2, 20, 0x21, 1, 0x0102).encode() == bytes.fromhex(
        "7E00 02 14 21 01 0201"
    )


def test_card_swipe_card2_and_card_hex() -> None:
    payload = bytes.fromhex("7A 8D 05 DD 04 FF 00 00 09 0E A9 5F 03 AA BB CC")
    swipe = m.CardSwipe.decode(payload)
    assert swipe == m.CardSwipe(0x7A8D05DD, 4, 0xFF, 0, 1604914697, b"\xaa\xbb\xcc")
    assert swipe.card_hex == "7A8D05DD"
    # card2_len announces more bytes than follow: nothing is invented, nothing is lost.
    truncated = m.CardSwipe.decode(payload[:-1])
    assert truncated.card2 is None
    assert truncated.trailing == bytes.fromhex("03 AA BB")
    assert truncated.encode() == payload[:-1]
    assert m.CardSwipe(1, 0, 0, 0, 0, b"").encode()[-1:] == b"\x00"


def test_card_ids_are_big_endian() -> None:
    assert m.CardReply(0x7A8D05DD, 0, 0, 10000, 1).encode() == bytes.fromhex(
        "7A 8D 05 DD 00 00 10 27 00 00 01"
    )
    settlement = m.Settlement.decode(m.Settlement(1, 0.0, 0.0, 0, 0, 0x01020304, 1, ORDER).encode())
    assert settlement.card_hex == "01020304"
    assert m.LegacyOrderConfirm(0, 0, 0xAB, 0, ORDER).card_hex == "000000AB"
    assert m.LockerChargeDone(0, 0.0, 0.0, 0, 0, 0, 0, ORDER).card_hex == "00000000"
    assert m.CardReply(0xDEADBEEF, 0, 0, 0, 0).card_hex == "DEADBEEF"


def test_settlement_optional_fields() -> None:
    full = m.Settlement(3600, 100.0, 0.48, 1, 1, 0, 1, ORDER, 100.0, 1604914697, 15)
    payload = full.encode()
    assert len(payload) == 37
    assert m.Settlement.decode(payload[:29]).second_max_power_w is None
    assert m.Settlement.decode(payload[:31]).timestamp is None
    assert m.Settlement.decode(payload[:35]).occupancy_min is None
    assert m.Settlement.decode(payload[:35]).timestamp == 1604914697
    assert m.Settlement.decode(payload).occupancy_min == 15


def test_charge_control_minimal_and_full() -> None:
    minimal = m.ChargeControl(0, 356, 1, 1, 0, ORDER_2, 28800, 500.0)
    assert minimal.encode() == bytes.fromhex(
        "00 64010000 01 01 0000 12345678123456781234567812345678 8070 8813"
    )
    assert CHARGE_CONTROL.encode()[25:] == bytes.fromhex("8070 8813 00 00 FFFF 02 00 01 1E 3C")
    stop = m.ChargeControl.decode(m.ChargeControl(0, 0, 1, 0, 0, ORDER_2).encode())
    assert stop.max_duration_s is None
    assert stop.max_power_w is None


def test_limits_short_vector_layout() -> None:
    assert m.Limits.decode(bytes.fromhex("A0 8C 20 4E")) == m.Limits(36000, 2000.0)
    assert LIMITS.encode() == bytes.fromhex("A0 8C 20 4E 8C 0A E8 03")


def test_run_parameters_bytes() -> None:
    assert RUN_PARAMETERS_1.encode() == bytes.fromhex("0300 0A00 14 0807 100E B400")
    assert RUN_PARAMETERS_2.encode() == bytes.fromhex(
        "2003 1E00 0807 0A 2C01 302A 2C01 2C01 0807 2C01 50 50 00 01"
    )
    assert m.RunParameters2.decode(RUN_PARAMETERS_2.encode()[:22]).qr_light is None


def test_charge_control_reply_old_firmware_sends_result_only() -> None:
    assert m.ChargeControlReply.decode(b"\x01") == m.ChargeControlReply(1)
    assert m.decode_station_reply(0x82, b"\x00") == m.ChargeControlReply(0)
    assert m.ChargeControlReply(5, ORDER_2, 0xFF, 3).encode() == b"\x05" + ORDER_2 + b"\xff\x03\x00"


def test_host_heartbeat_text_fields() -> None:
    message = m.HostHeartbeat(101, 0, 0, 99, 3, "898604", 0x51, 0, "86123", "V2")
    payload = message.encode()
    assert payload[9:29] == b"898604" + bytes(14)
    assert payload[32:] == b"86123" + bytes(10) + b"V2" + bytes(22)
    assert message.firmware_version == "V1.01"
    assert m.HostHeartbeat.decode(payload[:47]).imei == "86123"
    assert m.HostHeartbeat.decode(payload[:47]).module_version is None


def test_host_status_best_effort() -> None:
    assert m.HostStatus.decode(b"") == m.HostStatus()
    assert m.HostStatus.decode(b"\x01\x5a\x99") == m.HostStatus(1, 90, trailing=b"\x99")
    status = m.HostStatus.decode(HOST_STATUS.encode())
    assert len(HOST_STATUS.encode()) == 24
    assert status.temperature_c == 25
    assert status.voltage_v == 220.1
    assert status.current_a == 12.34
    assert status.energy_kwh == 1234.56
    assert status.meter_current_a == 5.67
    assert status.meter_energy_kwh == 6543.21
    assert status.live_temp_c == 35
    assert status.neutral_temp_c is None
    empty = m.HostStatus()
    assert (empty.temperature_c, empty.voltage_v, empty.current_a, empty.energy_kwh) == (
        None,
        None,
        None,
        None,
    )
    assert (empty.meter_current_a, empty.meter_energy_kwh) == (None, None)
    assert (empty.live_temp_c, empty.neutral_temp_c) == (None, None)


def test_sub_station_versions() -> None:
    payload = bytes.fromhex("01 21 00 7E00 3B37AB04")
    versions = m.SubStationVersions.decode(payload)
    assert versions.entries == (m.SubStationVersion(0x21, 0, 126, 0x04AB373B),)
    assert versions.entries[0].device_id == "04AB373B"
    assert m.SubStationVersions(()).encode() == b"\x00"
    with pytest.raises(MessageError):
        m.SubStationVersions.decode(payload[:-1])


def test_text_commands_bytes() -> None:
    qr = m.SetQrCode(1, "http://baidu.com").encode()
    assert qr == b"\x01\x00\x00\x00http://baidu.com" + bytes(56)
    assert m.SetQrCode.decode(qr).text == "http://baidu.com"
    assert m.SetQrCode(0, "x" * 71).encode()[-1] == 0
    temporary = m.TemporaryQrCode("abc").encode()
    assert temporary == b"abc" + bytes(197)
    assert m.TemporaryQrCode("a" * 200).encode() == b"a" * 200
    address = m.ChangeServerAddress(7054, 6, 0, "192.168.1.10").encode()
    assert address == bytes.fromhex("8E1B 06 00") + b"192.168.1.10" + bytes(34)


def test_eeprom_and_firmware_and_voice() -> None:
    assert m.WriteEeprom(0x0102, b"\xaa\xbb").encode() == bytes.fromhex("0201 02 AABB")
    assert m.ReadEeprom(0x0102, 32).encode() == bytes.fromhex("0201 20")
    assert m.EepromReadReply.decode(b"\x00\x01\x02") == m.EepromReadReply(0, b"\x01\x02")
    packet = m.FirmwarePacket(0xE0, 4, 1, b"\x01" * 200)
    assert packet.encode() == bytes.fromhex("0400 0100") + b"\x01" * 200
    assert packet.command == 0xE0
    assert m.decode_station_reply(0xF8, bytes.fromhex("01 0300")) == m.FirmwareReply(0xF8, 1, 3)
    assert m.PlayVoice(0, 3, b"\x01\x02\x03").encode() == bytes.fromhex("00 03 010203")
    # E4 (self-downloading upgrade) carries no packet; its reply, undocumented, is a result.
    assert m.decode_downstream(0xE4, b"") == m.UpgradeTrigger()
    assert m.decode_station_reply(0xE4, b"\x00") == m.CommandResult(0xE4, 0)


def test_fa_is_the_host_upgrade_start_when_empty_else_a_packet() -> None:
    """Host document 4.4: an empty FA starts the upgrade; the host answers result and 0000."""
    assert m.decode_downstream(0xFA, b"") == m.HostUpgradeStart()
    packet = m.FirmwarePacket(0xFA, 2, 1, b"\x07" * 200)
    assert m.decode_downstream(0xFA, packet.encode()) == packet
    with pytest.raises(MessageError):
        m.decode_downstream(0xFA, b"\x02\x00\x01")
    assert m.decode_station_reply(0xFA, bytes.fromhex("00 0000")) == m.FirmwareReply(0xFA, 0, 0)


def test_read_backs_reuse_the_setting_layout() -> None:
    assert m.decode_downstream(0x91, b"") == m.ReadParameters(0x91)
    assert m.decode_station_reply(0x90, RUN_PARAMETERS_1.encode()) == RUN_PARAMETERS_1
    assert m.decode_station_reply(0x92, bytes.fromhex("A08C 204E")) == m.Limits(36000, 2000.0)
    assert m.decode_station_reply(0x93, CARD_KEYS.encode()) == CARD_KEYS


def test_locker_release_reply_keeps_the_order_echo() -> None:
    reply = m.decode_station_reply(0x72, b"\x00" + ORDER)
    assert reply == m.CommandResult(0x72, 0, ORDER)


# ---------------------------------------------------------------------------------------------
# Unknown commands and dispatch


def test_unknown_messages_are_kept_raw() -> None:
    for decoder in (
        m.decode_upstream,
        m.decode_station_reply,
        m.decode_downstream,
        m.decode_server_reply,
    ):
        message = decoder(0x7F, b"\x01\x02")
        assert message == m.UnknownMessage(0x7F, b"\x01\x02")
        assert message.command == 0x7F
        assert message.encode() == b"\x01\x02"
    # 0x81 has no reply, and a station reply with an upstream command byte is unknown too.
    assert m.decode_station_reply(0x81, b"") == m.UnknownMessage(0x81, b"")
    assert m.decode_station_reply(0x21, b"\x00") == m.UnknownMessage(0x21, b"\x00")
    assert m.UnknownMessage.decode(b"\x09", command=0x09) == m.UnknownMessage(0x09, b"\x09")


def test_command_sets() -> None:
    assert {
        0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x11, 0x12, 0x15, 0x17, 0x20, 0x21, 0x22, 0x35,
        0x41, 0x42, 0x43, 0x44,
    } == m.UPSTREAM_COMMANDS  # fmt: skip
    assert {
        0x31, 0x32, 0x33, 0x34, 0x72, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89,
        0x8A, 0x8B, 0x8C, 0x8D, 0x8E, 0x8F, 0x90, 0x91, 0x92, 0x93, 0x95, 0x96, 0x97, 0x98,
        0xE0, 0xE1, 0xE2, 0xE4, 0xF8, 0xF9, 0xFA,
    } == m.DOWNSTREAM_COMMANDS  # fmt: skip
    assert not m.UPSTREAM_COMMANDS & m.DOWNSTREAM_COMMANDS


def test_command_property() -> None:
    assert m.Heartbeat(0.0, 0, (), 0, None).command == 0x21
    assert m.ResultReply(0x03).command == 0x03
    assert m.ResultReply(0x03).result == 0
    assert m.TimeReply(0x12, 5).encode() == b"\x05\x00\x00\x00"
    assert m.ReadParameters(0x93).command == 0x93
    assert m.CommandResult(0x8A, 2).command == 0x8A


# ---------------------------------------------------------------------------------------------
# Encoding errors


@pytest.mark.parametrize(
    ("message", "match"),
    [
        (m.Register(1, 1, 0, 0, None, 5), "Register.power_board_version is set but"),
        (
            dataclasses.replace(CHARGE_CONTROL, max_power_w=None),
            "ChargeControl.qr_light is set but the earlier ChargeControl.max_power_w",
        ),
        (m.Heartbeat(220.0, 2, (0,), 0, None), "port_count 2 but 1 port values"),
        (m.LegacyHeartbeat(1, 1.0, 1, (0,), (0.0,), (), 0, 0, 0, None), "port_count 1 but 0"),
        (m.Heartbeat(-1.0, 0, (), 0, None), "does not fit"),
        (m.Heartbeat(220.0, 1, (256,), 0, None), "range"),
        (m.Heartbeat(220.0, 0, (), 0, 200), "outside the wire range"),
        (m.Settlement(1, 0.0, 0.0, 0, 0, 0, 0, ORDER[:15]), "order_no must be exactly 16"),
        (m.CardSwipe(1 << 32, 0, 0, 0), "card id 4294967296"),
        (m.CardSwipe(1, 0, 0, 0, None, b"\x01"), "card2 is set but"),
        (m.CardSwipe(1, 0, 0, 0, 0, bytes(256)), "does not fit"),
        (m.CardKeys(0, b"\x00" * 5, b"\x00" * 6), "CardKeys.user_key must be exactly 6"),
        (m.SetQrCode(0, "x" * 72), "SetQrCode.text is 72 bytes, the field holds 71"),
        (m.SetQrCode(0, "二维码"), "Latin-1"),
        (m.SetQrCode(0, "x", b"\x00"), "SetQrCode.reserved"),
        (m.TemporaryQrCode("x" * 201), "holds 200"),
        (m.ChargeControlReply(0, ORDER[:4]), "ChargeControlReply.order_no"),
        (m.HostHeartbeat(1, 0, 0, 0, 0, "1" * 21, 0, 0), "iccid"),
        (m.WriteEeprom(0, bytes(256)), "does not fit"),
    ],
)
def test_encode_rejects_values_that_do_not_fit(message: m.Message, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        message.encode()


def test_missing_required_fields_name_the_message() -> None:
    with pytest.raises(MessageError, match=r"PowerHeartbeat payload of 30 bytes .* 31 bytes"):
        m.decode_upstream(0x06, POWER_HEARTBEAT.encode()[:30])
    with pytest.raises(MessageError, match="ResultReply"):
        m.decode_server_reply(0x21, b"")
    with pytest.raises(MessageError, match="CommandResult"):
        m.decode_station_reply(0x85, b"")


# ---------------------------------------------------------------------------------------------
# Helpers


def test_order_no_text() -> None:
    """Printable ASCII reads as typed (NUL padding dropped); anything else as 32 hex digits."""
    assert m.order_no_text(ORDER) == "20190901180000130030380102030405"
    assert m.order_no_text(ORDER_2) == "12345678123456781234567812345678"
    assert m.order_no_text(b"HA20240101000001") == "HA20240101000001"
    assert m.order_no_text(b"HA2024010100000\x00") == "HA2024010100000"
    assert m.order_no_text(b"ORD1" + bytes(12)) == "ORD1"
    assert m.order_no_text(b"AB\x00C" + bytes(12)) == "41420043" + "00" * 12
    assert m.order_no_text(bytes(range(16))) == "000102030405060708090A0B0C0D0E0F"
    assert m.order_no_text(bytes(16)) == "0" * 32
    assert m.order_no_text(b"\xff" * 16) == "F" * 32


def test_parse_order_no() -> None:
    """32 hex digits, or 1-16 printable ASCII characters NUL-padded to 16 bytes."""
    assert m.parse_order_no("20190901180000130030380102030405") == ORDER
    assert m.parse_order_no("ab" * 16) == b"\xab" * 16
    assert m.parse_order_no("HA20240101000001") == b"HA20240101000001"
    assert m.parse_order_no("ORD1") == b"ORD1" + bytes(12)
    for raw in (ORDER, ORDER_2, b"HA20240101000001", b"ORD1" + bytes(12), bytes(16)):
        assert m.parse_order_no(m.order_no_text(raw)) == raw
    for bad in (
        "",
        "订单",
        "A\tB",
        "G" * 32,
        "12 34 56 78 12 34 56 78 12 34 5",
        "HA2024010100000\t",
        "x" * 17,
    ):
        with pytest.raises(ValueError, match="is neither 32 hex digits nor"):
            m.parse_order_no(bad)


def test_temperature_helpers() -> None:
    assert m.temperature_from_wire(0) is None
    assert m.temperature_from_wire(65) == 0
    assert m.temperature_from_wire(5) == -60
    assert m.temperature_to_wire(None) == 0
    assert m.temperature_to_wire(20) == 85
    assert m.temperature_to_wire(-64) == 1
    assert m.temperature_to_wire(190) == 255
    for bad in (-65, 191):
        with pytest.raises(ValueError, match="outside the wire range"):
            m.temperature_to_wire(bad)


def test_firmware_version() -> None:
    # codes.firmware_text, tested in test_codes.py, is the one formatter.
    assert m.UpgradeRequest(0x21, 205, 1).firmware_version == "V2.05"
    assert m.UpgradeRequest().firmware_version is None
    assert m.decode_upstream(0x05, b"") == m.UpgradeRequest()
    assert m.Register(600, 2, 0, 0).firmware_version == "V6.00"
    assert m.LegacyHeartbeat(101, 0.0, 0, (), (), (), 0, 0, 0, None).firmware_version == "V1.01"
    assert m.HostHeartbeat(126, 0, 0, 0, 0, "", 0, 0).firmware_version == "V1.26"


# ---------------------------------------------------------------------------------------------
# Fast construction: decoders build messages without the dataclass __init__


def _values(message: m.Message) -> list[Any]:
    return [getattr(message, field.name) for field in dataclasses.fields(message)]  # type: ignore[arg-type]


def _assert_built_like_the_constructor(message: m.Message) -> None:
    """``message`` is exactly what the dataclass constructor builds from its values."""
    built = type(message)(*_values(message))
    # Dataclass equality also compares the classes, so a twin would not be equal.
    assert message == built
    assert hash(message) == hash(built)
    assert repr(message) == repr(built)
    assert not hasattr(message, "__dict__")
    first = dataclasses.fields(message)[0].name  # type: ignore[arg-type]
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(message, first, getattr(message, first))


@pytest.mark.parametrize("example", EXAMPLES, ids=_example_id)
def test_decoders_build_what_the_constructor_builds(
    example: tuple[Decoder, int, m.Message, int],
) -> None:
    decoder, command, message, required = example
    if _bytes_make_another_message(message):
        return
    payload = message.encode() + b"\xaa"
    for size in range(required, len(payload) + 1):
        _assert_built_like_the_constructor(decoder(command, payload[:size]))


@pytest.mark.parametrize(
    "vector", VECTORS, ids=lambda vector: f"{vector['direction']}-{vector['command']}"
)
def test_vectors_are_built_like_the_constructor(vector: dict[str, Any]) -> None:
    command = int(vector["command"], 16)
    payload = bytes.fromhex(vector["payload_hex"])
    message: m.Message
    if vector["direction"] == "up":
        if command in m.UPSTREAM_COMMANDS:
            message = m.decode_upstream(command, payload)
        else:
            message = m.decode_station_reply(command, payload)
    elif command in m.UPSTREAM_COMMANDS:
        message = m.decode_server_reply(command, payload)
    else:
        message = m.decode_downstream(command, payload)
    _assert_built_like_the_constructor(message)


@pytest.mark.parametrize("example", EXAMPLES, ids=_example_id)
def test_fast_constructor_builds_what_the_constructor_builds(
    example: tuple[Decoder, int, m.Message, int],
) -> None:
    message = example[2]
    cls = type(message)
    if issubclass(cls, layout._EmptyMessage):
        # Its field lives in a frozen base class: such classes keep their __init__.
        with pytest.raises(TypeError, match="cannot be built without __init__"):
            layout._fast_constructor(cls)
        return
    built = layout._fast_constructor(cls)(*_values(message))
    assert type(built) is cls
    _assert_built_like_the_constructor(built)
    assert built == message


@pytest.mark.parametrize("example", EXAMPLES, ids=_example_id)
def test_class_decode_is_the_dispatch_decoder(
    example: tuple[Decoder, int, m.Message, int],
) -> None:
    decoder, command, message, _ = example
    if _bytes_make_another_message(message):
        return
    payload = message.encode() + b"\x01"
    names = {field.name for field in dataclasses.fields(message)}  # type: ignore[arg-type]
    kwargs = {"command": command} if "command" in names else {}
    decoded = type(message).decode(payload, **kwargs)  # type: ignore[attr-defined]
    assert decoded == decoder(command, payload)
    _assert_built_like_the_constructor(decoded)


def test_dispatch_calls_the_generated_decoders() -> None:
    assert upstream._UPSTREAM[0x06] is upstream._POWER.decoder
    assert upstream._UPSTREAM[0x03] is upstream._SETTLEMENT.decoder
    assert upstream._UPSTREAM[0x20] is upstream._REGISTER.decoder
    assert upstream._UPSTREAM[0x21] is upstream._decode_heartbeat  # hand-written, built as a twin
    assert replies._STATION_REPLIES[0x92] is downstream._LIMITS.decoder
    generated = {layout._DECODERS[cls] for cls in layout._DECODERS}
    tables = (
        upstream._UPSTREAM,
        downstream._DOWNSTREAM,
        replies._SERVER_REPLIES,
        replies._STATION_REPLIES,
    )
    called = {getattr(decoder, "func", decoder) for table in tables for decoder in table.values()}
    assert generated <= called


def test_layout_must_name_every_field() -> None:
    @dataclasses.dataclass(frozen=True, slots=True)
    class Probe(m.Message):
        value: float
        trailing: bytes = b""

    with pytest.raises(TypeError, match="the layout of Probe does not name its fields"):
        layout._Layout(layout._Field("other", "B")).bind(Probe)
    probe_layout = layout._Layout(layout._Field("value", "H", 4))
    assert probe_layout.bind(Probe) is Probe
    assert probe_layout.decoder(b"\x0a\x00\x01") == Probe(2.5, b"\x01")
    with pytest.raises(MessageError, match="Probe payload of 1 bytes"):
        probe_layout.decoder(b"\x0a")
    # The layout writes the message back: the inverse of the divisor, then the rest.
    assert Probe(2.5, b"\x01").encode() == b"\x0a\x00\x01"


def test_a_builder_must_set_every_field_once() -> None:
    @dataclasses.dataclass(frozen=True, slots=True)
    class Probe(m.Message):
        value: int
        trailing: bytes = b""

    build = layout._compile_builder
    with pytest.raises(TypeError, match="must set every field of Probe once"):
        build(Probe, "new_probe", "value", {"value": "value"})  # trailing unset
    with pytest.raises(TypeError, match="must set every field of Probe once"):
        build(Probe, "new_probe", "p", {"value": "0", "trailing": "p"}, unpack="_m.value, = p")
    unpacked = build(Probe, "new_probe", "p", {"trailing": "b''"}, unpack="_m.value, = p")
    assert unpacked((7,)) == Probe(7)


def test_layout_encodes_from_the_declaration() -> None:
    # Every bound class's encode is the one Message.encode, written from its layout.
    assert m.Settlement._LAYOUT is upstream._SETTLEMENT
    assert m.Settlement.encode is m.Message.encode
    with pytest.raises(TypeError, match="the converter of value has no known inverse"):
        layout._Layout(layout._Field("value", "B", bool))

    @dataclasses.dataclass(frozen=True, slots=True)
    class Unbound(m.Message):
        value: int

    with pytest.raises(NotImplementedError, match="Unbound declares no layout"):
        Unbound(1).encode()

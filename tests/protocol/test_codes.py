"""Tests of the code tables (docs/protocol.md section 7)."""

from __future__ import annotations

import pytest

from custom_components.iot_zinx.protocol.codes import (
    AlarmType,
    CardAccountStatus,
    ChargeResult,
    CodeEnum,
    DeviceKind,
    HostType,
    ModuleType,
    PortStatus,
    PowerStatus,
    RateMode,
    StartMode,
    StopReason,
    describe,
    describe_label,
    device_model,
    device_type_name,
    firmware_text,
    is_charging_status,
    is_fault_status,
    is_plugged_status,
    lookup,
)

# The Chinese wording, as docs/protocol.md gives it (section 7 and the fields that carry the
# other codes), copied from the vendor's documents.
ZH: dict[type[CodeEnum], dict[int, str]] = {
    PortStatus: {
        0x00: "空闲",
        0x01: "充电中",
        0x02: "有充电器但未充电（用户未启动充电）",
        0x03: "有充电器但未充电（已充满电）",
        0x04: "该路无法计量",
        0x05: "浮充",
        0x06: "存储器损坏",
        0x07: "插座弹片卡住故障",
        0x08: "接触不良或保险丝烧断故障",
        0x09: "继电器粘连",
        0x0A: "霍尔开关损坏",
        0x0B: "预检-继电器坏或保险丝断",
        0x0D: "预检-负载短路",
        0x0E: "过滤性预检-继电器粘连",
        0x0F: "刷卡芯片损坏故障",
        0x10: "检测电路故障",
    },
    ChargeResult: {
        0x00: "执行成功",
        0x01: "端口未插充电器",
        0x02: "端口状态和充电命令相同",
        0x03: "端口故障",
        0x04: "无此端口号",
        0x05: "有多个待充端口",
        0x06: "多路设备功率超标",
        0x07: "存储器损坏",
        0x08: "预检-继电器坏或保险丝断",
        0x09: "预检-继电器粘连",
        0x0A: "预检-负载短路",
        0x0B: "烟感报警",
        0x0C: "过压",
        0x0D: "欠压",
        0x0E: "未响应",
    },
    StopReason: {
        0x01: "充满自停",
        0x02: "达到最大充电时间",
        0x03: "达到预设时间",
        0x04: "达到预设电量",
        0x05: "用户拔出",
        0x06: "负载过大",
        0x07: "服务器控制停止",
        0x08: "动态过载",
        0x09: "功率过小",
        0x0A: "环境温度过高",
        0x0B: "端口温度过高",
        0x0C: "过流",
        0x0D: "用户拔出-1，可能是插座弹片卡住",
        0x0E: "无功率停止，可能是接触不良或保险丝烧断故障",
        0x0F: "预检-继电器坏或保险丝断",
        0x10: "水浸断电",
        0x11: "灭火结算（本端口）",
        0x12: "灭火结算（非本端口）",
        0x13: "用户密码开柜断电",
        0x14: "未关好柜门",
        0x15: "外部操作停止",
        0x16: "刷卡操作停止",
        0x17: "服务器强制停止",
        0x18: "消防系统触发停止",
        0x19: "存储器错误",
        0x1A: "过压",
        0x1B: "欠压",
        0x1C: "低功率断电",
    },
    CardAccountStatus: {
        0x00: "正常",
        0x01: "未注册",
        0x02: "请绑卡",
        0x03: "请解卡",
        0x04: "包月用户重复刷卡",
        0x05: "包月用户已超限制次数",
        0x06: "余额不足",
        0x07: "包月用户已过有效期",
        0x08: "端口故障",
        0x09: "清除余额卡内金额且把联网卡扇区密码改为用户卡",
        0x0A: "包月用户已超限制时长",
        0x0B: "请勿跨公众号",
        0x0C: "此设备未注册",
        0x0D: "请购买包月",
        0x0E: "跨区充电，余额不足",
        0x0F: "包月设备，无法使用",
        0x10: "包月设备，跨区无法使用",
        0x11: "临时设备，无法使用",
        0x12: "临时设备，跨区无法使用",
    },
    AlarmType: {
        1: "断电",
        2: "水浸",
        3: "热熔胶触发",
        4: "烟感报警",
        5: "温感报警",
        6: "水位报警",
        7: "柜门弹开",
    },
    DeviceKind: {
        0x03: "单路插座",
        0x04: "双路插座",
        0x05: "10路充电桩",
        0x06: "16路充电桩",
        0x07: "12路充电桩",
        0x09: "主机",
        0x0A: "漏保主机",
    },
    HostType: {
        0x01: "旧款485",
        0x02: "旧款lora",
        0x03: "新款lora",
        0x04: "433无线",
        0x05: "AP262 LORA",
        0x50: "AP262合装主机",
        0x51: "漏保主机",
    },
    ModuleType: {
        1: "WIFI(B2)",
        2: "2G（GM3）",
        3: "4G（7S4/G405）",
        4: "2G（GM35）",
        5: "NB（M5311）",
        6: "4G-CAT1（GM5）",
        7: "有人帮开发的OpenCpu 4G-CAT1（GM5）",
        8: "4G-CAT1（GM6）",
    },
    RateMode: {0: "计时", 1: "包月", 2: "计量", 3: "计次"},
    StartMode: {0: "离线刷卡启动充电", 1: "在线服务器指令启动", 3: "验证码启动"},
    PowerStatus: {1: "正常充电", 3: "已充满", 5: "浮充"},
}


@pytest.mark.parametrize("enum_cls", list(ZH), ids=lambda cls: cls.__name__)
def test_table_wording(enum_cls: type[CodeEnum]) -> None:
    assert {member.value: member.zh for member in enum_cls} == ZH[enum_cls]
    for member in enum_cls:
        assert isinstance(member.value, int)
        assert describe(enum_cls, member.value) == member.zh
        assert describe_label(enum_cls, member.value) == member.label
        assert lookup(enum_cls, member.value) is member
    labels = [member.label for member in enum_cls]
    assert all(labels)
    assert len(set(labels)) == len(labels)


@pytest.mark.parametrize(
    ("member", "label"),
    [
        (PortStatus.IDLE, "idle"),
        (PortStatus.PLUGGED_FULL, "charger plugged in, full"),
        (PortStatus.DETECTION_CIRCUIT_FAULT, "detection circuit fault"),
        (ChargeResult.SEVERAL_PORTS_WAITING, "several ports waiting"),
        (StopReason.FULL, "full, stopped by itself"),
        (StopReason.LOW_POWER_CUT, "low power cut"),
        (CardAccountStatus.NOT_REGISTERED, "card not registered"),
        (AlarmType.DOOR_SPRUNG_OPEN, "locker door sprung open"),
        (DeviceKind.LEAKAGE_HOST, "host gateway with leakage protection"),
        (HostType.AP262_COMBINED, "AP262 combined host"),
        (ModuleType.CAT1_GM6, "4G Cat1 GM6"),
        (RateMode.PER_USE, "per use"),
        (StartMode.VERIFICATION_CODE, "verification code"),
        (PowerStatus.FULL, "full"),
    ],
)
def test_labels(member: CodeEnum, label: str) -> None:
    assert member.label == label


def test_members_are_plain_integers() -> None:
    assert PortStatus.CHARGING == 1
    assert PortStatus(1) is PortStatus.CHARGING
    assert int(StopReason.LOW_POWER_CUT) == 0x1C
    assert f"{ChargeResult.NO_RESPONSE:02X}" == "0E"
    assert sorted([PortStatus.FLOAT_CHARGING, 2, PortStatus.IDLE]) == [0, 2, 5]


@pytest.mark.parametrize(
    ("enum_cls", "code", "zh", "label"),
    [
        (PortStatus, 0x0C, "未知(0x0C)", "unknown (0x0C)"),
        (PortStatus, 0x11, "未知(0x11)", "unknown (0x11)"),
        (StopReason, 0x00, "未知(0x00)", "unknown (0x00)"),
        (StopReason, 0x1D, "未知(0x1D)", "unknown (0x1D)"),
        (ChargeResult, 0xFF, "未知(0xFF)", "unknown (0xFF)"),
        (PowerStatus, 2, "未知(0x02)", "unknown (0x02)"),
        (StartMode, 2, "未知(0x02)", "unknown (0x02)"),
        (DeviceKind, 0x300, "未知(0x300)", "unknown (0x300)"),
    ],
)
def test_unknown_codes_are_described_not_rejected(
    enum_cls: type[CodeEnum], code: int, zh: str, label: str
) -> None:
    assert describe(enum_cls, code) == zh
    assert describe_label(enum_cls, code) == label
    assert lookup(enum_cls, code) is None


def test_describe_accepts_members() -> None:
    assert describe(PortStatus, PortStatus.CHARGING) == "充电中"
    assert describe(StopReason, StopReason.FULL) == "充满自停"


def test_status_predicates_over_every_byte() -> None:
    codes = range(0x100)
    assert {code for code in codes if is_charging_status(code)} == {0x01, 0x05}
    assert {code for code in codes if is_plugged_status(code)} == {0x01, 0x02, 0x03, 0x05}
    assert {code for code in codes if is_fault_status(code)} == {0x04, *range(0x06, 0x100)}
    # Members work as well as raw codes.
    assert is_charging_status(PortStatus.FLOAT_CHARGING)
    assert not is_fault_status(PortStatus.PLUGGED_FULL)


@pytest.mark.parametrize(
    ("device_type", "kind", "name"),
    [
        (0x21, None, "RS-485 dual-mode"),
        (0x21, 0x04, "RS-485 dual-mode"),
        (0x10, 0x04, "RS-485"),
        (0x14, 0x04, "NB"),
        (0x20, 0x05, "10/16-port"),
        (0x22, None, "NB dual-mode"),
        (0x23, None, "GM35 dual-mode"),
        (0x24, None, "Wi-Fi dual-mode"),
        (0x25, None, "LoRa dual-mode"),
        (0x26, None, "HW3000 dual-mode"),
        (0x27, None, "GM5 dual-mode"),
        (0x28, None, "RS-485 dual-mode F460"),
        (0x29, 0x06, "10/16-port F460"),
        (0x30, 0x07, "12-port F460"),
        (0x05, 0x03, "old LoRa high-power"),
        (0x06, 0x04, "old RS-485"),
        (0x07, 0x04, "old RS-485 high-power"),
        (0x08, 0x04, "old NB"),
        (0x09, 0x04, "old NB high-power"),
        (0x0A, 0x04, "old wireless"),
        (0x0B, 0x04, "old wireless high-power"),
        (0x70, 0x05, "oldest 10/16-port"),
        (0x71, 0x06, "oldest 10/16-port"),
        # Old firmware reuses 1/2/3 (and 04) by kind byte (docs/protocol.md 7.6).
        (0x01, 0x04, "old RS-485"),
        (0x03, 0x03, "old RS-485"),
        (0x01, None, "old RS-485 or 10/16-port"),
        (0x02, 0x04, "old LoRa"),
        (0x02, None, "old LoRa"),
        (0x01, 0x05, "old 10/16-port"),
        (0x02, 0x06, "old 10/16-port"),
        (0x03, 0x05, "old 10/16-port"),
        (0x04, 0x06, "old 10/16-port"),
        (0x04, 0x04, None),
        (0x00, None, None),
        (0x31, 0x07, None),
        (0xFF, None, None),
    ],
)
def test_device_type_name(device_type: int, kind: int | None, name: str | None) -> None:
    assert device_type_name(device_type, kind) == name


def test_device_type_name_without_kind() -> None:
    assert device_type_name(0x21) == "RS-485 dual-mode"
    assert device_type_name(0x99) is None


@pytest.mark.parametrize(
    ("kind", "device_type", "model"),
    [
        (0x04, 0x21, "AP3000 dual socket (RS-485 dual-mode)"),
        (0x04, None, "AP3000 dual socket"),
        (0x04, 0x99, "AP3000 dual socket"),
        (0x03, 0x01, "AP3000 single socket (old RS-485)"),
        (0x05, 0x01, "AP3000 10-port station (old 10/16-port)"),
        (0x06, 0x29, "AP3000 16-port station (10/16-port F460)"),
        (0x07, 0x30, "AP3000 12-port station (12-port F460)"),
        (0x09, None, "AP3000 host gateway"),
        (0x0A, None, "AP3000 host gateway with leakage protection"),
        (0x0B, None, "AP3000 (kind 0x0B)"),
        (0x00, 0x21, "AP3000 (kind 0x00) (RS-485 dual-mode)"),
    ],
)
def test_device_model(kind: int, device_type: int | None, model: str) -> None:
    assert device_model(kind, device_type) == model


def test_device_model_default_device_type() -> None:
    assert device_model(0x04) == "AP3000 dual socket"


@pytest.mark.parametrize(
    ("firmware", "text"),
    [(126, "V1.26"), (100, "V1.00"), (5, "V0.05"), (0, "V0.00"), (2101, "V21.01"), (650, "V6.50")],
)
def test_firmware_text(firmware: int, text: str) -> None:
    assert firmware_text(firmware) == text

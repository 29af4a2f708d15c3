"""Code tables of the DNY protocol, with the vendor's Chinese wording and an English label.

docs/protocol.md section 7. Each member carries ``.zh``, the vendor's wording (the events send
it verbatim, docs/events.md), and ``.label``, an English description for logs and the UI. The
Chinese text is copied exactly: for 7.1, 7.2 and 7.3 from the station document's tables, for
the others from the vendor's protocol documents (device-server v8.6, host-server v2.9);
docs/protocol.md reproduces all of it.

Stations invent codes faster than documents list them, so an unknown code is never an error:
``describe`` and ``describe_label`` render it as ``未知(0x1C)`` / ``unknown (0x1C)``.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Self


class CodeEnum(IntEnum):
    """An ``IntEnum`` whose members are declared as ``value, label, zh``."""

    _value_: int
    label: str
    zh: str

    def __new__(cls, value: int, label: str, zh: str) -> Self:
        member = int.__new__(cls, value)
        member._value_ = value
        member.label = label
        member.zh = zh
        return member


class PortStatus(CodeEnum):
    """Port status of the 0x21 and 0x01 heartbeats (docs/protocol.md 7.1).

    0x0C is not assigned by the station's table; the gateway's third-party documentation
    numbers 0x0C-0x0F differently, and the station's table is authoritative.
    """

    IDLE = 0x00, "idle", "空闲"
    CHARGING = 0x01, "charging", "充电中"
    PLUGGED_NOT_STARTED = (
        0x02,
        "charger plugged in, not started",
        "有充电器但未充电（用户未启动充电）",
    )
    PLUGGED_FULL = 0x03, "charger plugged in, full", "有充电器但未充电（已充满电）"
    CANNOT_METER = 0x04, "cannot meter", "该路无法计量"
    FLOAT_CHARGING = 0x05, "float charging", "浮充"
    MEMORY_DAMAGED = 0x06, "memory damaged", "存储器损坏"
    CONTACT_STUCK = 0x07, "socket contact stuck", "插座弹片卡住故障"
    POOR_CONTACT_OR_FUSE = 0x08, "poor contact or blown fuse", "接触不良或保险丝烧断故障"
    RELAY_WELDED = 0x09, "relay welded (algorithm)", "继电器粘连"
    HALL_SENSOR_BROKEN = 0x0A, "hall sensor broken", "霍尔开关损坏"
    PRECHECK_RELAY_OR_FUSE = (
        0x0B,
        "pre-check: relay broken or fuse blown",
        "预检-继电器坏或保险丝断",
    )
    PRECHECK_SHORT_CIRCUIT = 0x0D, "pre-check: load short circuit", "预检-负载短路"
    PRECHECK_RELAY_WELDED = 0x0E, "pre-check: relay welded", "过滤性预检-继电器粘连"
    CARD_READER_BROKEN = 0x0F, "card reader chip broken", "刷卡芯片损坏故障"
    DETECTION_CIRCUIT_FAULT = 0x10, "detection circuit fault", "检测电路故障"


class ChargeResult(CodeEnum):
    """Result code of the station's reply to 0x82 start/stop charging (docs/protocol.md 7.2)."""

    DONE = 0x00, "done", "执行成功"
    NO_CHARGER = 0x01, "no charger plugged in", "端口未插充电器"
    ALREADY_IN_STATE = 0x02, "port already in that state", "端口状态和充电命令相同"
    PORT_FAULT = 0x03, "port fault", "端口故障"
    NO_SUCH_PORT = 0x04, "no such port", "无此端口号"
    SEVERAL_PORTS_WAITING = 0x05, "several ports waiting", "有多个待充端口"
    POWER_OVER_LIMIT = 0x06, "total power over the station's limit", "多路设备功率超标"
    MEMORY_DAMAGED = 0x07, "memory damaged", "存储器损坏"
    PRECHECK_RELAY_OR_FUSE = (
        0x08,
        "pre-check: relay broken or fuse blown",
        "预检-继电器坏或保险丝断",
    )
    PRECHECK_RELAY_WELDED = 0x09, "pre-check: relay welded", "预检-继电器粘连"
    PRECHECK_SHORT_CIRCUIT = 0x0A, "pre-check: load short circuit", "预检-负载短路"
    SMOKE_ALARM = 0x0B, "smoke alarm", "烟感报警"
    OVER_VOLTAGE = 0x0C, "over-voltage", "过压"
    UNDER_VOLTAGE = 0x0D, "under-voltage", "欠压"
    NO_RESPONSE = 0x0E, "no response", "未响应"


class StopReason(CodeEnum):
    """Why an order stopped, from the 0x03 settlement (docs/protocol.md 7.3).

    Code 1 is "充满自停" (the station's own table), not the "手动停止" of the gateway
    documentation's example (docs/events.md, stop_reason note).
    """

    FULL = 0x01, "full, stopped by itself", "充满自停"
    MAX_DURATION = 0x02, "maximum charging time", "达到最大充电时间"
    PRESET_TIME = 0x03, "preset time", "达到预设时间"
    PRESET_ENERGY = 0x04, "preset energy", "达到预设电量"
    UNPLUGGED = 0x05, "unplugged", "用户拔出"
    OVERLOAD = 0x06, "overload", "负载过大"
    SERVER = 0x07, "stopped by the server", "服务器控制停止"
    DYNAMIC_OVERLOAD = 0x08, "dynamic overload", "动态过载"
    POWER_TOO_LOW = 0x09, "power too low", "功率过小"
    AMBIENT_TOO_HOT = 0x0A, "ambient too hot", "环境温度过高"
    PORT_TOO_HOT = 0x0B, "port too hot", "端口温度过高"
    OVER_CURRENT = 0x0C, "over-current", "过流"
    UNPLUGGED_CONTACT_STUCK = (
        0x0D,
        "unplugged, contact may be stuck",
        "用户拔出-1，可能是插座弹片卡住",
    )
    NO_POWER = (
        0x0E,
        "no power, poor contact or blown fuse",
        "无功率停止，可能是接触不良或保险丝烧断故障",
    )
    PRECHECK_RELAY_OR_FUSE = (
        0x0F,
        "pre-check: relay broken or fuse blown",
        "预检-继电器坏或保险丝断",
    )
    WATER = 0x10, "water", "水浸断电"
    FIRE_THIS_PORT = 0x11, "fire suppression, this port", "灭火结算（本端口）"
    FIRE_OTHER_PORT = 0x12, "fire suppression, another port", "灭火结算（非本端口）"
    USER_PASSWORD = 0x13, "opened with the user's password", "用户密码开柜断电"
    DOOR_NOT_CLOSED = 0x14, "door not closed", "未关好柜门"
    EXTERNAL = 0x15, "stopped from outside", "外部操作停止"
    CARD = 0x16, "stopped by card", "刷卡操作停止"
    SERVER_FORCED = 0x17, "forced by the server", "服务器强制停止"
    FIRE_SYSTEM = 0x18, "fire system", "消防系统触发停止"
    MEMORY_ERROR = 0x19, "memory error", "存储器错误"
    OVER_VOLTAGE = 0x1A, "over-voltage", "过压"
    UNDER_VOLTAGE = 0x1B, "under-voltage", "欠压"
    LOW_POWER_CUT = 0x1C, "low power cut", "低功率断电"


class CardAccountStatus(CodeEnum):
    """Account status the server answers to a 0x02 card swipe (docs/protocol.md 7.4).

    The station plays a voice prompt for each; the Chinese text is the v8.6 document's.
    """

    NORMAL = 0x00, "normal", "正常"
    NOT_REGISTERED = 0x01, "card not registered", "未注册"
    BIND_CARD = 0x02, "bind the card (swipe again)", "请绑卡"
    UNBIND_CARD = 0x03, "unbind the card (swipe again)", "请解卡"
    MONTHLY_ALREADY_CHARGING = 0x04, "monthly user already charging", "包月用户重复刷卡"
    MONTHLY_COUNT_EXCEEDED = 0x05, "monthly count exceeded", "包月用户已超限制次数"
    BALANCE_TOO_LOW = 0x06, "balance too low", "余额不足"
    MONTHLY_EXPIRED = 0x07, "monthly expired", "包月用户已过有效期"
    PORT_FAULT = 0x08, "port fault", "端口故障"
    CLEAR_BALANCE_CARD = (
        0x09,
        "clear balance card",
        "清除余额卡内金额且把联网卡扇区密码改为用户卡",
    )
    MONTHLY_DURATION_EXCEEDED = 0x0A, "monthly duration exceeded", "包月用户已超限制时长"
    WRONG_OPERATOR = 0x0B, "wrong operator account", "请勿跨公众号"
    STATION_NOT_REGISTERED = 0x0C, "station not registered", "此设备未注册"
    BUY_MONTHLY = 0x0D, "buy a monthly plan", "请购买包月"
    CROSS_AREA_BALANCE_TOO_LOW = 0x0E, "cross-area, balance too low", "跨区充电，余额不足"
    MONTHLY_STATION = 0x0F, "monthly station, cannot use", "包月设备，无法使用"
    MONTHLY_STATION_CROSS_AREA = (
        0x10,
        "monthly station, cross-area",
        "包月设备，跨区无法使用",
    )
    TEMPORARY_STATION = 0x11, "temporary station, cannot use", "临时设备，无法使用"
    TEMPORARY_STATION_CROSS_AREA = (
        0x12,
        "temporary station, cross-area",
        "临时设备，跨区无法使用",
    )


class AlarmType(CodeEnum):
    """Alarm type of the 0x42 alarm push (docs/protocol.md 7.5; Chinese text from v8.6)."""

    POWER_CUT = 0x01, "power cut", "断电"
    WATER = 0x02, "water", "水浸"
    HOT_MELT = 0x03, "hot-melt trigger", "热熔胶触发"
    SMOKE = 0x04, "smoke", "烟感报警"
    HEAT = 0x05, "heat", "温感报警"
    WATER_LEVEL = 0x06, "water level", "水位报警"
    DOOR_SPRUNG_OPEN = 0x07, "locker door sprung open", "柜门弹开"


class DeviceKind(CodeEnum):
    """The top byte of the physical id (docs/protocol.md section 2, "Physical id")."""

    SINGLE_SOCKET = 0x03, "single socket", "单路插座"
    DUAL_SOCKET = 0x04, "dual socket", "双路插座"
    PORTS_10 = 0x05, "10-port station", "10路充电桩"
    PORTS_16 = 0x06, "16-port station", "16路充电桩"
    PORTS_12 = 0x07, "12-port station", "12路充电桩"
    HOST = 0x09, "host gateway", "主机"
    LEAKAGE_HOST = 0x0A, "host gateway with leakage protection", "漏保主机"


class HostType(CodeEnum):
    """``host_type`` of the 0x11 host heartbeat (docs/protocol.md 7.6; Chinese from host v2.9)."""

    OLD_RS485 = 0x01, "old RS-485", "旧款485"
    OLD_LORA = 0x02, "old LoRa", "旧款lora"
    NEW_LORA = 0x03, "new LoRa", "新款lora"
    WIRELESS_433 = 0x04, "433 MHz wireless", "433无线"
    AP262_LORA = 0x05, "AP262 LoRa", "AP262 LORA"
    AP262_COMBINED = 0x50, "AP262 combined host", "AP262合装主机"
    LEAKAGE_PROTECTION = 0x51, "leakage-protection host", "漏保主机"


class ModuleType(CodeEnum):
    """Communication module of a host, 0x11 ``module_type`` (docs/protocol.md 7.6; host v2.9)."""

    WIFI = 0x01, "Wi-Fi", "WIFI(B2)"
    GSM_GM3 = 0x02, "2G GM3", "2G（GM3）"
    LTE = 0x03, "4G", "4G（7S4/G405）"
    GSM_GM35 = 0x04, "2G GM35", "2G（GM35）"
    NB_M5311 = 0x05, "NB M5311", "NB（M5311）"
    CAT1_GM5 = 0x06, "4G Cat1 GM5", "4G-CAT1（GM5）"
    CAT1_GM5_OPENCPU = 0x07, "Cat1 OpenCPU GM5", "有人帮开发的OpenCpu 4G-CAT1（GM5）"
    CAT1_GM6 = 0x08, "4G Cat1 GM6", "4G-CAT1（GM6）"


class RateMode(CodeEnum):
    """Billing mode of the 0x02 reply and of 0x82 (docs/protocol.md 3, 0x02; 4, 0x82)."""

    TIME = 0x00, "time", "计时"
    MONTHLY = 0x01, "monthly", "包月"
    ENERGY = 0x02, "energy", "计量"
    PER_USE = 0x03, "per use", "计次"


class StartMode(CodeEnum):
    """How an order was started, in 0x03, 0x04 and 0x06 (docs/protocol.md section 3, 0x03)."""

    OFFLINE_CARD = 0x00, "offline card", "离线刷卡启动充电"
    ONLINE = 0x01, "online, by the server", "在线服务器指令启动"
    VERIFICATION_CODE = 0x03, "verification code", "验证码启动"


class PowerStatus(CodeEnum):
    """``status`` of the 0x06 port power heartbeat; other values are noise (docs/protocol.md 3)."""

    CHARGING = 0x01, "charging", "正常充电"
    FULL = 0x03, "full", "已充满"
    FLOAT_CHARGING = 0x05, "float charging", "浮充"


def lookup[E: CodeEnum](enum_cls: type[E], code: int) -> E | None:
    """The member for ``code``, or ``None`` when the table does not list it."""
    # Not ``enum_cls(code)``: the members' ``__new__`` takes (value, label, zh), and a dict
    # look-up is also cheaper than raising ValueError for every unknown code.
    member = enum_cls._value2member_map_.get(code)
    return member if isinstance(member, enum_cls) else None


def describe(enum_cls: type[CodeEnum], code: int) -> str:
    """The vendor's Chinese wording for ``code``; ``未知(0x1C)`` when unknown."""
    member = lookup(enum_cls, code)
    return f"未知(0x{code:02X})" if member is None else member.zh


def describe_label(enum_cls: type[CodeEnum], code: int) -> str:
    """The English label for ``code``; ``unknown (0x1C)`` when unknown."""
    member = lookup(enum_cls, code)
    return f"unknown (0x{code:02X})" if member is None else member.label


def is_charging_status(code: int) -> bool:
    """Port status 0x01 charging or 0x05 float charging (docs/protocol.md 7.1)."""
    return code in (PortStatus.CHARGING, PortStatus.FLOAT_CHARGING)


def is_fault_status(code: int) -> bool:
    """Port status 0x04 or anything from 0x06 up, unknown codes included (docs/protocol.md 7.1)."""
    return code == PortStatus.CANNOT_METER or code >= PortStatus.MEMORY_DAMAGED


def is_plugged_status(code: int) -> bool:
    """A charger is plugged in: charging, plugged but idle, full, or float charging (7.1)."""
    return code in (
        PortStatus.CHARGING,
        PortStatus.PLUGGED_NOT_STARTED,
        PortStatus.PLUGGED_FULL,
        PortStatus.FLOAT_CHARGING,
    )


# docs/protocol.md 7.6, the device_type byte of 0x20 and 0x01. Old models reuse 1/2/3 (and 04 on
# 10/16-port stations) for different hardware depending on the kind byte; see
# ``device_type_name``.
_DEVICE_TYPES: dict[int, str] = {
    0x02: "old LoRa",
    0x05: "old LoRa high-power",
    0x06: "old RS-485",
    0x07: "old RS-485 high-power",
    0x08: "old NB",
    0x09: "old NB high-power",
    0x0A: "old wireless",
    0x0B: "old wireless high-power",
    0x70: "oldest 10/16-port",
    0x71: "oldest 10/16-port",
    0x10: "RS-485",
    0x14: "NB",
    0x20: "10/16-port",
    0x21: "RS-485 dual-mode",
    0x22: "NB dual-mode",
    0x23: "GM35 dual-mode",
    0x24: "Wi-Fi dual-mode",
    0x25: "LoRa dual-mode",
    0x26: "HW3000 dual-mode",
    0x27: "GM5 dual-mode",
    0x28: "RS-485 dual-mode F460",
    0x29: "10/16-port F460",
    0x30: "12-port F460",
}
_MULTI_PORT_KINDS = (DeviceKind.PORTS_10, DeviceKind.PORTS_16)


def device_type_name(device_type: int, kind: int | None = None) -> str | None:
    """English name of a ``device_type`` byte (docs/protocol.md 7.6), ``None`` when unknown.

    Old firmware sends 1/2/3 on both RS-485 sockets and 10/16-port stations (the vendor's
    table: "1/2/3 or none = RS-485 or 10/16-port, by kind byte"), and 04 on old 10-port ones,
    so ``kind`` (the physical id's top byte) settles those codes when it is known.
    """
    if device_type in (0x01, 0x02, 0x03, 0x04) and kind in _MULTI_PORT_KINDS:
        return "old 10/16-port"
    if device_type in (0x01, 0x03):
        return "old RS-485 or 10/16-port" if kind is None else "old RS-485"
    return _DEVICE_TYPES.get(device_type)


def device_model(kind: int, device_type: int | None = None) -> str:
    """Model text for the device registry: ``"AP3000 dual socket (RS-485 dual-mode)"``."""
    member = lookup(DeviceKind, kind)
    model = f"AP3000 (kind 0x{kind:02X})" if member is None else f"AP3000 {member.label}"
    name = None if device_type is None else device_type_name(device_type, kind)
    return model if name is None else f"{model} ({name})"


def firmware_text(firmware: int) -> str:
    """Firmware number as the vendor writes it: 126 -> ``"V1.26"`` (docs/protocol.md 3, 0x20)."""
    return f"V{firmware // 100}.{firmware % 100:02d}"

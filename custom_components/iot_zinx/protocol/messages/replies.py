"""Replies, both ways: the server's to upstream messages, the station's to commands.

docs/protocol.md 3 (the server's replies, which reuse the upstream command byte) and 4 (the
station's replies, which reuse the downstream command byte). ``decode_station_reply`` is the
server's decoder of a reply to a command it sent; ``decode_server_reply`` the simulator's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import ClassVar, Self

from .downstream import (
    DOWNSTREAM_COMMANDS,
    CardKeys,
    ChargeControl,
    FirmwarePacket,
    Limits,
    QueryStatus,
    ReadEeprom,
    ReadParameters,
    RunParameters1,
    RunParameters2,
)
from .layout import (
    Message,
    UnknownMessage,
    _DeclaredMessage,
    _decoder,
    _Field,
    _Layout,
    _new_unknown,
)
from .values import _card_hex, _read_card_id

# ---------------------------------------------------------------------------------------------
# Server replies to upstream messages (docs/protocol.md section 3)


_RESULT_REPLY = _Layout(_Field("result", "B"), params=("command",))


@_RESULT_REPLY.bind
@dataclass(frozen=True, slots=True)
class ResultReply(Message):
    """The server's ``result u8`` (0 = ok) to 0x20, 0x21, 0x01, 0x03 and 0x15."""

    COMMANDS: ClassVar[frozenset[int]] = frozenset({0x20, 0x21, 0x01, 0x03, 0x15})

    # field() stops dataclass from taking the inherited Message.command property as a default.
    command: int = field()
    result: int = 0
    trailing: bytes = b""

    @classmethod
    def decode(cls, payload: bytes, *, command: int) -> Self:
        """Decode the reply to ``command``."""
        return _RESULT_REPLY.decode(cls, payload, command)


_TIME_REPLY = _Layout(_Field("unix_time", "I"), params=("command",))


@_TIME_REPLY.bind
@dataclass(frozen=True, slots=True)
class TimeReply(Message):
    """The server's time (Unix seconds) in reply to 0x22 and 0x12."""

    COMMANDS: ClassVar[frozenset[int]] = frozenset({0x22, 0x12})

    # field() stops dataclass from taking the inherited Message.command property as a default.
    command: int = field()
    unix_time: int
    trailing: bytes = b""

    @classmethod
    def decode(cls, payload: bytes, *, command: int) -> Self:
        """Decode the reply to ``command``."""
        return _TIME_REPLY.decode(cls, payload, command)


_CARD_REPLY = _Layout(
    _Field("card_id", "4s", _read_card_id),
    _Field("account_status", "B"),
    _Field("rate_mode", "B"),
    _Field("balance_or_expiry", "I"),
    _Field("port", "B"),
)


@_CARD_REPLY.bind
@dataclass(frozen=True, slots=True)
class CardReply(_DeclaredMessage):
    """The server's decision on a 0x02 card swipe."""

    COMMAND: ClassVar[int] = 0x02

    card_id: int
    account_status: int  # codes.CardAccountStatus (section 7.4)
    rate_mode: int  # 0 time, 1 monthly, 2 energy, 3 per use
    balance_or_expiry: int  # fen, or a Unix expiry for monthly
    port: int  # the swipe's port, echoed
    trailing: bytes = b""

    @property
    def card_hex(self) -> str:
        """The card id as 8 upper-case hex digits."""
        return _card_hex(self.card_id)


_ORDER_CONFIRM_REPLY = _Layout(_Field("port", "B"), _Field("result", "B"))


@_ORDER_CONFIRM_REPLY.bind
@dataclass(frozen=True, slots=True)
class OrderConfirmReply(_DeclaredMessage):
    """The server's reply to a 0x04 order confirmation."""

    COMMAND: ClassVar[int] = 0x04

    port: int
    result: int = 0
    trailing: bytes = b""


# ---------------------------------------------------------------------------------------------
# Station replies to downstream commands (docs/protocol.md section 4)


_COMMAND_RESULT = _Layout(_Field("result", "B"), params=("command",))


@_COMMAND_RESULT.bind
@dataclass(frozen=True, slots=True)
class CommandResult(Message):
    """The station's ``result u8`` (0 = done) to a downstream command.

    Bytes after the result (0x72 echoes the order number, 0x98 may add parameters) are kept in
    ``trailing``.
    """

    # field() stops dataclass from taking the inherited Message.command property as a default.
    command: int = field()
    result: int
    trailing: bytes = b""

    @classmethod
    def decode(cls, payload: bytes, *, command: int) -> Self:
        """Decode the reply to ``command``."""
        return _COMMAND_RESULT.decode(cls, payload, command)


_CHARGE_REPLY = _Layout(
    _Field("result", "B"),
    # The order number, port and waiting ports arrived in V6.2; older stations answer the
    # result only, and the result is what matters (section 4, 0x82).
    optional=(_Field("order_no", "16s"), _Field("port", "B"), _Field("waiting_ports", "H")),
)


@_CHARGE_REPLY.bind
@dataclass(frozen=True, slots=True)
class ChargeControlReply(_DeclaredMessage):
    """The station's reply to 0x82: ``result`` is codes.ChargeResult (section 7.2)."""

    COMMAND: ClassVar[int] = 0x82

    result: int
    order_no: bytes | None = None
    port: int | None = None
    waiting_ports: int | None = None  # one bit per port, meaningful with result 5
    trailing: bytes = b""


_EEPROM_READ_REPLY = _Layout(_Field("result", "B"), rest="data")


@_EEPROM_READ_REPLY.bind
@dataclass(frozen=True, slots=True)
class EepromReadReply(_DeclaredMessage):
    """The station's reply to 0x8B: the result, then the data read."""

    COMMAND: ClassVar[int] = 0x8B

    result: int
    data: bytes = b""


_FIRMWARE_REPLY = _Layout(_Field("result", "B"), _Field("current", "H"), params=("command",))


@_FIRMWARE_REPLY.bind
@dataclass(frozen=True, slots=True)
class FirmwareReply(Message):
    """The station's reply to a firmware packet: result 0 = send the next one."""

    COMMANDS: ClassVar[frozenset[int]] = FirmwarePacket.COMMANDS

    # field() stops dataclass from taking the inherited Message.command property as a default.
    command: int = field()
    result: int
    current: int  # the last packet received
    trailing: bytes = b""

    @classmethod
    def decode(cls, payload: bytes, *, command: int) -> Self:
        """Decode the reply to a packet of ``command``."""
        return _FIRMWARE_REPLY.decode(cls, payload, command)


# ---------------------------------------------------------------------------------------------
# Dispatch

ServerReply = ResultReply | TimeReply | CardReply | OrderConfirmReply | UnknownMessage
StationReply = (
    CommandResult
    | ChargeControlReply
    | EepromReadReply
    | FirmwareReply
    | RunParameters1
    | RunParameters2
    | Limits
    | CardKeys
    | UnknownMessage
)

_SERVER_REPLIES: dict[int, Callable[[bytes], ServerReply]] = {
    CardReply.COMMAND: _decoder(CardReply),
    OrderConfirmReply.COMMAND: _decoder(OrderConfirmReply),
}
_SERVER_REPLIES.update(
    {command: partial(_decoder(ResultReply), command=command) for command in ResultReply.COMMANDS}
)
_SERVER_REPLIES.update(
    {command: partial(_decoder(TimeReply), command=command) for command in TimeReply.COMMANDS}
)

# Commands whose reply is a plain result byte: every downstream command except 0x81 (no
# reply), 0x82, 0x8B, the parameter read-backs and the firmware packets.
_RESULT_ONLY = DOWNSTREAM_COMMANDS - {
    QueryStatus.COMMAND,
    ChargeControl.COMMAND,
    ReadEeprom.COMMAND,
    *ReadParameters.COMMANDS,
    *FirmwarePacket.COMMANDS,
}
_STATION_REPLIES: dict[int, Callable[[bytes], StationReply]] = {
    ChargeControl.COMMAND: _decoder(ChargeControlReply),
    ReadEeprom.COMMAND: _decoder(EepromReadReply),
    # Read-backs answer with the setting command's layout (section 4, 0x90-0x93).
    0x90: _decoder(RunParameters1),
    0x91: _decoder(RunParameters2),
    0x92: _decoder(Limits),
    0x93: _decoder(CardKeys),
}
_STATION_REPLIES.update(
    {
        command: partial(_decoder(FirmwareReply), command=command)
        for command in FirmwareReply.COMMANDS
    }
)
_STATION_REPLIES.update(
    {command: partial(_decoder(CommandResult), command=command) for command in _RESULT_ONLY}
)


def decode_station_reply(command: int, payload: bytes) -> StationReply:
    """Decode a station's reply to a downstream command (``UnknownMessage`` if unknown)."""
    decoder = _STATION_REPLIES.get(command)
    if decoder is None:
        return _new_unknown(command, payload)
    return decoder(payload)


def decode_server_reply(command: int, payload: bytes) -> ServerReply:
    """Decode the server's reply to an upstream message (``UnknownMessage`` if unknown)."""
    decoder = _SERVER_REPLIES.get(command)
    if decoder is None:
        return _new_unknown(command, payload)
    return decoder(payload)

"""Typed DNY messages: the payload of every upstream message, downstream command and reply.

docs/protocol.md section 3 (station -> server) and section 4 (server -> station). Every message is a
frozen, slotted dataclass with ``encode()`` (the payload only; ``frame.Frame`` wraps it) and a
``decode(payload)`` classmethod. The rules every class follows:

* Scaled units are in the field names (docs/protocol.md section 2): ``voltage_v`` 0.1 V, ``power_w``
  0.1 W, ``current_a`` 0.001 A, ``energy_kwh`` 0.01 kWh, ``*_s`` seconds, ``*_fen`` fen.
  Decoding divides the wire integer (``2188 / 10``, the nearest float to 218.8); encoding
  rounds back, so ``decode(encode(m)) == m`` for every decoded message.
* Ports keep the wire value (0-based, 0xFF = the station chooses) in a field named ``port``.
* Temperatures are wire + 65 with 0 meaning "no sensor" (section 2). A *required* temperature
  is a field ``*_c: int | None`` (``None`` = no sensor). An *optional* trailing temperature
  must also say "absent from the payload", which ``None`` can no longer express, so it is kept
  as its wire byte in ``*_raw: int | None`` (``None`` = absent, ``0`` = no sensor) and read in
  degrees through the ``*_c`` property.
* Fields appended over the protocol's life are ``X | None = None``: decoded only when the
  payload is long enough (section 2, "Optional trailing fields") and encoded only when set, in
  order (setting one while an earlier one is ``None`` is a ``ValueError``).
* Bytes beyond the known layout are kept in ``trailing`` and re-encoded, so a payload always
  re-encodes byte-identically. Leave ``trailing`` empty when building a message.
* ``decode`` raises ``MessageError`` only when a required field is missing; ``encode`` raises
  ``ValueError`` when a value does not fit its wire field.
* Decoding is the server's hot path, so decoders build messages without calling the
  dataclass ``__init__``, and most are generated from a declared ``_Layout`` (see "Fast
  construction" below); the messages are the same as the constructor's.
* A fixed-layout message declares its wire fields once, in a ``_Layout``: its decoder is
  generated from that declaration and its ``encode`` (``Message.encode``) writes the same
  declaration back, each field by the inverse of its reading. Only the irregular messages
  (per-port arrays, length-prefixed data) write ``encode`` and ``decode`` by hand.
* Card ids are the one big-endian integer of the protocol (see ``_read_card_id``).
* Every message has a ``command`` (its frame's command byte). Single-command classes define
  ``COMMAND``; the classes that serve several commands (``ResultReply``, ``TimeReply``,
  ``ReadParameters``, ``FirmwarePacket``, ``FirmwareReply``, ``CommandResult``,
  ``UnknownMessage``) have a ``command`` field instead, list the commands they serve in
  ``COMMANDS`` where there is a fixed set, and decode with ``decode(payload, command=...)``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from functools import partial
import struct
from struct import Struct
from typing import Any, ClassVar, NamedTuple, NoReturn, Self

from .codes import firmware_text
from .errors import MessageError

ORDER_NO_SIZE = 16

_U8 = Struct("<B")
_U32 = Struct("<I")
_TWO_U8 = Struct("<BB")
# Per-port arrays of the heartbeats 0x21 and 0x01, one precompiled layout per port count.
_U8_ARRAYS = tuple(Struct(f"<{count}B") for count in range(256))
_U16_ARRAYS = tuple(Struct(f"<{count}H") for count in range(256))


# ---------------------------------------------------------------------------------------------
# Helpers


def temperature_from_wire(raw: int) -> int | None:
    """Wire byte -> degrees Celsius: 0 means no sensor, anything else is degrees + 65."""
    return None if raw == 0 else raw - 65


def temperature_to_wire(celsius: int | None) -> int:
    """Degrees Celsius (``None`` = no sensor) -> the wire byte; ``ValueError`` out of range."""
    if celsius is None:
        return 0
    # -65 would encode as 0, which the station reads as "no sensor".
    if not -64 <= celsius <= 190:
        raise ValueError(f"temperature {celsius} °C is outside the wire range -64..190")
    return celsius + 65


def order_no_text(order_no: bytes) -> str:
    """The text of an order number (docs/protocol.md 5): the one rule, for events and actions.

    Printable ASCII renders as the text itself, without the NUL padding that fills a shorter
    number to 16 bytes on the wire (an order number typed by a user reads back as typed);
    anything else as 32 upper-case hex digits (station-built and random numbers).
    """
    text = order_no.rstrip(b"\0")
    if text and text.isascii() and text.decode("ascii").isprintable():
        return text.decode("ascii")
    return order_no.hex().upper()


def parse_order_no(text: str) -> bytes:
    """Inverse of ``order_no_text``: 32 hex digits, or 1-16 printable ASCII characters.

    Text shorter than 16 characters goes on the wire NUL-padded; ``ValueError`` otherwise.
    """
    if len(text) == 2 * ORDER_NO_SIZE:
        try:
            order_no = bytes.fromhex(text)
        except ValueError:
            order_no = b""
        # bytes.fromhex skips whitespace, so a 32-character text may give fewer bytes.
        if len(order_no) == ORDER_NO_SIZE:
            return order_no
    elif 0 < len(text) <= ORDER_NO_SIZE and text.isascii() and text.isprintable():
        return text.encode("ascii").ljust(ORDER_NO_SIZE, b"\0")
    raise ValueError(
        f"order number {text!r} is neither 32 hex digits nor 1 to {ORDER_NO_SIZE} printable "
        "ASCII characters"
    )


def _read_card_id(raw: bytes) -> int:
    # Quirk (section 3, 0x02): unlike every other integer of the protocol, the card UID is read
    # big-endian. The vendor's example shows wire bytes 7A 8D 05 DD as card "7A8D05DD", the
    # UID as printed on the card and used by card management platforms.
    return int.from_bytes(raw, "big")


def _card_id_bytes(card_id: int) -> bytes:
    try:
        return card_id.to_bytes(4, "big")
    except OverflowError as err:
        raise ValueError(f"card id {card_id} does not fit in 4 bytes") from err


def _card_hex(card_id: int) -> str:
    return f"{card_id:08X}"


def _short(cls: type, payload: bytes, needed: int) -> MessageError:
    return MessageError(
        f"{cls.__name__} payload of {len(payload)} bytes is shorter than the {needed} bytes "
        "of its required fields"
    )


def _unpack(cls: type, layout: Struct, payload: bytes, offset: int = 0) -> tuple[Any, ...]:
    """Unpack the required fields at ``offset``; ``MessageError`` when the payload is short."""
    if len(payload) < offset + layout.size:
        raise _short(cls, payload, offset + layout.size)
    return layout.unpack_from(payload, offset)


def _pack(layout: Struct, *values: Any) -> bytes:
    try:
        return layout.pack(*values)
    except struct.error as err:
        raise ValueError(f"a value does not fit its wire field: {err}") from err


def _fixed(value: bytes, size: int, name: str) -> bytes:
    # struct's "Ns" silently pads or truncates; a fixed-size field must be exactly its size.
    if len(value) != size:
        raise ValueError(f"{name} must be exactly {size} bytes, got {len(value)}")
    return value


def _text(raw: bytes) -> str:
    # NUL-padded text fields (section 3 0x11, section 4 0x8E/0x95/0x34). Latin-1 maps every
    # byte to one character, so stripping the NUL padding is the only change and re-padding
    # restores the exact bytes.
    return raw.rstrip(b"\0").decode("latin-1")


def _padded(text: str, size: int, name: str) -> bytes:
    try:
        raw = text.encode("latin-1")
    except UnicodeEncodeError as err:
        raise ValueError(f"{name} must be single-byte (Latin-1) text") from err
    if len(raw) > size:
        raise ValueError(f"{name} is {len(raw)} bytes, the field holds {size}")
    return raw.ljust(size, b"\0")


def _opt_div(raw: int | None, divisor: int) -> float | None:
    return None if raw is None else raw / divisor


class _Tail:
    """Encoding of the optional trailing fields of one layout (docs/protocol.md section 2).

    The leading fields that are set go on the wire; decoding is ``_Layout``'s. Used by
    ``_Layout.encode`` and by the hand-written encoders of 0x01 and 0x02.
    """

    __slots__ = ("_layouts", "_names")

    def __init__(self, *fields: tuple[str, str]) -> None:
        self._names = tuple(name for name, _ in fields)
        # _layouts[k] packs the first k fields.
        self._layouts = tuple(
            Struct("<" + "".join(fmt for _, fmt in fields[:count]))
            for count in range(len(fields) + 1)
        )

    def pack(self, owner: str, *values: Any) -> bytes:
        """The set fields; ``ValueError`` when a field is set after an unset one."""
        count = 0
        for value in values:
            if value is None:
                break
            count += 1
        for name, value in zip(self._names[count + 1 :], values[count + 1 :], strict=True):
            if value is not None:
                raise ValueError(
                    f"{owner}.{name} is set but the earlier {owner}.{self._names[count]} is "
                    "not: optional trailing fields go on the wire in order"
                )
        return _pack(self._layouts[count], *values[:count])


class Message:
    """Base of every message: the command byte its frame carries."""

    __slots__ = ()

    COMMAND: ClassVar[int]
    # The declared wire layout, set by ``_Layout.bind``; None for the irregular messages,
    # which write their own ``encode``.
    _LAYOUT: ClassVar[_Layout | None] = None

    @property
    def command(self) -> int:
        """The frame's command byte (a field of the classes that serve several commands)."""
        return self.COMMAND

    def encode(self) -> bytes:
        """The payload, written from the class's declared ``_Layout``."""
        if self._LAYOUT is None:
            raise NotImplementedError(f"{type(self).__name__} declares no layout")
        return self._LAYOUT.encode(self)


class _DeclaredMessage(Message):
    """A message of one command whose payload is a declared ``_Layout`` (see ``_Layout.bind``)."""

    __slots__ = ()

    @classmethod
    def decode(cls, payload: bytes) -> Self:
        """Decode a payload by the class's declared layout (``MessageError`` if too short)."""
        layout = cls._LAYOUT
        if layout is None:
            raise NotImplementedError(f"{cls.__name__} declares no layout")
        return layout.decode(cls, payload)


# ---------------------------------------------------------------------------------------------
# Fast construction
#
# Decoding runs for every frame, and a frozen dataclass is slow to build: its __init__ sets
# every field through object.__setattr__ (about 120 ns a field; PowerHeartbeat has 19), more
# than finding, checking and unpacking the frame takes. So decoders build messages without
# __init__:
#
# * Each message class gets a *twin*: a plain class with the same base and the same __slots__,
#   hence the same memory layout. A message is created as a twin, filled with ordinary
#   attribute stores (which CPython specialises for slots: a few ns each), then handed to its
#   class by ``__class__`` assignment, which the data model allows between classes of identical
#   layout (CPython checks that on every assignment). What comes out is an ordinary instance of
#   the frozen class: same fields, equality, hash and repr, frozen from then on. No twin
#   instance outlives its construction. This is 2-3 times faster than the alternative of
#   calling each slot descriptor's ``__set__`` (a C call per field).
# * The few lines doing that are generated per class at import, like namedtuple's: attribute
#   names must be in the source for the stores to be specialised. ``_fast_constructor`` makes
#   a constructor for the hand-written decoders; ``_Layout.bind`` makes the whole decoder of a
#   declared fixed layout (one ``unpack_from``, the scaling inline, one store per field).
#
# tests/protocol/test_messages.py checks that every decoded message equals the one the
# dataclass constructor builds from the same values.

_TWINS: dict[type[Message], type[Message]] = {}
# The generated decoder of every class bound to a _Layout (see _decoder).
_DECODERS: dict[type[Message], Callable[..., Any]] = {}


def _field_names(cls: type[Message]) -> list[str]:
    return [item.name for item in fields(cls)]  # type: ignore[arg-type]


def _twin(cls: type[Message]) -> type[Message]:
    """The twin of the slotted dataclass ``cls`` (see above), created once."""
    twin = _TWINS.get(cls)
    if twin is None:
        slots: tuple[str, ...] = getattr(cls, "__slots__", ())
        # The twin holds what cls itself declares, and its stores must be plain slot stores:
        # no base but object may define __setattr__ (a frozen dataclass base does).
        if sorted(slots) != sorted(_field_names(cls)) or any(
            "__setattr__" in vars(base) for base in cls.__mro__[1:-1]
        ):
            raise TypeError(f"{cls.__name__} cannot be built without __init__")
        twin = type(f"_{cls.__name__}Twin", cls.__bases__, {"__slots__": slots})
        twin().__class__ = cls  # TypeError now, rather than at the first decode, if it cannot
        _TWINS[cls] = twin
    return twin


def _compile_builder(
    cls: type[Message],
    name: str,
    signature: str,
    values: Mapping[str, str],
    *,
    prelude: Sequence[str] = (),
    namespace: Mapping[str, Any] | None = None,
) -> Callable[..., Any]:
    """Generate ``def <name>(<signature>)``, returning a ``cls`` built without __init__.

    ``values`` gives every field's value as an expression over the signature's names, the
    ``prelude`` lines and ``namespace``.
    """
    lines = [f"def {name}({signature}):", *(f"    {line}" for line in prelude)]
    lines.append("    _m = _Twin()")
    lines += [f"    _m.{field_name} = {values[field_name]}" for field_name in _field_names(cls)]
    lines += ["    _m.__class__ = _cls", "    return _m"]
    scope = {"_Twin": _twin(cls), "_cls": cls, **(namespace or {})}
    exec(compile("\n".join(lines), f"<{cls.__name__} builder>", "exec"), scope)
    builder: Callable[..., Any] = scope[name]
    return builder


def _fast_constructor(cls: type[Message]) -> Callable[..., Any]:
    """``cls``'s constructor without __init__: every field, positionally, in field order."""
    names = _field_names(cls)
    return _compile_builder(cls, f"new_{cls.__name__}", ", ".join(names), {n: n for n in names})


def _decoder(cls: type[Any]) -> Callable[..., Any]:
    """What the dispatch tables call for ``cls``: its generated decoder, else its ``decode``."""
    decoder = _DECODERS.get(cls)
    return cls.decode if decoder is None else decoder


# Writes one attribute as the value struct packs: (attribute, "Class.field" for errors).
type _Writer = Callable[[Any, str], Any]


class _Field(NamedTuple):
    """One wire field of a ``_Layout``."""

    name: str  # the dataclass field it fills
    fmt: str  # its struct format
    read: int | Callable[[Any], Any] | None = None  # a divisor (scaled units) or a converter
    write: _Writer | None = None  # the inverse of read, when _writer cannot derive it


def _writer(item: _Field) -> _Writer | None:
    """How ``encode`` writes ``item``: the inverse of its ``read``; ``None``: as it is."""
    if item.write is not None:
        return item.write
    read = item.read
    if isinstance(read, int):
        divisor = read  # a named int, so that the lambda sees it narrowed
        return lambda value, _name: round(value * divisor)
    if read is _read_card_id:
        return lambda card_id, _name: _card_id_bytes(card_id)
    size = int(item.fmt[:-1]) if item.fmt.endswith("s") else 0  # bytes of an "Ns" field
    if read is _text:
        return lambda text, name: _padded(text, size, name)
    if read is None:
        return (lambda value, name: _fixed(value, size, name)) if size else None
    raise TypeError(f"the converter of {item.name} has no known inverse: declare its write")


class _Layout:
    """A fixed wire layout, declared once: the decoder and ``encode`` are both made from it.

    The payload holds the ``required`` fields, then the ``optional`` ones appended over the
    protocol's life (each decoded only when the payload holds all of it; it and the later ones
    are ``None`` otherwise), then the rest of the payload, which goes to the field ``rest``
    (``trailing``, or a class's variable-length data). ``params`` are fields passed to the
    decoder rather than read (the ``command`` of multi-command classes). A ``_Field.read``
    divisor turns the wire integer into its unit (``2188 / 10``); a function converts the raw
    value (card ids, NUL-padded text). ``encode`` applies the inverse (see ``_writer``).

    ``bind``, as a class decorator above ``@dataclass``, generates ``decoder(payload,
    *params)``: the message, or ``MessageError`` when a required field is missing. It decodes
    a payload holding every field itself (one ``unpack_from``, one store per field) and hands
    a shorter one to the builder generated for its length. It also makes the layout the
    class's ``_LAYOUT``, which ``Message.encode`` writes.
    """

    decoder: Callable[..., Any]

    def __init__(
        self,
        *required: _Field,
        optional: Sequence[_Field] = (),
        params: Sequence[str] = (),
        rest: str = "trailing",
    ) -> None:
        self._wire = (*required, *optional)
        self._required = len(required)
        self._params = tuple(params)
        self._rest = rest
        self._writers = tuple((item.name, _writer(item)) for item in self._wire)
        self._head = self._struct(self._required)
        self._tail = _Tail(*((item.name, item.fmt) for item in optional))

    def _struct(self, count: int) -> Struct:
        """The first ``count`` wire fields."""
        return Struct("<" + "".join(item.fmt for item in self._wire[:count]))

    def bind[C: type[Message]](self, cls: C) -> C:
        """Generate ``decoder`` for the dataclass ``cls``; return ``cls`` (a decorator)."""
        declared = [item.name for item in self._wire] + [*self._params, self._rest]
        if sorted(declared) != sorted(_field_names(cls)):
            raise TypeError(f"the layout of {cls.__name__} does not name its fields")
        signature = ", ".join(("_payload", *self._params))
        needed = self._head.size

        def too_short(payload: bytes, *_params: object) -> NoReturn:
            raise _short(cls, payload, needed)

        # shorter[n]: the builder for a payload of n bytes, which holds all the wire fields
        # that fit (whole) in n bytes.
        shorter: list[Callable[..., Any]] = [too_short] * needed
        for count in range(self._required, len(self._wire)):
            builder = self._builder(cls, f"decode_{cls.__name__}_{count}", count, signature)
            shorter += [builder] * (self._struct(count + 1).size - self._struct(count).size)
        full = len(shorter)
        guard = [f"if len(_payload) < {full}:", f"    return _shorter[len(_payload)]({signature})"]
        self.decoder = self._builder(
            cls,
            f"decode_{cls.__name__}",
            len(self._wire),
            signature,
            guard=guard if full else [],
            namespace={"_shorter": tuple(shorter)},
        )
        _DECODERS[cls] = self.decoder
        cls._LAYOUT = self
        return cls

    def _builder(
        self,
        cls: type[Message],
        name: str,
        count: int,
        signature: str,
        *,
        guard: Sequence[str] = (),
        namespace: Mapping[str, Any] | None = None,
    ) -> Callable[..., Any]:
        """The decoder ``name`` of a payload that holds the first ``count`` wire fields."""
        present = self._wire[:count]
        layout = self._struct(count)
        scope = {"_unpack": layout.unpack_from, **(namespace or {})}
        values = {param: param for param in self._params}
        for item in present:
            if item.read is None:
                values[item.name] = item.name
            elif isinstance(item.read, int):
                values[item.name] = f"{item.name} / {item.read}"
            else:
                scope[f"_read_{item.name}"] = item.read
                values[item.name] = f"_read_{item.name}({item.name})"
        values |= dict.fromkeys((item.name for item in self._wire[count:]), "None")
        values[self._rest] = f"_payload[{layout.size}:]"
        prelude = list(guard)
        if present:
            prelude.append(", ".join(item.name for item in present) + ", = _unpack(_payload)")
        return _compile_builder(cls, name, signature, values, prelude=prelude, namespace=scope)

    def decode[M](self, cls: type[M], payload: bytes, *params: int) -> M:
        """``decoder(payload, *params)``, typed for ``cls.decode`` (cls: the class bound)."""
        message: M = self.decoder(payload, *params)
        return message

    def encode(self, message: Message) -> bytes:
        """The payload of ``message`` (of the class bound); ``ValueError`` if a value won't fit.

        The required fields, then the optional ones that are set (``_Tail``), then the rest.
        Encoding is off the hot path, so this is a plain loop rather than generated code.
        """
        owner = type(message).__name__
        required = self._required
        # The head is written and packed before the tail is written, so that of two bad
        # values the earlier one is reported.
        head = _pack(self._head, *self._values(message, owner, 0, required))
        tail = self._tail.pack(owner, *self._values(message, owner, required, len(self._wire)))
        rest: bytes = getattr(message, self._rest)
        return head + tail + rest

    def _values(self, message: Message, owner: str, start: int, stop: int) -> list[Any]:
        """The wire values of the fields ``start:stop`` of ``message``."""
        values = []
        for index in range(start, stop):
            name, write = self._writers[index]
            value = getattr(message, name)
            # An unset optional field stays None for _Tail; a required one is always written
            # (None there fails in struct, as any value of the wrong type does).
            if write is not None and (value is not None or index < self._required):
                value = write(value, f"{owner}.{name}")
            values.append(value)
        return values


@dataclass(frozen=True, slots=True)
class _EmptyMessage(Message):
    """A message whose documented payload is empty."""

    trailing: bytes = b""

    @classmethod
    def decode(cls, payload: bytes) -> Self:
        """Decode the (normally empty) payload; never fails."""
        return cls(payload)

    def encode(self) -> bytes:
        """The payload: empty unless bytes were kept from decoding."""
        return self.trailing


@dataclass(frozen=True, slots=True)
class UnknownMessage(Message):
    """A command this module does not know (or a direction it does not have): kept raw."""

    # field() stops dataclass from taking the inherited Message.command property as a default.
    command: int = field()
    payload: bytes

    @classmethod
    def decode(cls, payload: bytes, *, command: int) -> Self:
        """Keep the payload as it is."""
        return cls(command, payload)

    def encode(self) -> bytes:
        """The payload, unchanged."""
        return self.payload


_new_unknown: Callable[[int, bytes], UnknownMessage] = _fast_constructor(UnknownMessage)


# ---------------------------------------------------------------------------------------------
# Upstream: station / host -> server (docs/protocol.md section 3)

_REGISTER = _Layout(
    _Field("firmware", "H"),
    _Field("port_count", "B"),
    _Field("virtual_id", "B"),
    _Field("device_type", "B"),
    # work_mode arrived in V7.0, power_board_version in V7.8 (vendor change log).
    optional=(_Field("work_mode", "B"), _Field("power_board_version", "H")),
)


@_REGISTER.bind
@dataclass(frozen=True, slots=True)
class Register(_DeclaredMessage):
    """0x20 register, sent at power-up and on every change (reply: ``ResultReply``)."""

    COMMAND: ClassVar[int] = 0x20

    firmware: int
    port_count: int
    virtual_id: int
    device_type: int
    work_mode: int | None = None
    power_board_version: int | None = None
    trailing: bytes = b""

    @property
    def firmware_version(self) -> str:
        """``"V1.26"`` for firmware 126."""
        return firmware_text(self.firmware)


_HEARTBEAT_HEAD = Struct("<HB")


def _check_port_count(owner: str, port_count: int, *per_port: tuple[Any, ...]) -> None:
    for values in per_port:
        if len(values) != port_count:
            raise ValueError(f"{owner} has port_count {port_count} but {len(values)} port values")


@dataclass(frozen=True, slots=True)
class Heartbeat(Message):
    """0x21 heartbeat, every 3 minutes by default (reply: ``ResultReply``)."""

    COMMAND: ClassVar[int] = 0x21

    voltage_v: float
    port_count: int
    port_statuses: tuple[int, ...]  # codes.PortStatus values, one per port (section 7.1)
    signal: int
    temperature_c: int | None
    trailing: bytes = b""

    @classmethod
    def decode(cls, payload: bytes) -> Self:
        """Decode a 0x21 payload."""
        if len(payload) < _HEARTBEAT_HEAD.size:
            raise _short(cls, payload, _HEARTBEAT_HEAD.size)
        voltage, count = _HEARTBEAT_HEAD.unpack_from(payload)
        end = 5 + count
        if len(payload) < end:
            raise _short(cls, payload, end)
        message: Self = _new_heartbeat(
            voltage / 10,
            count,
            _U8_ARRAYS[count].unpack_from(payload, 3),
            payload[3 + count],
            temperature_from_wire(payload[4 + count]),
            payload[end:],
        )
        return message

    def encode(self) -> bytes:
        """The 0x21 payload."""
        _check_port_count("Heartbeat", self.port_count, self.port_statuses)
        return (
            _pack(_HEARTBEAT_HEAD, round(self.voltage_v * 10), self.port_count)
            + bytes(self.port_statuses)
            + _pack(_TWO_U8, self.signal, temperature_to_wire(self.temperature_c))
            + self.trailing
        )


_new_heartbeat = _fast_constructor(Heartbeat)


_LEGACY_HEAD = Struct("<HHB")
_LEGACY_FOOT = Struct("<BBBB")
# V8.6 removed work_mode from 0x01 (vendor change log), so it is optional.
_LEGACY_TAIL = _Tail(("work_mode", "B"))


@dataclass(frozen=True, slots=True)
class LegacyHeartbeat(Message):
    """0x01 heartbeat of old stations, little-endian like the rest (reply: ``ResultReply``)."""

    COMMAND: ClassVar[int] = 0x01

    firmware: int
    voltage_v: float
    port_count: int
    port_statuses: tuple[int, ...]
    power_w: tuple[float, ...]  # current power per port
    peak_power_w: tuple[float, ...]  # peak power per port since its charge started
    virtual_id: int
    signal: int
    device_type: int
    temperature_c: int | None
    work_mode: int | None = None
    trailing: bytes = b""

    @property
    def firmware_version(self) -> str:
        """``"V1.26"`` for firmware 126."""
        return firmware_text(self.firmware)

    @classmethod
    def decode(cls, payload: bytes) -> Self:
        """Decode a 0x01 payload."""
        firmware, voltage, count = _unpack(cls, _LEGACY_HEAD, payload)
        powers_at = _LEGACY_HEAD.size + count
        peaks_at = powers_at + 2 * count
        foot_at = peaks_at + 2 * count
        end = foot_at + _LEGACY_FOOT.size
        if len(payload) < end:
            raise _short(cls, payload, end)
        array = _U16_ARRAYS[count]
        virtual_id, signal, device_type, temperature = _LEGACY_FOOT.unpack_from(payload, foot_at)
        work_mode = None
        if len(payload) > end:
            work_mode = payload[end]
            end += 1
        message: Self = _new_legacy_heartbeat(
            firmware,
            voltage / 10,
            count,
            tuple(payload[_LEGACY_HEAD.size : powers_at]),
            tuple(raw / 10 for raw in array.unpack_from(payload, powers_at)),
            tuple(raw / 10 for raw in array.unpack_from(payload, peaks_at)),
            virtual_id,
            signal,
            device_type,
            temperature_from_wire(temperature),
            work_mode,
            payload[end:],
        )
        return message

    def encode(self) -> bytes:
        """The 0x01 payload."""
        _check_port_count(
            "LegacyHeartbeat", self.port_count, self.port_statuses, self.power_w, self.peak_power_w
        )
        array = _U16_ARRAYS[self.port_count]
        return (
            _pack(_LEGACY_HEAD, self.firmware, round(self.voltage_v * 10), self.port_count)
            + bytes(self.port_statuses)
            + _pack(array, *(round(power * 10) for power in self.power_w))
            + _pack(array, *(round(power * 10) for power in self.peak_power_w))
            + _pack(
                _LEGACY_FOOT,
                self.virtual_id,
                self.signal,
                self.device_type,
                temperature_to_wire(self.temperature_c),
            )
            + _LEGACY_TAIL.pack("LegacyHeartbeat", self.work_mode)
            + self.trailing
        )


_new_legacy_heartbeat = _fast_constructor(LegacyHeartbeat)


@dataclass(frozen=True, slots=True)
class TimeRequest(_EmptyMessage):
    """0x22 the station asks for the time (reply: ``TimeReply``)."""

    COMMAND: ClassVar[int] = 0x22


@dataclass(frozen=True, slots=True)
class HostTimeRequest(_EmptyMessage):
    """0x12 a host gateway asks for the time (reply: ``TimeReply``)."""

    COMMAND: ClassVar[int] = 0x12


_CARD_SWIPE = Struct("<4sBBH")
_CARD_SWIPE_TAIL = _Tail(("timestamp", "I"))
_CARD_SWIPE_END = _CARD_SWIPE.size + _U32.size  # after the timestamp


@dataclass(frozen=True, slots=True)
class CardSwipe(Message):
    """0x02 card swipe (reply: ``CardReply``); port 0xFF asks for the balance only."""

    COMMAND: ClassVar[int] = 0x02

    card_id: int
    card_type: int
    port: int
    balance_fen: int
    timestamp: int | None = None  # station clock, debug only (V8.0)
    card2: bytes | None = None  # long card number, e.g. social-security cards (2023-12)
    trailing: bytes = b""

    @property
    def card_hex(self) -> str:
        """The card id as 8 upper-case hex digits, e.g. ``"7A8D05DD"``."""
        return _card_hex(self.card_id)

    @classmethod
    def decode(cls, payload: bytes) -> Self:
        """Decode a 0x02 payload."""
        card, card_type, port, balance = _unpack(cls, _CARD_SWIPE, payload)
        timestamp = card2 = None
        end = _CARD_SWIPE.size
        if len(payload) >= _CARD_SWIPE_END:
            (timestamp,) = _U32.unpack_from(payload, end)
            end = _CARD_SWIPE_END
            if len(payload) > end:
                # card2_len u8, then card2. If fewer bytes follow than announced, the whole
                # rest stays in trailing so that nothing is lost.
                card2_end = end + 1 + payload[end]
                if len(payload) >= card2_end:
                    card2 = payload[end + 1 : card2_end]
                    end = card2_end
        message: Self = _new_card_swipe(
            _read_card_id(card), card_type, port, balance, timestamp, card2, payload[end:]
        )
        return message

    def encode(self) -> bytes:
        """The 0x02 payload."""
        card2 = b""
        if self.card2 is not None:
            if self.timestamp is None:
                raise ValueError("CardSwipe.card2 is set but the earlier timestamp is not")
            card2 = _pack(_U8, len(self.card2)) + self.card2
        return (
            _pack(
                _CARD_SWIPE,
                _card_id_bytes(self.card_id),
                self.card_type,
                self.port,
                self.balance_fen,
            )
            + _CARD_SWIPE_TAIL.pack("CardSwipe", self.timestamp)
            + card2
            + self.trailing
        )


_new_card_swipe = _fast_constructor(CardSwipe)


# The base layout of 0x03, which 0x43 has too.
_SETTLEMENT_BASE = (
    _Field("duration_s", "H"),
    _Field("max_power_w", "H", 10),
    _Field("energy_kwh", "H", 100),
    _Field("port", "B"),
    _Field("start_mode", "B"),
    _Field("card_id", "4s", _read_card_id),
    _Field("stop_reason", "B"),
    _Field("order_no", "16s"),
)
_SETTLEMENT = _Layout(
    *_SETTLEMENT_BASE,
    # second_max_power ends the documented base layout; it is optional too because a
    # settlement that failed to decode would never be acknowledged and the station resends it
    # every 30 min forever (section 3, 0x03). timestamp arrived in V8.0, occupancy in V8.5.
    optional=(
        _Field("second_max_power_w", "H", 10),
        _Field("timestamp", "I"),
        _Field("occupancy_min", "H"),
    ),
)


@_SETTLEMENT.bind
@dataclass(frozen=True, slots=True)
class Settlement(_DeclaredMessage):
    """0x03 settlement of a finished order; resent until acknowledged with ``ResultReply``."""

    COMMAND: ClassVar[int] = 0x03

    duration_s: int
    max_power_w: float
    energy_kwh: float
    port: int
    start_mode: int  # 0 offline card, 1 online, 3 verification code
    card_id: int  # 0 for online starts; the verification code for code starts
    stop_reason: int  # codes.StopReason (section 7.3)
    order_no: bytes
    second_max_power_w: float | None = None  # maximum in the first 5 minutes
    timestamp: int | None = None  # station clock, debug only
    occupancy_min: int | None = None  # charging lockers only
    trailing: bytes = b""

    @property
    def card_hex(self) -> str:
        """The card id as 8 upper-case hex digits (``"00000000"`` for online starts)."""
        return _card_hex(self.card_id)


_LEGACY_ORDER = _Layout(
    _Field("port", "B"),
    _Field("start_mode", "B"),
    _Field("card_id", "4s", _read_card_id),
    _Field("duration_s", "H"),
    _Field("order_no", "16s"),
)


@_LEGACY_ORDER.bind
@dataclass(frozen=True, slots=True)
class LegacyOrderConfirm(_DeclaredMessage):
    """0x04 order confirmation of pre-2019 stations (reply: ``OrderConfirmReply``)."""

    COMMAND: ClassVar[int] = 0x04

    port: int
    start_mode: int
    card_id: int
    duration_s: int  # charged so far
    order_no: bytes
    trailing: bytes = b""

    @property
    def card_hex(self) -> str:
        """The card id as 8 upper-case hex digits."""
        return _card_hex(self.card_id)


_UPGRADE_REQUEST = _Layout(
    _Field("device_type", "B"), _Field("firmware", "H"), _Field("package_type", "I")
)


@_UPGRADE_REQUEST.bind
@dataclass(frozen=True, slots=True)
class UpgradeRequest(_DeclaredMessage):
    """0x05 the station asks to be upgraded (no reply)."""

    COMMAND: ClassVar[int] = 0x05

    device_type: int
    firmware: int
    package_type: int
    trailing: bytes = b""

    @property
    def firmware_version(self) -> str:
        """``"V1.26"`` for firmware 126."""
        return firmware_text(self.firmware)


_POWER = _Layout(
    _Field("port", "B"),
    _Field("status", "B"),
    _Field("duration_s", "H"),
    _Field("energy_kwh", "H", 100),
    _Field("start_mode", "B"),
    _Field("power_w", "H", 10),
    _Field("max_power_w", "H", 10),
    _Field("min_power_w", "H", 10),
    _Field("avg_power_w", "H", 10),
    _Field("order_no", "16s"),
    # Everything after order_no was appended over time (section 3, 0x06): interval energy in
    # V6.2, peak power in V7.0, voltage/current/temperatures in V7.8, timestamp in V8.0,
    # occupancy in V8.5.
    optional=(
        _Field("interval_energy_raw", "H"),
        _Field("peak_power_w", "H", 10),
        _Field("voltage_v", "H", 10),
        _Field("current_a", "H", 1000),
        _Field("ambient_temp_raw", "B"),
        _Field("port_temp_raw", "B"),
        _Field("timestamp", "I"),
        _Field("occupancy_min", "H"),
    ),
)


@_POWER.bind
@dataclass(frozen=True, slots=True)
class PowerHeartbeat(_DeclaredMessage):
    """0x06 power heartbeat of a charging port, every 5 minutes by default (no reply).

    The two temperatures are optional *and* may read "no sensor", so they are kept as wire
    bytes: ``ambient_temp_raw`` / ``port_temp_raw`` are ``None`` when the payload ends before
    them and 0 when the station has no such sensor; ``ambient_temp_c`` / ``port_temp_c`` give
    degrees Celsius or ``None`` for both cases.
    """

    COMMAND: ClassVar[int] = 0x06

    port: int
    status: int  # codes.PowerStatus: 1 charging, 3 full, 5 float charging; others are noise
    duration_s: int
    energy_kwh: float  # the order so far
    start_mode: int
    power_w: float
    max_power_w: float  # over the interval
    min_power_w: float
    avg_power_w: float
    order_no: bytes
    interval_energy_raw: int | None = None  # debug: divide by 4800 (vendor's note)
    peak_power_w: float | None = None  # over the whole order
    voltage_v: float | None = None
    current_a: float | None = None
    ambient_temp_raw: int | None = None
    port_temp_raw: int | None = None
    timestamp: int | None = None  # station clock, debug only
    occupancy_min: int | None = None  # charging lockers only
    trailing: bytes = b""

    @property
    def ambient_temp_c(self) -> int | None:
        """Ambient temperature in °C; ``None`` when absent or without a sensor."""
        raw = self.ambient_temp_raw
        return None if raw is None else temperature_from_wire(raw)

    @property
    def port_temp_c(self) -> int | None:
        """Port temperature in °C; ``None`` when absent or without a sensor."""
        raw = self.port_temp_raw
        return None if raw is None else temperature_from_wire(raw)


_HOST_HEARTBEAT = _Layout(
    _Field("firmware", "H"),
    _Field("rtc", "B"),
    _Field("host_time", "I"),
    _Field("signal", "B"),
    _Field("module_type", "B"),
    _Field("iccid", "20s", _text),
    _Field("host_type", "B"),
    _Field("frequency", "H"),
    optional=(_Field("imei", "15s", _text), _Field("module_version", "24s", _text)),
)


@_HOST_HEARTBEAT.bind
@dataclass(frozen=True, slots=True)
class HostHeartbeat(_DeclaredMessage):
    """0x11 host gateway heartbeat, every 30 minutes (no reply). Text fields are NUL-padded."""

    COMMAND: ClassVar[int] = 0x11

    firmware: int
    rtc: int  # 0 = the host has no real-time clock
    host_time: int
    signal: int  # 0-31, 99 error; some modules report + 100
    module_type: int
    iccid: str
    host_type: int
    frequency: int
    imei: str | None = None
    module_version: str | None = None
    trailing: bytes = b""

    @property
    def firmware_version(self) -> str:
        """``"V1.01"`` for firmware 101."""
        return firmware_text(self.firmware)


# The host document names the 0x17 fields without sizes (section 3). These sizes are an
# assumption: breaker u8, temperature u8 (+65), voltage u16 (0.1 V), current u16 (0.01 A),
# energy u32 (0.01 kWh), meter current u16 (0.01 A), meter energy u32 (0.01 kWh), smoke alarm
# u8, alarm relay u8, leakage u16 (mA), live and neutral temperature u8 (+65), lock state u8,
# breaker style u8. Every field is optional and kept as its wire integer, so a wrong guess
# loses nothing (the payload re-encodes byte-identically); the properties give scaled values.
_HOST_STATUS = _Layout(
    optional=(
        _Field("breaker", "B"),
        _Field("temperature_raw", "B"),
        _Field("voltage_raw", "H"),
        _Field("current_raw", "H"),
        _Field("energy_raw", "I"),
        _Field("meter_current_raw", "H"),
        _Field("meter_energy_raw", "I"),
        _Field("smoke_alarm", "B"),
        _Field("alarm_relay", "B"),
        _Field("leakage_ma", "H"),
        _Field("live_temp_raw", "B"),
        _Field("neutral_temp_raw", "B"),
        _Field("lock_state", "B"),
        _Field("breaker_style", "B"),
    ),
)


@_HOST_STATUS.bind
@dataclass(frozen=True, slots=True)
class HostStatus(_DeclaredMessage):
    """0x17 host gateway status, best effort (no reply); plain charging hosts fill only part."""

    COMMAND: ClassVar[int] = 0x17

    breaker: int | None = None
    temperature_raw: int | None = None
    voltage_raw: int | None = None
    current_raw: int | None = None
    energy_raw: int | None = None
    meter_current_raw: int | None = None
    meter_energy_raw: int | None = None
    smoke_alarm: int | None = None
    alarm_relay: int | None = None
    leakage_ma: int | None = None
    live_temp_raw: int | None = None
    neutral_temp_raw: int | None = None
    lock_state: int | None = None
    breaker_style: int | None = None
    trailing: bytes = b""

    @property
    def temperature_c(self) -> int | None:
        """Host temperature in °C (``None`` when absent or without a sensor)."""
        raw = self.temperature_raw
        return None if raw is None else temperature_from_wire(raw)

    @property
    def voltage_v(self) -> float | None:
        """Voltage in V."""
        return _opt_div(self.voltage_raw, 10)

    @property
    def current_a(self) -> float | None:
        """Current in A (assumed 0.01 A units)."""
        return _opt_div(self.current_raw, 100)

    @property
    def energy_kwh(self) -> float | None:
        """Energy in kWh."""
        return _opt_div(self.energy_raw, 100)

    @property
    def meter_current_a(self) -> float | None:
        """Meter current in A (assumed 0.01 A units)."""
        return _opt_div(self.meter_current_raw, 100)

    @property
    def meter_energy_kwh(self) -> float | None:
        """Meter energy in kWh."""
        return _opt_div(self.meter_energy_raw, 100)

    @property
    def live_temp_c(self) -> int | None:
        """Live conductor temperature in °C."""
        raw = self.live_temp_raw
        return None if raw is None else temperature_from_wire(raw)

    @property
    def neutral_temp_c(self) -> int | None:
        """Neutral conductor temperature in °C."""
        raw = self.neutral_temp_raw
        return None if raw is None else temperature_from_wire(raw)


_SUB_STATION = Struct("<BBHI")


@dataclass(frozen=True, slots=True)
class SubStationVersion:
    """One entry of 0x35: the minimum firmware of one sub-station type behind a host."""

    device_type: int
    reserved: int
    min_firmware: int
    physical_id: int  # little-endian like the frame's physical id

    @property
    def device_id(self) -> str:
        """The 8-hex-digit text form of ``physical_id``."""
        return f"{self.physical_id:08X}"


@dataclass(frozen=True, slots=True)
class SubStationVersions(Message):
    """0x35 sub-station versions reported by a host gateway (no reply)."""

    COMMAND: ClassVar[int] = 0x35

    entries: tuple[SubStationVersion, ...]
    trailing: bytes = b""

    @classmethod
    def decode(cls, payload: bytes) -> Self:
        """Decode a 0x35 payload: ``count u8`` then ``count`` entries of 8 bytes."""
        (count,) = _unpack(cls, _U8, payload)
        end = 1 + count * _SUB_STATION.size
        if len(payload) < end:
            raise _short(cls, payload, end)
        entries = tuple(
            SubStationVersion(*values) for values in _SUB_STATION.iter_unpack(payload[1:end])
        )
        return cls(entries, payload[end:])

    def encode(self) -> bytes:
        """The 0x35 payload."""
        body = b"".join(
            _pack(
                _SUB_STATION,
                entry.device_type,
                entry.reserved,
                entry.min_firmware,
                entry.physical_id,
            )
            for entry in self.entries
        )
        return _pack(_U8, len(self.entries)) + body + self.trailing


_LOCKER_HEARTBEAT = _Layout(
    _Field("port_count", "B"), _Field("door_bits", "I"), _Field("fan_bits", "I")
)


@_LOCKER_HEARTBEAT.bind
@dataclass(frozen=True, slots=True)
class LockerHeartbeat(_DeclaredMessage):
    """0x41 charging-locker heartbeat (no reply): one bit per port, 1 = door open / fan on."""

    COMMAND: ClassVar[int] = 0x41

    port_count: int
    door_bits: int
    fan_bits: int
    trailing: bytes = b""


_ALARM = _Layout(_Field("alarm_type", "B"), _Field("port", "B"), _Field("trigger_bits", "B"))


@_ALARM.bind
@dataclass(frozen=True, slots=True)
class Alarm(_DeclaredMessage):
    """0x42 alarm (no reply): ``alarm_type`` is codes.AlarmType (section 7.5)."""

    COMMAND: ClassVar[int] = 0x42

    alarm_type: int
    port: int  # the port, or the RS-485 address of the sensor; meaningless for a power cut
    trigger_bits: int
    trailing: bytes = b""


_LOCKER_DONE = _Layout(*_SETTLEMENT_BASE)


@_LOCKER_DONE.bind
@dataclass(frozen=True, slots=True)
class LockerChargeDone(_DeclaredMessage):
    """0x43 a locker's charge finished, without settlement (no reply): 0x03's base fields.

    The vendor's table for 0x43 ends with the order number (no second maximum power), so
    anything after it is kept in ``trailing``.
    """

    COMMAND: ClassVar[int] = 0x43

    duration_s: int
    max_power_w: float
    energy_kwh: float
    port: int
    start_mode: int
    card_id: int
    stop_reason: int
    order_no: bytes
    trailing: bytes = b""

    @property
    def card_hex(self) -> str:
        """The card id as 8 upper-case hex digits."""
        return _card_hex(self.card_id)


_PORT_NOTICE = _Layout(_Field("notice_type", "B"), _Field("port", "B"), _Field("order_no", "16s"))


@_PORT_NOTICE.bind
@dataclass(frozen=True, slots=True)
class PortNotice(_DeclaredMessage):
    """0x44 port notice (no reply): ``notice_type`` 1 = locker door not closed."""

    COMMAND: ClassVar[int] = 0x44

    notice_type: int
    port: int
    order_no: bytes
    trailing: bytes = b""


# ---------------------------------------------------------------------------------------------
# Server replies to upstream messages (docs/protocol.md section 3)


_RESULT_REPLY = _Layout(_Field("result", "B"), params=("command",))


@_RESULT_REPLY.bind
@dataclass(frozen=True, slots=True)
class ResultReply(Message):
    """The server's ``result u8`` (0 = ok) to 0x20, 0x21, 0x01 and 0x03."""

    COMMANDS: ClassVar[frozenset[int]] = frozenset({0x20, 0x21, 0x01, 0x03})

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
# Downstream commands: server -> station (docs/protocol.md section 4)


@dataclass(frozen=True, slots=True)
class QueryStatus(_EmptyMessage):
    """0x81 ask the station to report (it sends 0x20 and 0x21/0x01); no reply."""

    COMMAND: ClassVar[int] = 0x81


_CHARGE = _Layout(
    _Field("rate_mode", "B"),
    _Field("balance_or_expiry", "I"),
    _Field("port", "B"),
    _Field("action", "B"),
    _Field("value", "H"),
    _Field("order_no", "16s"),
    # The fields after order_no were appended over time (V7.5, V8.0, V8.6, 2023-03); the
    # station needs them only up to max_power_w (section 4, 0x82).
    optional=(
        _Field("max_duration_s", "H"),
        _Field("max_power_w", "H", 10),
        _Field("qr_light", "B"),
        _Field("long_charge", "B"),
        _Field("extra_float_time_s", "H"),
        _Field("skip_short_check", "B"),
        _Field("ignore_unplug", "B"),
        _Field("force_auto_stop", "B"),
        _Field("full_power_w", "B"),
        _Field("full_power_max_minutes", "B"),
    ),
)


@_CHARGE.bind
@dataclass(frozen=True, slots=True)
class ChargeControl(_DeclaredMessage):
    """0x82 start (action 1) or stop (action 0) charging (reply: ``ChargeControlReply``).

    A stop must carry the running order's number. ``value`` is seconds (time modes) or
    0.01 kWh (energy mode), 0 = until full.
    """

    COMMAND: ClassVar[int] = 0x82

    rate_mode: int
    balance_or_expiry: int
    port: int
    action: int
    value: int
    order_no: bytes
    max_duration_s: int | None = None  # 0 = the station's setting
    max_power_w: float | None = None  # 0 = the station's setting
    qr_light: int | None = None  # 0 on, 1 off
    long_charge: int | None = None
    extra_float_time_s: int | None = None  # 0xFFFF cancels float charging
    skip_short_check: int | None = None  # 2 = normal check; 0 or 1 skip it
    ignore_unplug: int | None = None
    force_auto_stop: int | None = None
    full_power_w: int | None = None  # whole watts, unlike every other power; 0/0xFF = off
    full_power_max_minutes: int | None = None
    trailing: bytes = b""


_RUN_PARAMETERS_1 = _Layout(
    _Field("unplug_power_w", "H", 10),
    _Field("unplug_time_s", "H"),
    _Field("float_percent", "B"),
    _Field("float_detect_time_s", "H"),
    _Field("float_time_s", "H"),
    _Field("heartbeat_interval_s", "H"),
)


@_RUN_PARAMETERS_1.bind
@dataclass(frozen=True, slots=True)
class RunParameters1(_DeclaredMessage):
    """0x83 run parameters 1.1 (reply: ``CommandResult``; read back with 0x90).

    The document gives no unit for the unplug power, so the protocol's default 0.1 W applies.
    Vendor defaults: 3, 10, 20, 1800, 3600, 180.
    """

    COMMAND: ClassVar[int] = 0x83

    unplug_power_w: float
    unplug_time_s: int
    float_percent: int  # of the charging power, 1-100
    float_detect_time_s: int
    float_time_s: int
    heartbeat_interval_s: int
    trailing: bytes = b""


_RUN_PARAMETERS_2 = _Layout(
    _Field("dynamic_overload_power_w", "H", 10),
    _Field("dynamic_overload_time_s", "H"),
    _Field("dynamic_overload_start_s", "H"),
    _Field("unplug_interference_power_w", "B", 10),
    _Field("unplug_interference_time_s", "H"),
    _Field("float_second_check_point_s", "H"),
    _Field("float_second_check_time_s", "H"),
    _Field("min_power_w", "H", 10),
    _Field("min_power_check_point_s", "H"),
    _Field("second_max_power_point_s", "H"),
    _Field("ambient_alarm_temp_c", "B"),
    _Field("port_alarm_temp_c", "B"),
    _Field("unplug_detection", "B"),
    # The QR light byte arrived in V8.0; the unplug-detection byte reused a reserved byte
    # (V6.3).
    optional=(_Field("qr_light", "B"),),
)


@_RUN_PARAMETERS_2.bind
@dataclass(frozen=True, slots=True)
class RunParameters2(_DeclaredMessage):
    """0x84 run parameters 1.2 (reply: ``CommandResult``; read back with 0x91).

    Powers in 0.1 W, times in seconds. The two alarm temperatures are plain °C: the vendor
    notes that this setting "needs no conversion", unlike the +65 of measured temperatures.
    Vendor defaults: 800, 30, 1800, 10, 300, 10800, 300, 300, 1800, 300, 80, 80, 0, 1.
    """

    COMMAND: ClassVar[int] = 0x84

    dynamic_overload_power_w: float
    dynamic_overload_time_s: int
    dynamic_overload_start_s: int
    unplug_interference_power_w: float  # u8 on the wire
    unplug_interference_time_s: int
    float_second_check_point_s: int
    float_second_check_time_s: int
    min_power_w: float
    min_power_check_point_s: int
    second_max_power_point_s: int
    ambient_alarm_temp_c: int
    port_alarm_temp_c: int
    unplug_detection: int  # 0 on, anything else off
    qr_light: int | None = None  # 0 on, 1 off
    trailing: bytes = b""


_LIMITS = _Layout(
    _Field("max_duration_s", "H"),
    _Field("overload_power_w", "H", 10),
    # Over- and under-voltage arrived on 2024-08-07; the vendor's example has only the first
    # four bytes (section 4, 0x85).
    optional=(_Field("over_voltage_v", "H", 10), _Field("under_voltage_v", "H", 10)),
)


@_LIMITS.bind
@dataclass(frozen=True, slots=True)
class Limits(_DeclaredMessage):
    """0x85 limits (reply: ``CommandResult``, 1 = beyond the station's maximum; read: 0x92)."""

    COMMAND: ClassVar[int] = 0x85

    max_duration_s: int  # default 36000
    overload_power_w: float  # per port; at most 2000 W (3500 W for high-power models)
    over_voltage_v: float | None = None  # default 270.0
    under_voltage_v: float | None = None  # default 100.0
    trailing: bytes = b""


_CARD_KEYS = _Layout(_Field("sector", "B"), _Field("user_key", "6s"), _Field("new_card_key", "6s"))
CARD_KEY_SIZE = 6


@_CARD_KEYS.bind
@dataclass(frozen=True, slots=True)
class CardKeys(_DeclaredMessage):
    """0x86 M1 card keys (reply: ``CommandResult``; read back with 0x93).

    Vendor defaults: sector 0, user key 15 91 85 19 18 80, new-card key FF FF FF FF FF FF.
    """

    COMMAND: ClassVar[int] = 0x86

    sector: int
    user_key: bytes
    new_card_key: bytes
    trailing: bytes = b""


@dataclass(frozen=True, slots=True)
class Reboot(_EmptyMessage):
    """0x87 reboot (reply: ``CommandResult``, which may never arrive)."""

    COMMAND: ClassVar[int] = 0x87


@dataclass(frozen=True, slots=True)
class ClearMemory(_EmptyMessage):
    """0x88 clear the station's memory except its ids (reply: ``CommandResult``)."""

    COMMAND: ClassVar[int] = 0x88


_PLAY_VOICE = _Layout(_Field("interrupt", "B"), _Field("count", "B"), rest="segments")


@_PLAY_VOICE.bind
@dataclass(frozen=True, slots=True)
class PlayVoice(_DeclaredMessage):
    """0x89 play voice segments (reserved by the vendor; reply: ``CommandResult``).

    ``count`` is the number of segments as sent; the size of one segment is undocumented, so
    the segments are kept as bytes.
    """

    COMMAND: ClassVar[int] = 0x89

    interrupt: int  # 1 = interrupt the voice playing now
    count: int
    segments: bytes


_MODIFY_CHARGE = _Layout(_Field("mode", "B"), _Field("port", "B"), _Field("value", "H"))


@_MODIFY_CHARGE.bind
@dataclass(frozen=True, slots=True)
class ModifyCharge(_DeclaredMessage):
    """0x8A change the running order's limit (reply: ``CommandResult``).

    ``mode`` 0 time, 1 time but stop when full, 2 energy with stop when full; ``value`` is
    seconds or 0.01 kWh accordingly.
    """

    COMMAND: ClassVar[int] = 0x8A

    mode: int
    port: int
    value: int
    trailing: bytes = b""


_READ_EEPROM = _Layout(_Field("address", "H"), _Field("length", "B"))


@_READ_EEPROM.bind
@dataclass(frozen=True, slots=True)
class ReadEeprom(_DeclaredMessage):
    """0x8B read up to 32 bytes of EEPROM (reply: ``EepromReadReply``)."""

    COMMAND: ClassVar[int] = 0x8B

    address: int
    length: int
    trailing: bytes = b""


_EEPROM_HEAD = Struct("<HB")


@dataclass(frozen=True, slots=True)
class WriteEeprom(Message):
    """0x8C write up to 32 bytes of EEPROM (reply: ``CommandResult``)."""

    COMMAND: ClassVar[int] = 0x8C

    address: int
    data: bytes  # its length goes on the wire as the length byte
    trailing: bytes = b""

    @classmethod
    def decode(cls, payload: bytes) -> Self:
        """Decode a 0x8C payload."""
        address, length = _unpack(cls, _EEPROM_HEAD, payload)
        end = _EEPROM_HEAD.size + length
        if len(payload) < end:
            raise _short(cls, payload, end)
        return cls(address, payload[_EEPROM_HEAD.size : end], payload[end:])

    def encode(self) -> bytes:
        """The 0x8C payload."""
        return _pack(_EEPROM_HEAD, self.address, len(self.data)) + self.data + self.trailing


_SET_WORK_MODE = _Layout(_Field("mode", "B"))


@_SET_WORK_MODE.bind
@dataclass(frozen=True, slots=True)
class SetWorkMode(_DeclaredMessage):
    """0x8D work mode: 0 online, 1 card only (reply: ``CommandResult``, 1 = unsupported)."""

    COMMAND: ClassVar[int] = 0x8D

    mode: int
    trailing: bytes = b""


_QR_TEXT_SIZE = 72
_QR_CODE = _Layout(
    _Field("screen", "B"),
    _Field("reserved", "3s"),
    # The text may fill 71 of the 72 bytes only: the last must stay 0 (see SetQrCode), and
    # struct pads the 71 to 72.
    _Field(
        "text",
        f"{_QR_TEXT_SIZE}s",
        _text,
        write=lambda text, name: _padded(text, _QR_TEXT_SIZE - 1, name),
    ),
)
_RESERVED_3 = bytes(3)


@_QR_CODE.bind
@dataclass(frozen=True, slots=True)
class SetQrCode(_DeclaredMessage):
    """0x8E QR code text of screen models (reply: ``CommandResult``).

    ``screen`` 0 shows the port states, 1 the QR code. The text takes at most 71 bytes: the
    last of the 72 must stay 0 or the station may stop working (vendor's warning).
    """

    COMMAND: ClassVar[int] = 0x8E

    screen: int
    text: str
    reserved: bytes = _RESERVED_3
    trailing: bytes = b""


_SET_CARD_BILLING_MODE = _Layout(_Field("mode", "B"))


@_SET_CARD_BILLING_MODE.bind
@dataclass(frozen=True, slots=True)
class SetCardBillingMode(_DeclaredMessage):
    """0x8F billing mode of card-only stations (reply: ``CommandResult``).

    Vendor's values: 0 time, 1 per use, 3 energy, 4 fixed fee, 5 home, 6 free choice.
    """

    COMMAND: ClassVar[int] = 0x8F

    mode: int
    trailing: bytes = b""


_READ_PARAMETERS = _Layout(params=("command",))


@_READ_PARAMETERS.bind
@dataclass(frozen=True, slots=True)
class ReadParameters(Message):
    """0x90-0x93 read back the parameters of 0x83 / 0x84 / 0x85 / 0x86.

    The station answers with the setting command's layout, without a result byte, so
    ``decode_station_reply`` returns a ``RunParameters1`` / ``RunParameters2`` / ``Limits`` /
    ``CardKeys``.
    """

    COMMANDS: ClassVar[frozenset[int]] = frozenset({0x90, 0x91, 0x92, 0x93})

    # field() stops dataclass from taking the inherited Message.command property as a default.
    command: int = field()
    trailing: bytes = b""

    @classmethod
    def decode(cls, payload: bytes, *, command: int) -> Self:
        """Decode the (empty) payload of ``command``."""
        return _READ_PARAMETERS.decode(cls, payload, command)


_TEMPORARY_QR_SIZE = 200
_TEMPORARY_QR = _Layout(_Field("text", f"{_TEMPORARY_QR_SIZE}s", _text))


@_TEMPORARY_QR.bind
@dataclass(frozen=True, slots=True)
class TemporaryQrCode(_DeclaredMessage):
    """0x95 temporary QR code of screen models: up to 200 bytes (reply: ``CommandResult``)."""

    COMMAND: ClassVar[int] = 0x95

    text: str
    trailing: bytes = b""


_LOCATE = _Layout(_Field("duration_s", "B"))


@_LOCATE.bind
@dataclass(frozen=True, slots=True)
class Locate(_DeclaredMessage):
    """0x96 sound and light to find the station (reply: ``CommandResult``)."""

    COMMAND: ClassVar[int] = 0x96

    duration_s: int
    trailing: bytes = b""


_MUTE = _Layout(_Field("mute", "B"))


@_MUTE.bind
@dataclass(frozen=True, slots=True)
class Mute(_DeclaredMessage):
    """0x97 run parameters 1.3: mute 1 silences the station (reply: ``CommandResult``)."""

    COMMAND: ClassVar[int] = 0x97

    mute: int
    trailing: bytes = b""


_LOCKER_RELEASE = _Layout(_Field("port", "B"), _Field("order_no", "16s"))


@_LOCKER_RELEASE.bind
@dataclass(frozen=True, slots=True)
class LockerRelease(_DeclaredMessage):
    """0x72 locker: stop charging without opening the door (reply: ``CommandResult``).

    The reply echoes the order number after the result; it is in ``CommandResult.trailing``.
    """

    COMMAND: ClassVar[int] = 0x72

    port: int
    order_no: bytes
    trailing: bytes = b""


_LOCKER_DOOR = _Layout(_Field("function", "B"), _Field("port", "B"))


@_LOCKER_DOOR.bind
@dataclass(frozen=True, slots=True)
class LockerDoor(_DeclaredMessage):
    """0x98 multi-function command: function 0 forces a locker door open."""

    COMMAND: ClassVar[int] = 0x98

    function: int
    port: int
    trailing: bytes = b""


@dataclass(frozen=True, slots=True)
class HostReboot(_EmptyMessage):
    """0x31 reboot a host gateway (reply: ``CommandResult``)."""

    COMMAND: ClassVar[int] = 0x31


@dataclass(frozen=True, slots=True)
class ModuleReboot(_EmptyMessage):
    """0x32 reboot a host gateway's communication module (reply: ``CommandResult``)."""

    COMMAND: ClassVar[int] = 0x32


@dataclass(frozen=True, slots=True)
class ClearSubUpgrade(_EmptyMessage):
    """0x33 clear a host gateway's sub-station upgrade data (reply: ``CommandResult``)."""

    COMMAND: ClassVar[int] = 0x33


_SERVER_ADDRESS_SIZE = 46
_SERVER_ADDRESS = _Layout(
    _Field("port", "H"),
    _Field("module_type", "B"),
    _Field("socket_b", "B"),
    _Field("address", f"{_SERVER_ADDRESS_SIZE}s", _text),
)


@_SERVER_ADDRESS.bind
@dataclass(frozen=True, slots=True)
class ChangeServerAddress(_DeclaredMessage):
    """0x34 point a host gateway at another server (reply: ``CommandResult``).

    ``port`` is the TCP port here, not a charging port (the vendor's name and example).
    """

    COMMAND: ClassVar[int] = 0x34

    port: int
    module_type: int
    socket_b: int
    address: str
    trailing: bytes = b""


_FIRMWARE_PACKET = _Layout(
    _Field("total", "H"), _Field("current", "H"), params=("command",), rest="data"
)


@_FIRMWARE_PACKET.bind
@dataclass(frozen=True, slots=True)
class FirmwarePacket(Message):
    """One firmware upgrade packet (reply: ``FirmwareReply``).

    E0 sub-station, E1 power board, E2 host, F8 old stations, F9/FA: packets of 200 bytes (256
    for F8/F9), ``current`` counting from 1. The self-downloading upgrade E4 carries no packet
    and is ``UpgradeTrigger``. Note: a 256-byte packet makes a 260-byte payload, beyond the
    247 bytes a frame holds (section 2 caps a frame at 256 bytes after the length field); the
    vendor's two rules contradict each other, so such a packet cannot be framed as is.
    """

    COMMANDS: ClassVar[frozenset[int]] = frozenset({0xE0, 0xE1, 0xE2, 0xF8, 0xF9, 0xFA})

    # field() stops dataclass from taking the inherited Message.command property as a default.
    command: int = field()
    total: int
    current: int
    data: bytes

    @classmethod
    def decode(cls, payload: bytes, *, command: int) -> Self:
        """Decode a firmware packet of ``command``."""
        return _FIRMWARE_PACKET.decode(cls, payload, command)


@dataclass(frozen=True, slots=True)
class UpgradeTrigger(_EmptyMessage):
    """0xE4 trigger the self-downloading upgrade of special models (empty payload)."""

    COMMAND: ClassVar[int] = 0xE4


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

UpstreamMessage = (
    Register
    | Heartbeat
    | LegacyHeartbeat
    | TimeRequest
    | HostTimeRequest
    | CardSwipe
    | Settlement
    | LegacyOrderConfirm
    | UpgradeRequest
    | PowerHeartbeat
    | HostHeartbeat
    | HostStatus
    | SubStationVersions
    | LockerHeartbeat
    | Alarm
    | LockerChargeDone
    | PortNotice
    | UnknownMessage
)
ServerReply = ResultReply | TimeReply | CardReply | OrderConfirmReply | UnknownMessage
DownstreamCommand = (
    QueryStatus
    | ChargeControl
    | RunParameters1
    | RunParameters2
    | Limits
    | CardKeys
    | Reboot
    | ClearMemory
    | PlayVoice
    | ModifyCharge
    | ReadEeprom
    | WriteEeprom
    | SetWorkMode
    | SetQrCode
    | SetCardBillingMode
    | ReadParameters
    | TemporaryQrCode
    | Locate
    | Mute
    | LockerRelease
    | LockerDoor
    | HostReboot
    | ModuleReboot
    | ClearSubUpgrade
    | ChangeServerAddress
    | FirmwarePacket
    | UpgradeTrigger
    | UnknownMessage
)
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

_UPSTREAM: dict[int, Callable[[bytes], UpstreamMessage]] = {
    cls.COMMAND: _decoder(cls)
    for cls in (
        Register,
        Heartbeat,
        LegacyHeartbeat,
        TimeRequest,
        HostTimeRequest,
        CardSwipe,
        Settlement,
        LegacyOrderConfirm,
        UpgradeRequest,
        PowerHeartbeat,
        HostHeartbeat,
        HostStatus,
        SubStationVersions,
        LockerHeartbeat,
        Alarm,
        LockerChargeDone,
        PortNotice,
    )
}

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

_DOWNSTREAM: dict[int, Callable[[bytes], DownstreamCommand]] = {
    cls.COMMAND: _decoder(cls)
    for cls in (
        QueryStatus,
        ChargeControl,
        RunParameters1,
        RunParameters2,
        Limits,
        CardKeys,
        Reboot,
        ClearMemory,
        PlayVoice,
        ModifyCharge,
        ReadEeprom,
        WriteEeprom,
        SetWorkMode,
        SetQrCode,
        SetCardBillingMode,
        TemporaryQrCode,
        Locate,
        Mute,
        LockerRelease,
        LockerDoor,
        HostReboot,
        ModuleReboot,
        ClearSubUpgrade,
        ChangeServerAddress,
        UpgradeTrigger,
    )
}
_DOWNSTREAM.update(
    {
        command: partial(_decoder(ReadParameters), command=command)
        for command in ReadParameters.COMMANDS
    }
)
_DOWNSTREAM.update(
    {
        command: partial(_decoder(FirmwarePacket), command=command)
        for command in FirmwarePacket.COMMANDS
    }
)

# Commands whose reply is a plain result byte: every downstream command except 0x81 (no
# reply), 0x82, 0x8B, the parameter read-backs and the firmware packets.
_RESULT_ONLY = frozenset(_DOWNSTREAM) - {
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

UPSTREAM_COMMANDS: frozenset[int] = frozenset(_UPSTREAM)
"""Command bytes a station sends on its own (section 3); the server's replies reuse them."""
DOWNSTREAM_COMMANDS: frozenset[int] = frozenset(_DOWNSTREAM)
"""Command bytes the server sends (section 4); the station's replies reuse them."""


def decode_upstream(command: int, payload: bytes) -> UpstreamMessage:
    """Decode what a station sent on its own; an unknown command gives ``UnknownMessage``."""
    decoder = _UPSTREAM.get(command)
    if decoder is None:
        return _new_unknown(command, payload)
    return decoder(payload)


def decode_station_reply(command: int, payload: bytes) -> StationReply:
    """Decode a station's reply to a downstream command (``UnknownMessage`` if unknown)."""
    decoder = _STATION_REPLIES.get(command)
    if decoder is None:
        return _new_unknown(command, payload)
    return decoder(payload)


def decode_downstream(command: int, payload: bytes) -> DownstreamCommand:
    """Decode a server command (the simulator's side); unknown gives ``UnknownMessage``."""
    decoder = _DOWNSTREAM.get(command)
    if decoder is None:
        return _new_unknown(command, payload)
    return decoder(payload)


def decode_server_reply(command: int, payload: bytes) -> ServerReply:
    """Decode the server's reply to an upstream message (``UnknownMessage`` if unknown)."""
    decoder = _SERVER_REPLIES.get(command)
    if decoder is None:
        return _new_unknown(command, payload)
    return decoder(payload)

"""The field-layout mechanism every message is built on, and its decoder generator.

``Message`` is the base of every message. A fixed-layout message declares its wire fields once,
in a ``_Layout`` bound to its class (``@_LAYOUT.bind``): the decoder is generated from the
declaration (see "Fast construction" below) and ``Message.encode`` writes the same declaration
back. ``_Tail`` encodes optional trailing fields (docs/protocol.md section 2), ``_EmptyMessage``
is the base of the messages with an empty payload and ``UnknownMessage`` keeps a command this
package does not know. ``_short``, ``_unpack`` and ``_pack`` are the checks the hand-written
codecs of the irregular messages share with the layouts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
import struct
from struct import Struct
from typing import Any, ClassVar, NamedTuple, NoReturn, Self

from custom_components.iot_zinx.protocol.errors import MessageError

from .values import _card_id_bytes, _fixed, _padded, _read_card_id, _text


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
#   declared fixed layout: one ``unpack_from`` whose targets are the twin's attributes for the
#   fields kept as they are (``_m.port, energy_kwh, ... = _unpack(_payload)``: no local per
#   field) and locals for the ones converted; when the payload holds exactly every field, the
#   rest is the ``b''`` constant rather than a slice. ``frame.py`` builds frames the same way.
#
# Why keep generated code (the ``exec`` in ``_compile_builder``): measured with
# ``tools/bench_protocol.py --repeat 5`` when messages.py became this package (December 2026,
# 8 to 11 interleaved runs each on a busy 2-core machine; ``ratio`` is the bare framing loop's
# time over feed + decode_upstream's, higher is better). With the generator the ratio is
# 0.24 median / 0.27 best, and one decode of 0x03 / 0x06 / 0x20 / 0x21 takes 0.81 / 0.83 /
# 0.37 / 0.64 us. The same twins filled by plain closures instead fall to 0.13 / 0.14 (a
# ``setattr`` loop per field: 2.40 / 3.12 / 1.38 / 1.21 us) and 0.14 / 0.15 (``setattr`` and
# the conversions mapped in C: 2.10 / 2.50 / 1.27 / 1.24 us), decoding 3 to 4 times slower.
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
    unpack: str = "",
    namespace: Mapping[str, Any] | None = None,
) -> Callable[..., Any]:
    """Generate ``def <name>(<signature>)``, returning a ``cls`` built without __init__.

    ``values`` gives every field's value as an expression over the signature's names, the
    ``prelude`` lines and ``namespace``, except the fields the ``unpack`` line stores itself
    (it runs once the twin ``_m`` exists: ``_m.port, raw, = ...`` stores ``port`` directly,
    which saves a local per field).
    """
    names = _field_names(cls)
    targets = (target.strip() for target in unpack.partition("=")[0].split(","))
    unpacked = {target.removeprefix("_m.") for target in targets if target.startswith("_m.")}
    if unpacked.isdisjoint(values) and unpacked | set(values) == set(names):
        lines = [f"def {name}({signature}):", *(f"    {line}" for line in prelude)]
        lines.append("    _m = _Twin()")
        if unpack:
            lines.append(f"    {unpack}")
        lines += [f"    _m.{item} = {values[item]}" for item in names if item in values]
        lines += ["    _m.__class__ = _cls", "    return _m"]
        scope = {"_Twin": _twin(cls), "_cls": cls, **(namespace or {})}
        exec(compile("\n".join(lines), f"<{cls.__name__} builder>", "exec"), scope)
        builder: Callable[..., Any] = scope[name]
        return builder
    raise TypeError(f"the builder {name} must set every field of {cls.__name__} once")


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
        # The common case, every field present: the length is read once, and the rest is
        # the empty bytes constant unless the payload runs longer (no slice to build).
        guard = ["_n = len(_payload)"]
        if full:
            guard += [f"if _n < {full}:", f"    return _shorter[_n]({signature})"]
        self.decoder = self._builder(
            cls,
            f"decode_{cls.__name__}",
            len(self._wire),
            signature,
            guard=guard,
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
        """The decoder ``name`` of a payload that holds the first ``count`` wire fields.

        With a ``guard`` (the full decoder's), the payload's length is in ``_n``.
        """
        present = self._wire[:count]
        layout = self._struct(count)
        scope = {"_unpack": layout.unpack_from, **(namespace or {})}
        values = {param: param for param in self._params}
        # A field kept as it is unpacked straight into the message; the others into a local
        # of their name, then converted.
        targets = []
        for item in present:
            if item.read is None:
                targets.append(f"_m.{item.name}")
            elif isinstance(item.read, int):
                targets.append(item.name)
                values[item.name] = f"{item.name} / {item.read}"
            else:
                targets.append(item.name)
                scope[f"_read_{item.name}"] = item.read
                values[item.name] = f"_read_{item.name}({item.name})"
        values |= dict.fromkeys((item.name for item in self._wire[count:]), "None")
        size = layout.size
        values[self._rest] = (
            f"_payload[{size}:] if _n > {size} else b''" if guard else f"_payload[{size}:]"
        )
        unpack = ", ".join(targets) + ", = _unpack(_payload)" if present else ""
        return _compile_builder(
            cls, name, signature, values, prelude=guard, unpack=unpack, namespace=scope
        )

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

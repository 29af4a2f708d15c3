"""The wire form of the protocol's values: temperatures, order numbers, card ids, text.

docs/protocol.md section 2 (temperatures are degrees + 65, 0 = no sensor), section 3 0x02 (the
big-endian card id), section 5 (order numbers) and the NUL-padded text fields of sections 3
and 4. The public functions are re-exported by the ``messages`` package; the private ones are
the message modules' (``layout.py`` derives a field's encoder from them).
"""

from __future__ import annotations

ORDER_NO_SIZE = 16


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

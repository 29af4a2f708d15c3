"""Tests of the stream splitter (docs/protocol.md section 1 and 2)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
import itertools

from hypothesis import given, settings, strategies as st
import pytest

from custom_components.iot_zinx.protocol.frame import LONG_MAX_PAYLOAD, MAX_PAYLOAD, Frame
from custom_components.iot_zinx.protocol.stream import (
    DEFAULT_MAX_BUFFER,
    ICCID_LENGTH,
    MIN_BUFFER,
    Garbage,
    Iccid,
    LinkKeepalive,
    StreamItem,
    StreamSplitter,
)

ICCID = b"89860413161892009275"  # docs/protocol.md section 1
REGISTER = Frame(0x04AB373B, 0x00B9, 0x20, bytes.fromhex("7E 00 02 14 21 00 00 00 E4 00"))
HEARTBEAT = Frame(0x04AB373B, 0x0001, 0x21, bytes.fromhex("98 08 02 00 00 09 05"))
TIME_REQUEST = Frame(0x09D62684, 0x0005, 0x12)
RAW_REGISTER = REGISTER.encode()
RAW_HEARTBEAT = HEARTBEAT.encode()

frames = st.builds(
    Frame,
    physical_id=st.integers(0, 0xFFFFFFFF),
    message_id=st.integers(0, 0xFFFF),
    command=st.integers(0, 0xFF),
    payload=st.binary(max_size=MAX_PAYLOAD),
)
PROPERTY = settings(max_examples=200, deadline=None)


def feed_all(splitter: StreamSplitter, chunks: Iterable[bytes]) -> list[StreamItem]:
    items: list[StreamItem] = []
    for chunk in chunks:
        items += splitter.feed(chunk)
    return items


def chunked(data: bytes, cuts: Iterable[int]) -> list[bytes]:
    """``data`` cut at the given offsets (taken modulo its length, duplicates ignored)."""
    points = sorted({0, len(data), *(cut % (len(data) + 1) for cut in cuts)})
    return [data[a:b] for a, b in itertools.pairwise(points)]


def coalesced(items: Sequence[StreamItem]) -> list[StreamItem]:
    """Adjacent ``Garbage`` items merged (a garbage run may straddle two ``feed`` calls)."""
    merged: list[StreamItem] = []
    for item in items:
        if isinstance(item, Garbage) and merged and isinstance(merged[-1], Garbage):
            merged[-1] = Garbage(merged[-1].data + item.data)
        else:
            merged.append(item)
    return merged


def item_size(item: StreamItem) -> int:
    if isinstance(item, Frame):
        return len(item.encode())
    if isinstance(item, Iccid):
        return ICCID_LENGTH
    if isinstance(item, LinkKeepalive):
        return 4
    return len(item.data)


def assert_accounted(splitter: StreamSplitter, fed: int, items: Sequence[StreamItem]) -> None:
    """Every byte fed is in exactly one item or still buffered; the counters agree."""
    assert sum(item_size(item) for item in items) + splitter.buffered == fed
    assert splitter.frames == sum(isinstance(item, Frame) for item in items)
    garbage = [item for item in items if isinstance(item, Garbage)]
    assert splitter.skipped_bytes == sum(len(item.data) for item in garbage)
    assert all(item.data for item in garbage)


def test_connect_sequence_in_one_piece() -> None:
    splitter = StreamSplitter()
    data = ICCID + RAW_REGISTER + b"link" + RAW_HEARTBEAT
    items = splitter.feed(data)
    assert items == [Iccid("89860413161892009275"), REGISTER, LinkKeepalive(), HEARTBEAT]
    assert (splitter.frames, splitter.bad_frames, splitter.skipped_bytes) == (2, 0, 0)
    assert splitter.buffered == 0
    assert_accounted(splitter, len(data), items)


def test_connect_sequence_byte_by_byte() -> None:
    splitter = StreamSplitter()
    data = ICCID + RAW_REGISTER + b"link" + RAW_HEARTBEAT + b"link"
    items: list[StreamItem] = []
    for index in range(len(data)):
        items += splitter.feed(data[index : index + 1])
    assert items == [
        Iccid("89860413161892009275"),
        REGISTER,
        LinkKeepalive(),
        HEARTBEAT,
        LinkKeepalive(),
    ]
    assert splitter.buffered == 0


def test_feed_empty() -> None:
    splitter = StreamSplitter()
    assert splitter.feed(b"") == []
    splitter.feed(RAW_REGISTER[:5])
    assert splitter.feed(b"") == []
    assert splitter.buffered == 5


def test_feed_accepts_bytearray_and_memoryview() -> None:
    splitter = StreamSplitter()
    assert splitter.feed(bytearray(RAW_REGISTER[:8])) == []
    assert splitter.feed(memoryview(RAW_REGISTER)[8:]) == [REGISTER]
    assert splitter.feed(memoryview(RAW_HEARTBEAT)) == [HEARTBEAT]
    items = splitter.feed(bytearray(b"link"))
    assert items == [LinkKeepalive()]


def test_items_are_bytes_and_str() -> None:
    items = StreamSplitter().feed(bytearray(ICCID + RAW_REGISTER + b"xy"))
    iccid, frame, garbage = items
    assert isinstance(iccid, Iccid)
    assert type(iccid.value) is str
    assert isinstance(frame, Frame)
    assert type(frame.payload) is bytes
    assert garbage == Garbage(b"xy")
    assert type(garbage.data) is bytes
    assert all(isinstance(item, StreamItem) for item in [*items, LinkKeepalive()])


@pytest.mark.parametrize("size", range(1, ICCID_LENGTH))
def test_iccid_prefix_waits(size: int) -> None:
    splitter = StreamSplitter()
    assert splitter.feed(ICCID[:size]) == []
    assert splitter.buffered == size
    assert splitter.feed(ICCID[size:]) == [Iccid(ICCID.decode())]
    assert splitter.buffered == 0


def test_short_digit_run_is_garbage() -> None:
    splitter = StreamSplitter()
    assert splitter.feed(b"8986041316") == []
    assert splitter.feed(RAW_REGISTER) == [Garbage(b"8986041316"), REGISTER]
    assert splitter.skipped_bytes == 10


def test_longer_digit_run_is_an_iccid_then_garbage() -> None:
    items = StreamSplitter().feed(ICCID + b"12x")
    assert items == [Iccid(ICCID.decode()), Garbage(b"12x")]


def test_iccid_after_garbage() -> None:
    splitter = StreamSplitter()
    items = splitter.feed(b"\r\nOK\r\n" + ICCID + RAW_HEARTBEAT)
    assert items == [Garbage(b"\r\nOK\r\n"), Iccid(ICCID.decode()), HEARTBEAT]


def test_trailing_digits_after_garbage_wait() -> None:
    splitter = StreamSplitter()
    assert splitter.feed(b"xx" + ICCID[:7]) == [Garbage(b"xx")]
    assert splitter.buffered == 7
    assert splitter.feed(ICCID[7:]) == [Iccid(ICCID.decode())]


def test_iccid_mid_stream() -> None:
    items = StreamSplitter().feed(RAW_HEARTBEAT + ICCID + RAW_HEARTBEAT)
    assert items == [HEARTBEAT, Iccid(ICCID.decode()), HEARTBEAT]


@pytest.mark.parametrize("prefix", [b"l", b"li", b"lin"])
def test_link_prefix_waits(prefix: bytes) -> None:
    splitter = StreamSplitter()
    assert splitter.feed(prefix) == []
    assert splitter.buffered == len(prefix)
    assert splitter.feed(b"link"[len(prefix) :]) == [LinkKeepalive()]
    assert splitter.buffered == 0


def test_broken_link_is_garbage() -> None:
    splitter = StreamSplitter()
    assert splitter.feed(b"li") == []
    assert splitter.feed(b"nx") == [Garbage(b"linx")]
    assert splitter.feed(b"LINK") == [Garbage(b"LINK")]


def test_link_after_garbage_and_many_links() -> None:
    items = StreamSplitter().feed(b"ablinklinklink")
    assert items == [Garbage(b"ab"), LinkKeepalive(), LinkKeepalive(), LinkKeepalive()]


@pytest.mark.parametrize("size", range(1, len(RAW_REGISTER)))
def test_frame_split_anywhere_waits(size: int) -> None:
    splitter = StreamSplitter()
    assert splitter.feed(RAW_REGISTER[:size]) == []
    assert splitter.buffered == size
    cut = min(size, len(RAW_HEARTBEAT) - 1)
    assert splitter.feed(RAW_REGISTER[size:] + RAW_HEARTBEAT[:cut]) == [REGISTER]
    assert splitter.buffered == cut
    assert splitter.feed(RAW_HEARTBEAT[cut:]) == [HEARTBEAT]
    assert splitter.buffered == 0
    assert (splitter.frames, splitter.bad_frames, splitter.skipped_bytes) == (2, 0, 0)


def test_glued_frames() -> None:
    data = RAW_REGISTER + RAW_HEARTBEAT + TIME_REQUEST.encode() + RAW_REGISTER
    assert StreamSplitter().feed(data) == [REGISTER, HEARTBEAT, TIME_REQUEST, REGISTER]


def test_largest_frame() -> None:
    frame = Frame(0x04AB373B, 1, 0x06, bytes(range(MAX_PAYLOAD)))
    splitter = StreamSplitter()
    raw = frame.encode()
    assert splitter.feed(raw[:260]) == []
    assert splitter.buffered == 260
    assert splitter.feed(raw[260:]) == [frame]


def test_garbage_before_between_and_after_frames_is_coalesced() -> None:
    splitter = StreamSplitter()
    data = b"AT+OK" + RAW_REGISTER + b"\x00\xff" + b"DNY\xff\xff" + b"zz" + RAW_HEARTBEAT + b"!"
    items = splitter.feed(data)
    assert items == [
        Garbage(b"AT+OK"),
        REGISTER,
        Garbage(b"\x00\xffDNY\xff\xffzz"),
        HEARTBEAT,
        Garbage(b"!"),
    ]
    assert (splitter.frames, splitter.bad_frames, splitter.skipped_bytes) == (2, 1, 15)
    assert_accounted(splitter, len(data), items)


def test_garbage_is_reported_per_feed() -> None:
    splitter = StreamSplitter()
    assert splitter.feed(b"ab") == [Garbage(b"ab")]
    assert splitter.feed(b"cd") == [Garbage(b"cd")]
    assert splitter.skipped_bytes == 4
    assert splitter.buffered == 0


def test_bad_checksum_frame_is_skipped() -> None:
    splitter = StreamSplitter()
    broken = RAW_REGISTER[:-1] + bytes([RAW_REGISTER[-1] ^ 0x01])
    items = splitter.feed(broken + RAW_HEARTBEAT)
    assert items == [Garbage(broken), HEARTBEAT]
    assert (splitter.frames, splitter.bad_frames, splitter.skipped_bytes) == (1, 1, len(broken))


def test_frame_inside_a_broken_frame_is_found() -> None:
    # A header whose frame fails its checksum is skipped by its "D" only: a real frame may
    # start inside what it announced.
    splitter = StreamSplitter()
    fake = b"DNY\x0f\x00" + b"\x01\x02"
    items = splitter.feed(fake + RAW_HEARTBEAT)
    assert items == [Garbage(fake), HEARTBEAT]
    assert splitter.bad_frames == 1


@pytest.mark.parametrize("length", [0, 1, 8, 257, 0x4E59, 0xFFFF])
def test_impossible_length_is_garbage_at_once(length: int) -> None:
    splitter = StreamSplitter()
    header = b"DNY" + length.to_bytes(2, "little")
    assert splitter.feed(header) == [Garbage(header)]
    assert splitter.buffered == 0
    assert splitter.feed(RAW_HEARTBEAT) == [HEARTBEAT]
    assert splitter.bad_frames == 1


def test_header_whose_length_bytes_start_a_header() -> None:
    splitter = StreamSplitter()
    assert splitter.feed(b"DNYDN") == [Garbage(b"DNY")]
    assert splitter.buffered == 2
    assert splitter.feed(RAW_HEARTBEAT[2:]) == [HEARTBEAT]
    assert splitter.bad_frames == 1


@pytest.mark.parametrize("prefix", [b"D", b"DN", b"DNY", b"DNY\x10"])
def test_header_prefix_waits(prefix: bytes) -> None:
    splitter = StreamSplitter()
    assert splitter.feed(b"x" + prefix) == [Garbage(b"x")]
    assert splitter.buffered == len(prefix)
    assert splitter.feed(RAW_HEARTBEAT[len(prefix) :]) == [HEARTBEAT]


def test_broken_header_prefix_is_garbage() -> None:
    splitter = StreamSplitter()
    assert splitter.feed(b"DN") == []
    assert splitter.feed(b"X") == [Garbage(b"DNX")]


def test_corrupted_length_does_not_hold_back_the_next_frames() -> None:
    # A header announcing 200 bytes, of which only a few came: while a whole valid frame
    # follows inside the announced length, the header is noise and is skipped at once.
    splitter = StreamSplitter()
    corrupted = b"DNY\xc8\x00" + b"\x3b\x37\xab\x04"
    assert splitter.feed(corrupted) == []
    assert splitter.buffered == len(corrupted)
    assert splitter.feed(RAW_HEARTBEAT[:10]) == []
    assert splitter.feed(RAW_HEARTBEAT[10:]) == [Garbage(corrupted), HEARTBEAT]
    assert splitter.buffered == 0
    assert splitter.bad_frames == 1


def test_lookahead_ignores_broken_and_partial_frames() -> None:
    splitter = StreamSplitter()
    waiting = b"DNY\xc8\x00" + b"DNY\xff\xff" + b"DNY\x0a\x00" + bytes(10) + RAW_HEARTBEAT[:-1]
    assert splitter.feed(waiting) == []
    assert splitter.buffered == len(waiting)
    items = splitter.feed(RAW_HEARTBEAT[-1:])
    assert items == [Garbage(waiting[: -len(RAW_HEARTBEAT) + 1]), HEARTBEAT]
    assert splitter.bad_frames == 3


def test_real_frame_cut_by_tcp_is_not_mistaken_for_noise() -> None:
    # The payload of a waiting frame holding "DNY" does not make the header noise.
    frame = Frame(0x04AB373B, 7, 0x03, b"DNY\x09\x00" + bytes(40))
    raw = frame.encode()
    splitter = StreamSplitter()
    assert splitter.feed(raw[:-3]) == []
    assert splitter.feed(raw[-3:]) == [frame]


# An F8 firmware packet of 256 bytes: a 274-byte frame, beyond the generic cap.
F8_PACKET = Frame(0x04AB373B, 9, 0xF8, bytes.fromhex("0200 0100") + b"\xff" * 256)
RAW_F8 = F8_PACKET.encode()


@pytest.mark.parametrize("size", [1, 5, 13, 14, 200, 272, 273])
def test_downstream_splitter_takes_a_long_f8_frame_cut_anywhere(size: int) -> None:
    splitter = StreamSplitter(downstream=True)
    assert len(RAW_F8) == 274
    assert splitter.feed(b"x" + RAW_F8[:size]) == [Garbage(b"x")]
    assert splitter.buffered == size
    items = splitter.feed(RAW_F8[size:] + RAW_REGISTER)
    assert items == [F8_PACKET, REGISTER]
    assert isinstance(items[0], Frame)
    assert items[0].payload == F8_PACKET.payload
    assert (splitter.frames, splitter.bad_frames, splitter.buffered) == (2, 0, 0)


def test_the_servers_splitter_keeps_the_cap() -> None:
    """Stations never send long frames: upstream, an F8 frame of 274 bytes is garbage."""
    splitter = StreamSplitter()
    items = coalesced(splitter.feed(RAW_F8 + RAW_REGISTER))
    assert items == [Garbage(RAW_F8), REGISTER]
    assert splitter.bad_frames >= 1


def test_downstream_long_frames_of_other_commands_or_broken_are_garbage() -> None:
    splitter = StreamSplitter(downstream=True)
    other = bytearray(RAW_F8)
    other[11] = 0xE0  # a long E0: only F8 and F9 may exceed the cap
    broken = RAW_F8[:-1] + bytes([RAW_F8[-1] ^ 1])
    too_long = Frame(1, 2, 0xF9, bytes(LONG_MAX_PAYLOAD)).encode()[:3] + b"\x0e\x01"
    for raw in (bytes(other), broken, too_long):
        items = coalesced(splitter.feed(raw + RAW_HEARTBEAT))
        assert items == [Garbage(raw), HEARTBEAT]
    assert splitter.frames == 3


def test_downstream_broken_header_before_a_long_frame_is_skipped() -> None:
    noise = b"DNY\xc8\x00" + bytes(6) + b"\xf8"  # announces 200 bytes that never come
    splitter = StreamSplitter(downstream=True)
    assert splitter.feed(noise) == []
    items = coalesced(feed_all(splitter, chunked(RAW_F8, [100, 200])))
    assert items == [Garbage(noise), F8_PACKET]
    assert splitter.buffered == 0


def test_downstream_garbage_then_a_long_frame_in_one_feed() -> None:
    splitter = StreamSplitter(downstream=True)
    assert splitter.feed(b"AT" + RAW_F8) == [Garbage(b"AT"), F8_PACKET]


def test_downstream_long_header_with_a_whole_frame_inside_is_noise() -> None:
    # An F8 header announcing 269 bytes, but a whole heartbeat follows inside them: noise,
    # skipped at once rather than waited for.
    noise = b"DNY\x0d\x01" + bytes(6) + b"\xf8"
    splitter = StreamSplitter(downstream=True)
    assert splitter.feed(noise + RAW_HEARTBEAT) == [Garbage(noise), HEARTBEAT]
    assert splitter.buffered == 0


def test_downstream_long_frames_need_a_buffer_that_holds_them() -> None:
    splitter = StreamSplitter(max_buffer=200, downstream=True)
    items = coalesced(splitter.feed(RAW_F8 + RAW_REGISTER))
    assert items == [Garbage(RAW_F8), REGISTER]


def test_max_buffer_minimum() -> None:
    with pytest.raises(ValueError, match="max_buffer 31 is below the minimum of 32"):
        StreamSplitter(max_buffer=MIN_BUFFER - 1)
    StreamSplitter(max_buffer=MIN_BUFFER)
    assert DEFAULT_MAX_BUFFER == 4096


def test_frame_larger_than_the_buffer_is_garbage() -> None:
    splitter = StreamSplitter(max_buffer=64)
    fits = Frame(1, 2, 3, bytes(50))  # 64 bytes
    too_big = Frame(1, 2, 3, bytes(51))  # 65 bytes
    assert splitter.feed(fits.encode()[:63]) == []
    assert splitter.buffered == 63
    assert splitter.feed(fits.encode()[63:]) == [fits]
    raw = too_big.encode()
    items = splitter.feed(raw[:10])
    assert items == [Garbage(raw[:10])]
    assert splitter.buffered == 0
    assert splitter.bad_frames == 1


def test_vector_stream(vector_frames: list[bytes]) -> None:
    data = b"".join(vector_frames)
    expected = [Frame(*_fields(raw)) for raw in vector_frames]
    assert StreamSplitter().feed(data) == expected
    splitter = StreamSplitter()
    assert feed_all(splitter, (data[i : i + 1] for i in range(len(data)))) == expected


def _fields(raw: bytes) -> tuple[int, int, int, bytes]:
    return (
        int.from_bytes(raw[5:9], "little"),
        int.from_bytes(raw[9:11], "little"),
        raw[11],
        raw[12:-2],
    )


@pytest.fixture
def vector_frames() -> list[bytes]:
    from .vectors import VECTORS

    return [bytes.fromhex(vector["hex"]) for vector in VECTORS]


iccids = st.text(alphabet="0123456789", min_size=ICCID_LENGTH, max_size=ICCID_LENGTH)
# Frames interleaved with keepalives, as a module sends them.
stream_items = st.lists(st.one_of(frames, st.just(LinkKeepalive())), max_size=25)


def _encode(items: Sequence[StreamItem]) -> bytes:
    parts: list[bytes] = []
    for item in items:
        if isinstance(item, Frame):
            parts.append(item.encode())
        elif isinstance(item, Iccid):
            parts.append(item.value.encode())
        else:
            parts.append(b"link")
    return b"".join(parts)


@PROPERTY
@given(iccids, stream_items, st.lists(st.integers(0, 10_000), max_size=40))
def test_any_chunking_of_a_valid_stream_yields_the_same_items(
    iccid: str, body: list[StreamItem], cuts: list[int]
) -> None:
    expected: list[StreamItem] = [Iccid(iccid), LinkKeepalive(), *body]
    data = _encode(expected)
    splitter = StreamSplitter()
    items = feed_all(splitter, chunked(data, cuts))
    assert items == expected
    assert splitter.buffered == 0
    assert (splitter.bad_frames, splitter.skipped_bytes) == (0, 0)
    assert_accounted(splitter, len(data), items)


@PROPERTY
@given(stream_items, st.lists(st.integers(1, 1460), min_size=1, max_size=20))
def test_tcp_sized_chunks(body: list[StreamItem], sizes: list[int]) -> None:
    data = _encode(body)
    chunks: list[bytes] = []
    offset = 0
    index = 0
    while offset < len(data):
        size = sizes[index % len(sizes)]
        chunks.append(data[offset : offset + size])
        offset += size
        index += 1
    assert feed_all(StreamSplitter(), chunks) == body


def _mutate(data: bytes, edits: list[tuple[int, int, int]]) -> bytes:
    """Flip (0), insert (1) or delete (2) bytes at the given offsets."""
    mutated = bytearray(data)
    for kind, offset, value in edits:
        if not mutated:
            break
        index = offset % len(mutated)
        if kind == 0:
            mutated[index] ^= value or 0xFF
        elif kind == 1:
            mutated.insert(index, value)
        else:
            del mutated[index]
    return bytes(mutated)


edits = st.lists(
    st.tuples(st.integers(0, 2), st.integers(0, 10_000), st.integers(0, 0xFF)),
    min_size=1,
    max_size=6,
)
noise = st.one_of(
    st.binary(max_size=600),
    # Noise made of protocol fragments, far more likely to fool a parser than random bytes.
    st.lists(
        st.sampled_from(
            [b"D", b"DN", b"DNY", b"DNY\xff\xff", b"DNY\x20\x00", b"lin", b"7", b"\x00"]
        )
        | st.binary(max_size=8),
        max_size=40,
    ).map(b"".join),
)


@PROPERTY
@given(
    st.one_of(noise, st.tuples(stream_items, edits).map(lambda t: _mutate(_encode(t[0]), t[1]))),
    frames,
    st.lists(st.integers(0, 10_000), max_size=10),
)
def test_noise_never_stops_the_next_valid_frame(
    prefix: bytes, frame: Frame, cuts: list[int]
) -> None:
    data = prefix + frame.encode()
    splitter = StreamSplitter()
    items = feed_all(splitter, chunked(data, cuts))
    assert items[-1] == frame
    assert splitter.buffered == 0
    assert_accounted(splitter, len(data), items)
    # Chunking changes at most how garbage runs are cut.
    assert coalesced(items) == coalesced(StreamSplitter().feed(data))


@PROPERTY
@given(st.lists(noise, min_size=1, max_size=30), st.sampled_from([MIN_BUFFER, 64, 300, 4096]))
def test_buffer_bound_under_endless_garbage(chunks: list[bytes], max_buffer: int) -> None:
    splitter = StreamSplitter(max_buffer=max_buffer)
    fed = 0
    items: list[StreamItem] = []
    for chunk in chunks:
        items += splitter.feed(chunk)
        fed += len(chunk)
        assert splitter.buffered <= max_buffer
    assert_accounted(splitter, fed, items)


@pytest.mark.parametrize("max_buffer", [MIN_BUFFER, 64, DEFAULT_MAX_BUFFER])
def test_buffer_bound_under_a_header_announcing_65535_bytes(max_buffer: int) -> None:
    splitter = StreamSplitter(max_buffer=max_buffer)
    header = b"DNY\xff\xff" + bytes(4)
    for _ in range(100):
        items = splitter.feed(header + bytes(range(256)) * 4)
        assert splitter.buffered <= max_buffer
        assert items[0] == Garbage(header + bytes(range(256)) * 4)
    assert splitter.bad_frames == 100
    assert splitter.feed(RAW_HEARTBEAT) == [HEARTBEAT]


@pytest.mark.parametrize("max_buffer", [MIN_BUFFER, 64, 300, DEFAULT_MAX_BUFFER])
def test_buffer_bound_with_frames_of_every_length(max_buffer: int) -> None:
    splitter = StreamSplitter(max_buffer=max_buffer)
    for size in range(MAX_PAYLOAD + 1):
        frame = Frame(0x04AB373B, size, 0x06, bytes([size]) * size)
        raw = frame.encode()
        items = splitter.feed(raw[:-1])
        assert splitter.buffered <= max_buffer
        items += splitter.feed(raw[-1:])
        if len(raw) <= max_buffer:
            assert items == [frame]
        else:
            assert frame not in items
        assert splitter.buffered <= max_buffer

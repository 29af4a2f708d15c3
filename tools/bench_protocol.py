"""Benchmark the protocol hot path: stream splitting and message decoding.

Builds a realistic byte stream of one busy connection (an ICCID, ``link`` keepalives, 0x21
heartbeats, 0x20 registers, full-length 0x06 power heartbeats, 0x03 settlements and a little
line noise), cuts it into TCP-like chunks of 1..1460 bytes, then times:

* bare:     the floor: the cheapest framing loop plain Python allows that still does a
            framer's checks (find the header, range-check the length, verify the checksum)
            and builds no objects. It sums the bytes with zlib's Adler-32, as the splitter
            does, since ``sum`` is slower; the ``sum`` variant is timed too, for reference;
* splitter: ``StreamSplitter.feed`` alone;
* full:     ``StreamSplitter.feed`` + ``messages.decode_upstream`` for every frame;
* decode:   ``messages.decode_upstream`` alone, per command, over the stream's payloads.

All are timed in the same run, best of ``--repeat`` interleaved rounds, on this thread's CPU
time (``--clock cpu``, the default): on a machine shared with other work, wall time
(``--clock wall``, what figures before 2026-12-07 used) also counts the moments the bench
waited for a core, which can land on any of the timed paths and swing the ratios by a factor
of two. ``ratio`` is bare time
/ full time, the share of the floor's speed the full path keeps (target: ``TARGET_RATIO``);
``ratio_vs_sum_bare`` is the same against the ``sum`` variant, the baseline of earlier figures.
Prints a table, then the figures as one JSON object on the last line. ``--profile`` adds a
cProfile listing of the full path.

    scripts/bench_protocol [--frames N] [--repeat N] [--seed N] [--clock cpu|wall] [--profile]
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
import cProfile
import json
from pathlib import Path
import pstats
import random
import struct
import sys
import time
from zlib import adler32

REPO = Path(__file__).resolve().parents[1]
# The repository's root, for the integration's packages (Python puts only tools/ on sys.path).
sys.path.insert(0, str(REPO))

from custom_components.iot_zinx.protocol.frame import Frame
from custom_components.iot_zinx.protocol.stream import StreamSplitter

try:
    from custom_components.iot_zinx.protocol.messages import (
        UnknownMessage,
        decode_upstream,
    )
except ImportError:  # messages.py not written yet: time the splitter alone
    decode_upstream = None  # type: ignore[assignment]
    UnknownMessage = None  # type: ignore[assignment,misc]

TARGET_RATIO = 0.35
_U16 = struct.Struct("<H").unpack_from
ICCID = b"89860413161892009275"
PORTS = 10


def _register(rng: random.Random) -> bytes:
    # firmware, port count, virtual id, device type, work mode, power board version (3, 0x20)
    return struct.pack("<HBBBBH", 126, PORTS, rng.randint(1, 50), 0x29, 0, 0)


def _heartbeat(rng: random.Random) -> bytes:
    # voltage, port count, statuses, signal, temperature + 65 (3, 0x21)
    statuses = bytes(rng.choice((0, 0, 1, 1, 2, 3, 5)) for _ in range(PORTS))
    return struct.pack("<HB", rng.randint(2150, 2350), PORTS) + statuses + bytes((0, 90))


def _order_no(rng: random.Random) -> bytes:
    return rng.randbytes(16)


def _power_heartbeat(rng: random.Random) -> bytes:
    # Every field, the optional trailing ones included (3, 0x06): 47 bytes.
    power = rng.randint(500, 20000)
    return (
        struct.pack(
            "<BBHHBHHHH",
            rng.randrange(PORTS),
            rng.choice((1, 1, 1, 3, 5)),
            rng.randint(0, 36000),
            rng.randint(0, 500),
            1,
            power,
            power + 100,
            max(0, power - 100),
            power,
        )
        + _order_no(rng)
        + struct.pack(
            "<HHHHBBIH",
            rng.randint(0, 9999),
            power + 200,
            rng.randint(2150, 2350),
            rng.randint(100, 9000),
            90,
            95,
            1_700_000_000 + rng.randint(0, 10**6),
            0,
        )
    )


def _settlement(rng: random.Random) -> bytes:
    # duration, max power, energy, port, start mode, card, stop reason, order no, second max
    # power, timestamp (3, 0x03): 35 bytes.
    return (
        struct.pack(
            "<HHHBBIB",
            rng.randint(60, 36000),
            rng.randint(500, 20000),
            rng.randint(0, 500),
            rng.randrange(PORTS),
            1,
            0,
            rng.randint(1, 0x1C),
        )
        + _order_no(rng)
        + struct.pack("<HI", rng.randint(500, 20000), 1_700_000_000 + rng.randint(0, 10**6))
    )


# (command, payload builder, weight): mostly power heartbeats of charging ports, then
# station heartbeats, a few registers and settlements.
_MIX: tuple[tuple[int, Callable[[random.Random], bytes], int], ...] = (
    (0x06, _power_heartbeat, 50),
    (0x21, _heartbeat, 30),
    (0x20, _register, 10),
    (0x03, _settlement, 10),
)


def build_stream(frames: int, seed: int) -> tuple[bytes, list[bytes], int]:
    """The stream, its chunks and the number of frames in it."""
    rng = random.Random(seed)
    commands = [entry[0] for entry in _MIX]
    builders = {entry[0]: entry[1] for entry in _MIX}
    weights = [entry[2] for entry in _MIX]
    parts = [ICCID]
    for message_id in range(frames):
        command = rng.choices(commands, weights)[0]
        physical_id = 0x05000000 | rng.randrange(1 << 24)  # 10-port stations behind a host
        payload = builders[command](rng)
        parts.append(Frame(physical_id, message_id & 0xFFFF, command, payload).encode())
        roll = rng.random()
        if roll < 0.02:
            parts.append(b"link")
        elif roll < 0.025:
            # Line noise, sometimes holding a false header.
            parts.append(rng.choice((b"\r\nOK\r\n", b"DNY\xff\xff", rng.randbytes(12))))
    data = b"".join(parts)
    chunks: list[bytes] = []
    offset = 0
    while offset < len(data):
        size = rng.randint(1, 1460)
        chunks.append(data[offset : offset + size])
        offset += size
    return data, chunks, frames


def bare_loop(chunks: Sequence[bytes]) -> int:
    """Count frames with the least work a framer can do: header, length, checksum.

    The checksum is the low 16 bits of the byte sum, read from Adler-32 (1 + the sum, exact
    for a frame's at most 256 bytes: see stream._checksum_ok). Of the variants tried (``sum``,
    ``int.from_bytes``, byte indexing, ``struct`` for the length too) this was the fastest.
    """
    buf = b""
    count = 0
    for chunk in chunks:
        buf = buf + chunk if buf else chunk
        find = buf.find
        end = len(buf)
        pos = 0
        while True:
            start = find(b"DNY", pos)
            if start < 0:
                pos = max(pos, end - 2)  # keep a possible "DN" for the next chunk
                break
            if end - start < 5:
                pos = start
                break
            length = buf[start + 3] | buf[start + 4] << 8
            if length < 9 or length > 256:
                pos = start + 1
                continue
            stop = start + 5 + length
            if stop > end:
                pos = start
                break
            check = stop - 2
            if adler32(buf[start:check]) & 0xFFFF == 1 + _U16(buf, check)[0]:
                count += 1
                pos = stop
            else:
                pos = start + 1
        buf = buf[pos:]
    return count


def bare_sum_loop(chunks: Sequence[bytes]) -> int:
    """``bare_loop`` with a plain ``sum`` checksum: the baseline of earlier figures."""
    buf = b""
    count = 0
    for chunk in chunks:
        buf = buf + chunk if buf else chunk
        end = len(buf)
        pos = 0
        while True:
            start = buf.find(b"DNY", pos)
            if start < 0:
                pos = max(pos, end - 2)
                break
            if end - start < 5:
                pos = start
                break
            length = buf[start + 3] | buf[start + 4] << 8
            if not 9 <= length <= 256:
                pos = start + 1
                continue
            stop = start + 5 + length
            if stop > end:
                pos = start
                break
            check = stop - 2
            if sum(buf[start:check]) & 0xFFFF == buf[check] | buf[check + 1] << 8:
                count += 1
                pos = stop
            else:
                pos = start + 1
        buf = buf[pos:]
    return count


def splitter_only(chunks: Sequence[bytes]) -> int:
    splitter = StreamSplitter()
    feed = splitter.feed
    for chunk in chunks:
        feed(chunk)
    return splitter.frames


def full_path(chunks: Sequence[bytes]) -> int:
    splitter = StreamSplitter()
    feed = splitter.feed
    decode = decode_upstream
    count = 0
    for chunk in chunks:
        for item in feed(chunk):
            if type(item) is Frame:
                decode(item.command, item.payload)
                count += 1
    return count


# The clock of every timing: this thread's CPU time (see the module's docstring) or wall time.
CLOCKS: dict[str, Callable[[], float]] = {"cpu": time.thread_time, "wall": time.perf_counter}
clock = CLOCKS["cpu"]


def best_times(
    functions: Sequence[Callable[[Sequence[bytes]], int]], chunks: Sequence[bytes], repeat: int
) -> list[tuple[float, int]]:
    """(best seconds, result) of each function over ``repeat`` rounds.

    The rounds interleave the functions, so that a busy machine slows them alike rather than
    whichever happened to run during the busy moment.
    """
    best = [float("inf")] * len(functions)
    results = [0] * len(functions)
    for _ in range(repeat):
        for index, function in enumerate(functions):
            start = clock()
            results[index] = function(chunks)
            best[index] = min(best[index], clock() - start)
    return list(zip(best, results, strict=True))


def payloads_by_command(chunks: Sequence[bytes]) -> dict[int, list[bytes]]:
    """The payloads of the stream's frames, by command."""
    found: dict[int, list[bytes]] = {}
    splitter = StreamSplitter()
    for chunk in chunks:
        for item in splitter.feed(chunk):
            if type(item) is Frame:
                found.setdefault(item.command, []).append(item.payload)
    return found


def decode_time(command: int, payloads: Sequence[bytes], repeat: int) -> float:
    """Best seconds per ``decode_upstream`` call over ``payloads`` of ``command``.

    A server decodes a payload right after reading it, from the CPU cache, so the calls cycle
    over the first 256 payloads (as many calls in all as there are payloads).
    """
    decode = decode_upstream
    sample = payloads[:256]
    rounds = max(1, len(payloads) // len(sample))
    best = float("inf")
    for _ in range(repeat):
        start = clock()
        for _ in range(rounds):
            for payload in sample:
                decode(command, payload)
        best = min(best, clock() - start)
    return best / (rounds * len(sample))


def check_decoding(chunks: Sequence[bytes]) -> None:
    """Every benchmark frame must decode to its typed message, not to UnknownMessage."""
    splitter = StreamSplitter()
    for chunk in chunks:
        for item in splitter.feed(chunk):
            if type(item) is Frame:
                message = decode_upstream(item.command, item.payload)
                if isinstance(message, UnknownMessage):
                    raise SystemExit(f"command 0x{item.command:02X} decoded as {message!r}")


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="scripts/bench_protocol", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--frames", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--seed", type=int, default=7054)
    parser.add_argument(
        "--clock",
        choices=sorted(CLOCKS),
        default="cpu",
        help="time this thread's CPU time (default) or wall time",
    )
    parser.add_argument("--profile", action="store_true", help="cProfile the full path")
    args = parser.parse_args()
    global clock  # noqa: PLW0603 - one setting for every timing function of this script
    clock = CLOCKS[args.clock]

    data, chunks, frames = build_stream(args.frames, args.seed)
    have_messages = decode_upstream is not None
    if have_messages:
        check_decoding(chunks)

    paths = [bare_loop, bare_sum_loop, splitter_only]
    if have_messages:
        paths.append(full_path)
    timed = best_times(paths, chunks, args.repeat)
    counts = [count for _, count in timed]
    if any(count != frames for count in counts):
        names = ", ".join(
            f"{path.__name__} {count}" for path, count in zip(paths, counts, strict=True)
        )
        raise SystemExit(f"expected {frames} frames: {names}")
    (bare_s, _), (sum_s, _), (split_s, _) = timed[:3]
    figures: dict[str, object] = {
        "clock": args.clock,
        "frames": frames,
        "bytes": len(data),
        "chunks": len(chunks),
        "bare_fps": round(frames / bare_s),
        "bare_sum_fps": round(frames / sum_s),
        "splitter_fps": round(frames / split_s),
        "splitter_ratio": round(bare_s / split_s, 3),
    }
    rows = [
        ("bare loop (floor)", bare_s),
        ("bare loop, sum checksum", sum_s),
        ("StreamSplitter.feed", split_s),
    ]
    decode_us: dict[str, float] = {}
    if have_messages:
        full_s = timed[3][0]
        rows.append(("feed + decode_upstream", full_s))
        for command, payloads in sorted(payloads_by_command(chunks).items()):
            seconds = decode_time(command, payloads, args.repeat)
            decode_us[f"0x{command:02X}"] = round(seconds * 1e6, 3)
        figures |= {
            "full_fps": round(frames / full_s),
            "ratio": round(bare_s / full_s, 3),
            "ratio_vs_sum_bare": round(sum_s / full_s, 3),
            "decode_us_per_frame": round((full_s - split_s) / frames * 1e6, 3),
            "decode_us": decode_us,
        }
    figures |= {
        "target_ratio": TARGET_RATIO,
        "target_met": have_messages and bare_s / full_s >= TARGET_RATIO,
        "messages": have_messages,
    }

    print(
        f"{frames} frames, {len(data)} bytes in {len(chunks)} chunks of 1..1460 bytes,"
        f" {args.clock} time"
    )
    print(f"{'path':<24} {'frames/s':>12} {'us/frame':>9} {'vs bare':>8}")
    for name, seconds in rows:
        print(
            f"{name:<24} {frames / seconds:>12,.0f} {seconds / frames * 1e6:>9.2f}"
            f" {bare_s / seconds:>8.2f}"
        )
    for label, micros in decode_us.items():
        print(f"{'decode_upstream ' + label:<24} {1e6 / micros:>12,.0f} {micros:>9.2f}")
    if not have_messages:
        print("messages.py is missing: the full path was not timed (splitter alone)")

    if args.profile and have_messages:
        profiler = cProfile.Profile()
        profiler.runcall(full_path, chunks)
        pstats.Stats(profiler, stream=sys.stdout).sort_stats("tottime").print_stats(15)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()

"""The protocol console: run the DNY server alone and print what happens, one JSON per line.

    python -m custom_components.iot_zinx.protocol --listen 0.0.0.0:7054

For installers checking that stations reach the server before setting up Home Assistant.
It answers exactly as the integration does (docs/protocol.md 6) and accepts every card
(account status 0). Each frame in and out becomes a line with its decoded fields; so do
stations going online or offline and connections opening or closing. The first line
announces the bound port (useful with port 0). Ctrl-C or SIGTERM stops it cleanly.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable, Sequence
import contextlib
from datetime import datetime
import json
import logging
import signal
import sys
from typing import TextIO

from .frame import Frame
from .jsonify import JsonValue, frame_to_dict
from .messages import CardReply, CardSwipe, Settlement, UpstreamMessage
from .server import DnyServer, OfflineReason, ServerConfig, StationLink

# CardAccountStatus 0 "normal" (docs/protocol.md 7.4), rate mode 0 "time".
_CARD_ACCEPTED = 0


def parse_listen(text: str) -> tuple[str, int]:
    """``"HOST:PORT"`` (``"[::]:7054"`` for IPv6) -> (host, port)."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not HOST:PORT")
    return host.strip("[]") or "0.0.0.0", int(port)


class Console:
    """Prints server events as JSON lines and accepts every card."""

    def __init__(
        self, out: TextIO | None = None, now: Callable[[], datetime] | None = None
    ) -> None:
        # sys.stdout at construction time, not at import (tests and redirections swap it).
        self._out = out if out is not None else sys.stdout
        self._now = now or (lambda: datetime.now().astimezone())

    def emit(self, event: str, **values: JsonValue) -> None:
        line: dict[str, JsonValue] = {
            "time": self._now().isoformat(timespec="milliseconds"),
            "event": event,
        }
        line.update(values)
        self._out.write(json.dumps(line, ensure_ascii=False) + "\n")
        self._out.flush()

    # -- ServerObserver ------------------------------------------------------------------

    def station_online(self, link: StationLink) -> None:
        self.emit("online", device_id=link.device_id, remote=link.remote_addr, iccid=link.iccid)

    def message_received(self, link: StationLink, message: UpstreamMessage) -> None:
        """Nothing: the frame logger already printed it, decoded."""

    def station_offline(self, link: StationLink, reason: OfflineReason) -> None:
        self.emit("offline", device_id=link.device_id, reason=reason.value)

    async def card_swiped(self, link: StationLink, swipe: CardSwipe) -> CardReply:
        return CardReply(
            card_id=swipe.card_id,
            account_status=_CARD_ACCEPTED,
            rate_mode=0,
            balance_or_expiry=0,
            port=swipe.port,
        )

    async def settlement_received(self, link: StationLink, settlement: Settlement) -> None:
        """Nothing to store: the frame logger already printed it, and it is acknowledged."""

    # -- loggers -------------------------------------------------------------------------

    def frame(self, direction: str, link: StationLink | None, frame: Frame, remote: str) -> None:
        values = frame_to_dict(direction, frame)
        values["remote"] = remote
        if link is None:
            values["admitted"] = False
        self.emit("frame", **values)

    def connection(self, event: str, conn_id: int, remote: str, detail: str) -> None:
        values: dict[str, JsonValue] = {"conn_id": conn_id, "remote": remote}
        if detail:
            values["detail"] = detail
        self.emit(f"connection_{event}", **values)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m custom_components.iot_zinx.protocol",
        description="Run the DNY server alone and print every frame and event as JSON lines.",
    )
    parser.add_argument(
        "--listen", type=parse_listen, default=("0.0.0.0", 7054), metavar="HOST:PORT"
    )
    parser.add_argument(
        "--heartbeat-timeout", type=float, default=ServerConfig().heartbeat_timeout, metavar="S"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="also log to stderr")
    return parser


async def run(args: argparse.Namespace, stop: asyncio.Event | None = None) -> DnyServer:
    """Serve until ``stop`` is set, SIGINT or SIGTERM; returns the stopped server."""
    stop = stop or asyncio.Event()
    console = Console()
    host, port = args.listen
    config = ServerConfig(host=host, port=port, heartbeat_timeout=args.heartbeat_timeout)
    server = DnyServer(
        config, console, frame_logger=console.frame, connection_logger=console.connection
    )
    await server.start()
    console.emit("listening", host=host, port=server.port)
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM)
    for signum in signals:
        with contextlib.suppress(NotImplementedError):  # Windows has no signal handlers
            loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        for signum in signals:
            loop.remove_signal_handler(signum)
        await server.stop()
        console.emit("stopped", **server.stats.as_dict())
    return server


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        asyncio.run(run(args))
    except OSError as err:
        sys.exit(f"cannot listen on {args.listen[0]}:{args.listen[1]}: {err}")


if __name__ == "__main__":
    main()

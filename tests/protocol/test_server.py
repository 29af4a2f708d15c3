"""DnyServer end to end over real sockets, against byte-exact raw stations.

The expected bytes are the vendor's example frames (vectors.json, station 04AB373B) where
one exists, so a reply that differs by one byte fails.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable
import itertools
import logging
import socket
from typing import Any

import pytest

from custom_components.iot_zinx.protocol import (
    connection as connection_module,
    registry as registry_module,
    server as server_module,
)
from custom_components.iot_zinx.protocol.errors import CommandTimeoutError, StationOfflineError
from custom_components.iot_zinx.protocol.frame import Frame
from custom_components.iot_zinx.protocol.messages import (
    CardReply,
    ChargeControl,
    ChargeControlReply,
    CommandResult,
    Heartbeat,
    LegacyHeartbeat,
    Limits,
    QueryStatus,
    Register,
    Settlement,
    UnknownMessage,
    decode_downstream,
)
from custom_components.iot_zinx.protocol.registry import CommandChannel
from custom_components.iot_zinx.protocol.server import (
    DnyServer,
    OfflineReason,
    ServerConfig,
    ServerStats,
    StationLink,
)

from .harness import ICCID, RawPeer, Recorder, unhex, wait_until

# A hang guard: every wait has its own timeout, this catches the rest.
pytestmark = pytest.mark.timeout(60)

STATION = 0x04AB373B
STATION_ID = "04AB373B"
HOST = 0x09D62684
# vectors.json, station 04AB373B.
REGISTER_UP = unhex("44 4E 59 13 00 3B 37 AB 04 B9 00 20 7E 00 02 14 21 00 00 00 E4 00 91 04")
REGISTER_DOWN = unhex("44 4E 59 0A 00 3B 37 AB 04 B9 00 20 00 EF 02")
HEARTBEAT_UP = unhex("44 4E 59 10 00 3B 37 AB 04 01 00 21 98 08 02 00 00 09 05 EE 02")
HEARTBEAT_DOWN = unhex("44 4E 59 0A 00 3B 37 AB 04 01 00 21 00 38 02")
LEGACY_UP = unhex(
    "44 4E 59 1D 00 3B 37 AB 04 B9 00 01 7E 00 8C 08 02 00 03 00 00 E4 00 00 00 3B 02 29 07"
    " 02 20 00 6D 05"
)
LEGACY_DOWN = unhex("44 4E 59 0A 00 3B 37 AB 04 B9 00 01 00 D0 02")
TIME_UP = unhex("44 4E 59 09 00 3B 37 AB 04 B9 00 22 F0 02")
TIME_DOWN = unhex("44 4E 59 0D 00 3B 37 AB 04 B9 00 22 09 0E A9 5F 13 04")
TIME_VECTOR = 1604914697
HOST_TIME_UP = unhex("44 4E 59 09 00 84 26 D6 09 05 00 12 94 02")
HOST_TIME_DOWN = unhex("44 4E 59 0D 00 84 26 D6 09 05 00 12 DE 5C A9 5F DA 04")
HOST_TIME_VECTOR = 1604934878
HOST_HEARTBEAT_UP = unhex(
    "44 4E 59 29 00 84 26 D6 09 04 00 11 65 00 01 5C 5C A9 5F 1F 06 38 39 38 36 30 34 31 33"
    " 31 36 31 38 39 32 30 30 39 32 37 35 50 D8 01 3F 0A"
)
CARD_UP = unhex("44 4E 59 11 00 3B 37 AB 04 01 00 02 7A 8D 05 DD 00 01 00 00 0A 04")
CARD_DOWN = unhex("44 4E 59 14 00 3B 37 AB 04 01 00 02 7A 8D 05 DD 00 00 10 27 00 00 01 44 04")
SETTLEMENT_UP = unhex(
    "44 4E 59 28 00 3B 37 AB 04 01 00 03 10 0E E8 03 30 00 01 01 00 00 00 00 01 20 19 09 01"
    " 18 00 00 13 00 30 38 01 02 03 04 05 E8 03 44 05"
)
SETTLEMENT_DOWN = unhex("44 4E 59 0A 00 3B 37 AB 04 01 00 03 00 1A 02")
QUERY_DOWN = unhex("44 4E 59 09 00 3B 37 AB 04 01 00 81 97 02")
CHARGE_DOWN = unhex(
    "44 4E 59 26 00 3B 37 AB 04 02 00 82 00 64 01 00 00 01 01 00 00 12 34 56 78 12 34 56 78"
    " 12 34 56 78 12 34 56 78 80 70 88 13 F8 08"
)
CHARGE_UP = unhex(
    "44 4E 59 1D 00 3B 37 AB 04 02 00 82 00 12 34 56 78 12 34 56 78 12 34 56 78 12 34 56 78"
    " 01 00 00 FE 06"
)
ORDER = bytes.fromhex("12345678" * 4)

FAST: dict[str, Any] = {
    "heartbeat_timeout": 5.0,
    "reply_timeout": 0.2,
    "command_spacing": 0.05,
    "identify_timeout": 5.0,
    "idle_timeout": 10.0,
}

type StartServer = Callable[..., Any]


@pytest.fixture
async def start_server() -> AsyncGenerator[Callable[..., Any]]:
    """Start a DnyServer on a free port with fast timers; stopped after the test."""
    servers: list[DnyServer] = []

    async def start(
        recorder: Recorder | None = None, *, clock: float | None = None, **options: Any
    ) -> tuple[DnyServer, Recorder]:
        recorder = recorder or Recorder()
        config = ServerConfig(host="127.0.0.1", port=0, **{**FAST, **options})
        kwargs: dict[str, Any] = {}
        if clock is not None:
            kwargs["clock"] = lambda: clock
        server = DnyServer(config, recorder, **kwargs)
        await server.start()
        servers.append(server)
        return server, recorder

    yield start
    for server in servers:
        await server.stop()


@pytest.fixture
async def peers() -> AsyncGenerator[Callable[[int], Any]]:
    """Open raw stations to a port; closed after the test."""
    opened: list[RawPeer] = []

    async def connect(port: int) -> RawPeer:
        peer = await RawPeer.connect(port)
        opened.append(peer)
        return peer

    yield connect
    for peer in opened:
        await peer.close()


async def registered(server: DnyServer, peer: RawPeer, iccid: bool = True) -> None:
    """ICCID + the vector's register, and its reply consumed."""
    if iccid:
        peer.send(ICCID.encode())
    peer.send(REGISTER_UP)
    assert await peer.raw() == REGISTER_DOWN
    await wait_until(lambda: server.link(STATION_ID) is not None)


def register_frame(physical_id: int, message_id: int = 1) -> Frame:
    return Frame(physical_id, message_id, 0x20, Register(126, 2, 0, 0x21, 0, 0).encode())


# -- automatic replies ----------------------------------------------------------------------


async def test_register_reply_is_the_vendor_example(start_server: Any, peers: Any) -> None:
    server, recorder = await start_server(clock=TIME_VECTOR + 0.7)
    peer = await peers(server.port)
    peer.send(ICCID.encode())
    peer.send(REGISTER_UP)
    assert await peer.raw() == REGISTER_DOWN
    await wait_until(lambda: len(recorder.events) == 2)
    # station_online before the first message_received.
    assert recorder.kinds() == ["online", "message"]
    link = recorder.online()[0]
    assert link == server.link(STATION_ID)
    assert link.device_id == STATION_ID
    assert link.physical_id == STATION
    assert link.iccid == ICCID
    assert link.connected_at == link.last_seen == TIME_VECTOR + 0.7
    assert link.last_heartbeat is None
    assert link.remote_addr.startswith("127.0.0.1:")
    assert recorder.messages() == [Register(126, 2, 20, 0x21, 0, 0, b"\xe4\x00")]
    assert server.links() == [link]
    assert server.stats.frames_in == 1
    assert server.stats.frames_out == 1


async def test_heartbeat_and_time_replies(start_server: Any, peers: Any) -> None:
    server, recorder = await start_server(clock=TIME_VECTOR + 0.9)
    peer = await peers(server.port)
    peer.send(HEARTBEAT_UP)
    assert await peer.raw() == HEARTBEAT_DOWN
    peer.send(TIME_UP)
    # The time reply carries the whole seconds of the server clock.
    assert await peer.raw() == TIME_DOWN
    link = server.link(STATION_ID)
    assert link is not None
    assert link.last_heartbeat == TIME_VECTOR + 0.9
    assert link.iccid is None
    assert [type(m).__name__ for m in recorder.messages()] == ["Heartbeat", "TimeRequest"]
    heartbeat = recorder.messages()[0]
    assert isinstance(heartbeat, Heartbeat)
    assert heartbeat.port_statuses == (0, 0)


async def test_host_time_and_heartbeat(start_server: Any, peers: Any) -> None:
    server, recorder = await start_server(clock=HOST_TIME_VECTOR)
    peer = await peers(server.port)
    peer.send(HOST_HEARTBEAT_UP + HOST_TIME_UP)  # glued in one segment
    assert await peer.raw() == HOST_TIME_DOWN
    await peer.nothing(0.05)  # 0x11 has no reply
    link = server.link("09D62684")
    assert link is not None
    assert link.last_heartbeat == HOST_TIME_VECTOR
    assert [type(m).__name__ for m in recorder.messages()] == ["HostHeartbeat", "HostTimeRequest"]


async def test_legacy_heartbeat_answered_only_until_a_0x21(start_server: Any, peers: Any) -> None:
    server, recorder = await start_server()
    peer = await peers(server.port)
    peer.send(LEGACY_UP)
    assert await peer.raw() == LEGACY_DOWN
    peer.send(HEARTBEAT_UP)
    assert await peer.raw() == HEARTBEAT_DOWN
    # docs/protocol.md 3: answer only one kind; this station speaks 0x21, so 0x01 goes unanswered.
    peer.send(LEGACY_UP)
    await peer.nothing(0.1)
    assert [type(m) for m in recorder.messages()] == [LegacyHeartbeat, Heartbeat, LegacyHeartbeat]
    # Even after a reconnection.
    await peer.close()
    again = await peers(server.port)
    again.send(LEGACY_UP)
    await again.nothing(0.1)


async def test_settlement_acknowledged_every_time(start_server: Any, peers: Any) -> None:
    server, recorder = await start_server()
    peer = await peers(server.port)
    for _ in range(3):
        peer.send(SETTLEMENT_UP)
        assert await peer.raw() == SETTLEMENT_DOWN
    settlements = recorder.messages()
    assert len(settlements) == 3
    assert all(isinstance(s, Settlement) for s in settlements)


async def test_legacy_order_confirmation(start_server: Any, peers: Any) -> None:
    server, _ = await start_server()
    peer = await peers(server.port)
    payload = bytes([1, 0]) + bytes.fromhex("7A8D05DD") + (60).to_bytes(2, "little") + ORDER
    peer.send(Frame(STATION, 0x0042, 0x04, payload))
    assert await peer.frame() == Frame(STATION, 0x0042, 0x04, bytes([1, 0]))


async def test_card_swipe_answered_with_the_observers_decision(
    start_server: Any, peers: Any
) -> None:
    recorder = Recorder(card_reply=CardReply(0x7A8D05DD, 0, 0, 10000, 1))
    server, _ = await start_server(recorder)
    peer = await peers(server.port)
    peer.send(CARD_UP)
    assert await peer.raw() == CARD_DOWN
    # Only card_swiped sees a swipe (its reply is the decision), not message_received.
    assert recorder.kinds() == ["online", "card"]


async def test_card_swipe_observer_failure_refuses_the_card(
    start_server: Any, peers: Any, caplog: pytest.LogCaptureFixture
) -> None:
    server, _ = await start_server(Recorder(failing={"card"}))
    peer = await peers(server.port)
    peer.send(CARD_UP)
    # Account status 1, "card not registered" (docs/protocol.md 7.4); the port echoed.
    reply = Frame(STATION, 1, 0x02, CardReply(0x7A8D05DD, 1, 0, 0, 1).encode())
    assert await peer.frame() == reply
    assert server.stats.card_errors == 1
    assert "Card decision failed" in caplog.text
    peer.send(HEARTBEAT_UP)
    assert await peer.raw() == HEARTBEAT_DOWN


async def test_card_decision_dropped_when_the_station_left(start_server: Any, peers: Any) -> None:
    server, recorder = await start_server(Recorder(card_delay=0.1))
    peer = await peers(server.port)
    peer.send(CARD_UP)
    await wait_until(lambda: "card" in recorder.kinds())
    await peer.close()
    await asyncio.sleep(0.15)
    assert server.stats.frames_out == 0


async def test_card_decision_cancelled_by_stop(start_server: Any, peers: Any) -> None:
    server, recorder = await start_server(Recorder(card_delay=5))
    peer = await peers(server.port)
    peer.send(CARD_UP)
    await wait_until(lambda: "card" in recorder.kinds())
    await server.stop()
    assert server.stats.frames_out == 0


# -- commands -------------------------------------------------------------------------------


async def test_request_sends_the_vendor_example_and_returns_the_reply(
    start_server: Any, peers: Any
) -> None:
    server, _ = await start_server()
    peer = await peers(server.port)
    await registered(server, peer)
    # 0x81 expects no reply: it returns once sent, with message id 1.
    assert await server.request(STATION_ID, QueryStatus(), expect_reply=False) is None
    assert await peer.raw() == QUERY_DOWN
    command = decode_downstream(0x82, CHARGE_DOWN[12:-2])
    assert isinstance(command, ChargeControl)
    task = asyncio.create_task(server.request(STATION_ID, command))
    assert await peer.raw() == CHARGE_DOWN  # message id 2
    peer.send(CHARGE_UP)
    assert await task == ChargeControlReply(0, ORDER, 1, 0)
    assert server.stats.resends == 0


def record_sends(server: DnyServer) -> list[tuple[float, Frame]]:
    """The loop time at which the server writes each frame (its frame logger's view)."""
    sent: list[tuple[float, Frame]] = []
    loop = asyncio.get_running_loop()

    def log(direction: str, _link: StationLink | None, frame: Frame, _remote: str) -> None:
        if direction == "out":
            sent.append((loop.time(), frame))

    server._registry.frame_logger = log
    return sent


def gaps(times: list[float]) -> list[float]:
    return [b - a for a, b in itertools.pairwise(times)]


async def test_resend_keeps_the_message_id(start_server: Any, peers: Any) -> None:
    server, _ = await start_server(reply_timeout=0.15)
    peer = await peers(server.port)
    await registered(server, peer)
    sent = record_sends(server)
    task = asyncio.create_task(server.request(STATION_ID, Limits(36000, 2000.0)))
    first = await peer.frame()
    # Ignore the first send: the server resends the same frame after reply_timeout.
    second = await peer.frame()
    assert second == first == Frame(STATION, 1, 0x85, unhex("A0 8C 20 4E"))
    assert gaps([at for at, _ in sent]) >= [0.15]
    peer.send(Frame(STATION, 1, 0x85, b"\x00"))
    assert await task == CommandResult(0x85, 0)
    assert server.stats.resends == 1
    assert server.stats.timeouts == 0


async def test_timeout_after_one_resend(start_server: Any, peers: Any) -> None:
    server, _ = await start_server(reply_timeout=0.1)
    peer = await peers(server.port)
    await registered(server, peer)
    with pytest.raises(CommandTimeoutError) as err:
        await server.request(STATION_ID, Limits(36000, 2000.0))
    assert (err.value.device_id, err.value.command, err.value.message_id) == (STATION_ID, 0x85, 1)
    frames = [await peer.frame(), await peer.frame()]
    assert frames == [Frame(STATION, 1, 0x85, unhex("A0 8C 20 4E"))] * 2
    assert server.stats.resends == 1
    assert server.stats.timeouts == 1
    # A reply after the timeout is late: counted, ignored.
    peer.send(Frame(STATION, 1, 0x85, b"\x00"))
    await wait_until(lambda: server.stats.unmatched_replies == 1)
    # The next command gets the next message id.
    task = asyncio.create_task(server.request(STATION_ID, Limits(36000, 2000.0)))
    assert (await peer.frame()).message_id == 2
    peer.send(Frame(STATION, 2, 0x85, b"\x00"))
    assert await task == CommandResult(0x85, 0)


async def test_reply_must_match_command_and_message_id(start_server: Any, peers: Any) -> None:
    server, _ = await start_server(reply_timeout=0.5)
    peer = await peers(server.port)
    await registered(server, peer)
    task = asyncio.create_task(server.request(STATION_ID, Limits(36000, 2000.0)))
    sent = await peer.frame()
    peer.send(Frame(STATION, sent.message_id + 1, 0x85, b"\x00"))  # wrong id
    peer.send(Frame(STATION, sent.message_id, 0x86, b"\x00"))  # wrong command
    peer.send(Frame(STATION, sent.message_id, 0x85, b""))  # right, but no result byte
    peer.send(Frame(STATION, sent.message_id, 0x85, b"\x01"))
    assert await task == CommandResult(0x85, 1)
    assert server.stats.unmatched_replies == 2
    assert server.stats.message_errors == 1


async def test_commands_are_spaced_and_in_order(start_server: Any, peers: Any) -> None:
    server, _ = await start_server(command_spacing=0.25)
    peer = await peers(server.port)
    await registered(server, peer)
    sent = record_sends(server)

    async def answer() -> None:
        for _ in range(3):
            frame = await peer.frame()
            peer.send(Frame(STATION, frame.message_id, frame.command, b"\x00"))

    answering = asyncio.create_task(answer())
    results = await asyncio.gather(
        *(server.request(STATION_ID, Limits(seconds, 2000.0)) for seconds in (1, 2, 3))
    )
    await answering
    assert results == [CommandResult(0x85, 0)] * 3
    commands = peer.received[1:]
    assert [frame.message_id for _, frame in commands] == [1, 2, 3]
    assert [frame.payload[0] for _, frame in commands] == [1, 2, 3]
    # The spacing is the server's: its writes, in loop time. What the station's clock sees
    # also depends on delivery, which a loaded machine can bunch up, so it is not asserted.
    assert [frame for _, frame in sent] == [frame for _, frame in commands]
    assert all(gap >= 0.25 for gap in gaps([at for at, _ in sent]))


async def test_resend_respects_spacing(start_server: Any, peers: Any) -> None:
    # A reply timeout shorter than the spacing: the resend waits for the spacing.
    server, _ = await start_server(reply_timeout=0.02, command_spacing=0.15)
    peer = await peers(server.port)
    await registered(server, peer)
    sent = record_sends(server)
    with pytest.raises(CommandTimeoutError):
        await server.request(STATION_ID, Limits(36000, 2000.0))
    assert len(peer.received) == 3  # the register reply, the command and its resend
    assert gaps([at for at, _ in sent]) >= [0.15]


async def test_message_ids_wrap() -> None:
    channel = CommandChannel()
    channel.last_message_id = 0xFFFE
    assert [channel.next_message_id() for _ in range(3)] == [0xFFFF, 0, 1]


async def test_request_to_an_offline_station(start_server: Any) -> None:
    server, _ = await start_server()
    with pytest.raises(StationOfflineError):
        await server.request(STATION_ID, QueryStatus(), expect_reply=False)
    with pytest.raises(StationOfflineError):
        await server.request("not an id", QueryStatus())
    assert server.link("not an id") is None
    assert server.disconnect(STATION_ID) is False
    assert server.disconnect("not an id") is False


async def test_station_lost_while_waiting(start_server: Any, peers: Any) -> None:
    server, _ = await start_server(reply_timeout=5)
    peer = await peers(server.port)
    await registered(server, peer)
    task = asyncio.create_task(server.request(STATION_ID, Limits(36000, 2000.0)))
    queued = asyncio.create_task(server.request(STATION_ID, Limits(1, 2000.0)))
    await peer.frame()
    await peer.close()
    with pytest.raises(StationOfflineError):
        await task
    with pytest.raises(StationOfflineError):
        await queued


async def test_station_lost_during_spacing(start_server: Any, peers: Any) -> None:
    server, _ = await start_server(command_spacing=0.2)
    peer = await peers(server.port)
    await registered(server, peer)
    await server.request(STATION_ID, QueryStatus(), expect_reply=False)
    task = asyncio.create_task(server.request(STATION_ID, QueryStatus(), expect_reply=False))
    await asyncio.sleep(0.05)
    await peer.close()
    with pytest.raises(StationOfflineError):
        await task


async def test_cancelled_request_frees_the_queue(start_server: Any, peers: Any) -> None:
    server, _ = await start_server(reply_timeout=5)
    peer = await peers(server.port)
    await registered(server, peer)
    task = asyncio.create_task(server.request(STATION_ID, Limits(36000, 2000.0)))
    await peer.frame()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    follow = asyncio.create_task(server.request(STATION_ID, Limits(1, 2000.0)))
    frame = await peer.frame()
    assert frame.message_id == 2
    peer.send(Frame(STATION, 2, 0x85, b"\x00"))
    assert await follow == CommandResult(0x85, 0)


# -- offline detection ----------------------------------------------------------------------


async def test_heartbeat_timeout(start_server: Any, peers: Any) -> None:
    server, recorder = await start_server(heartbeat_timeout=0.3)
    peer = await peers(server.port)
    await registered(server, peer)
    # Frames keep it online: the timer fires, sees a recent frame and re-arms.
    for _ in range(4):
        await asyncio.sleep(0.1)
        peer.send(HEARTBEAT_UP)
        assert await peer.raw() == HEARTBEAT_DOWN
    assert recorder.offline() == []
    await wait_until(lambda: recorder.offline() == [OfflineReason.HEARTBEAT_TIMEOUT], 1)
    assert server.link(STATION_ID) is None
    with pytest.raises(StationOfflineError):
        await server.request(STATION_ID, QueryStatus(), expect_reply=False)
    # The connection stays; the next frame brings the station back.
    peer.send(HEARTBEAT_UP)
    assert await peer.raw() == HEARTBEAT_DOWN
    assert recorder.kinds(STATION_ID)[-2:] == ["online", "message"]
    assert len(recorder.online()) == 2


async def test_connection_lost(start_server: Any, peers: Any) -> None:
    server, recorder = await start_server()
    peer = await peers(server.port)
    await registered(server, peer)
    await peer.close()
    await wait_until(lambda: recorder.offline() == [OfflineReason.CONNECTION_LOST])
    assert server.links() == []
    assert server.stats.connections_open == 0
    assert server.stats.connections_total == 1


async def test_newer_connection_replaces_the_link(start_server: Any, peers: Any) -> None:
    server, recorder = await start_server()
    old = await peers(server.port)
    await registered(server, old)
    new = await peers(server.port)
    new.send(HEARTBEAT_UP)
    assert await new.raw() == HEARTBEAT_DOWN
    await old.closed()  # it carried no other station
    online = recorder.online(STATION_ID)
    assert len(online) == 2
    assert online[0].conn_id < online[1].conn_id
    assert recorder.kinds(STATION_ID) == ["online", "message", "offline", "online", "message"]
    assert recorder.offline(STATION_ID) == [OfflineReason.MANUAL_DISCONNECT]
    assert server.link(STATION_ID) is online[1]
    assert server.stats.replaced_links == 1
    await wait_until(lambda: server.stats.connections_open == 1)


async def test_replaced_station_resends_on_the_new_connection(
    start_server: Any, peers: Any
) -> None:
    server, _ = await start_server(reply_timeout=0.15)
    old = await peers(server.port)
    await registered(server, old)
    task = asyncio.create_task(server.request(STATION_ID, Limits(36000, 2000.0)))
    first = await old.frame()
    new = await peers(server.port)
    new.send(HEARTBEAT_UP)
    assert await new.raw() == HEARTBEAT_DOWN
    resent = await new.frame()
    assert resent == first
    new.send(Frame(STATION, resent.message_id, 0x85, b"\x00"))
    assert await task == CommandResult(0x85, 0)


async def test_host_gateway_carries_sub_stations(start_server: Any, peers: Any) -> None:
    server, recorder = await start_server()
    peer = await peers(server.port)
    peer.send(ICCID.encode() + HOST_HEARTBEAT_UP)
    subs = (0x04A00001, 0x04A00002)
    for sub in subs:
        peer.send(register_frame(sub))
        reply = await peer.frame()
        assert reply == Frame(sub, 1, 0x20, b"\x00")
    links = [server.link(f"{sub:08X}") for sub in subs]
    host = server.link("09D62684")
    assert host is not None
    assert all(link is not None for link in links)
    assert {link.conn_id for link in [host, *links] if link} == {host.conn_id}
    assert {link.iccid for link in [host, *links] if link} == {ICCID}
    # A command for a sub-station goes down the host's socket with the sub-station's id.
    task = asyncio.create_task(server.request("04A00002", Limits(36000, 2000.0)))
    command = await peer.frame()
    assert command == Frame(0x04A00002, 1, 0x85, unhex("A0 8C 20 4E"))
    peer.send(Frame(0x04A00002, 1, 0x85, b"\x00"))
    assert await task == CommandResult(0x85, 0)
    await peer.close()
    await wait_until(lambda: len(recorder.offline()) == 3)
    assert set(recorder.offline()) == {OfflineReason.CONNECTION_LOST}


async def test_moved_sub_station_does_not_close_the_old_host(start_server: Any, peers: Any) -> None:
    server, recorder = await start_server()
    first = await peers(server.port)
    first.send(register_frame(0x04A00001).encode() + register_frame(0x04A00002).encode())
    await first.frame()
    await first.frame()
    second = await peers(server.port)
    second.send(register_frame(0x04A00002, 7))
    assert await second.frame() == Frame(0x04A00002, 7, 0x20, b"\x00")
    assert recorder.offline("04A00002") == [OfflineReason.MANUAL_DISCONNECT]
    # The first connection still carries 04A00001, so it stays open; its stale frames for
    # the moved id are ignored rather than taking the id back.
    first.send(register_frame(0x04A00002, 8))
    first.send(register_frame(0x04A00001, 9))
    assert await first.frame() == Frame(0x04A00001, 9, 0x20, b"\x00")
    link = server.link("04A00002")
    assert link is not None
    assert link.conn_id == recorder.online("04A00002")[-1].conn_id
    assert server.stats.rejected_frames == 1


async def test_iccid_after_the_first_frame_updates_the_links(start_server: Any, peers: Any) -> None:
    server, _ = await start_server()
    peer = await peers(server.port)
    await registered(server, peer, iccid=False)
    peer.send(ICCID.encode())
    await wait_until(lambda: (link := server.link(STATION_ID)) is not None and link.iccid == ICCID)


async def test_manual_disconnect(start_server: Any, peers: Any) -> None:
    server, recorder = await start_server()
    peer = await peers(server.port)
    await registered(server, peer)
    (conn,) = server._registry.connections
    assert server.disconnect(STATION_ID) is True
    assert recorder.offline() == [OfflineReason.MANUAL_DISCONNECT]
    await peer.closed()
    conn.close("again")  # closing twice changes nothing
    assert server.stats.connections_open == 0


async def test_observer_may_disconnect_a_station_it_is_told_about(
    start_server: Any, peers: Any
) -> None:
    class Bouncer(Recorder):
        def station_online(self, link: StationLink) -> None:
            super().station_online(link)
            server.disconnect(link.device_id)

    server, recorder = await start_server(Bouncer())
    peer = await peers(server.port)
    peer.send(REGISTER_UP + HEARTBEAT_UP)  # one read: the heartbeat finds the connection closed
    await peer.closed()
    assert peer.received == []  # no reply on a closed connection
    assert recorder.kinds() == ["online", "offline", "message"]
    assert server.stats.frames_in == 1


# -- robustness and limits ------------------------------------------------------------------


async def test_garbage_and_bad_frames_are_counted_and_skipped(
    start_server: Any, peers: Any
) -> None:
    logged: list[tuple[str, str]] = []
    server, recorder = await start_server()
    server._registry.connection_logger = lambda event, _id, _addr, detail: logged.append(
        (event, detail)
    )
    peer = await peers(server.port)
    corrupt = bytearray(HEARTBEAT_UP)
    corrupt[-1] ^= 0xFF  # bad checksum
    peer.send(b"AT+OK\r\n" + bytes(corrupt) + b"link" + REGISTER_UP)
    assert await peer.raw() == REGISTER_DOWN
    assert server.stats.bad_frames >= 1
    assert server.stats.skipped_bytes >= len(b"AT+OK\r\n") + len(corrupt)
    garbage = [detail for event, detail in logged if event == "garbage"]
    assert garbage[0].startswith("41 54 2B 4F 4B 0D 0A 44 4E 59")
    # A frame whose payload lacks required fields: counted, no reply, no message.
    peer.send(Frame(STATION, 5, 0x21, b"\x98").encode() + HEARTBEAT_UP)
    assert await peer.raw() == HEARTBEAT_DOWN
    assert server.stats.message_errors == 1
    assert [type(m) for m in recorder.messages()] == [Register, Heartbeat]


async def test_decoder_bug_costs_one_frame_not_the_connection(
    start_server: Any, peers: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(command: int, payload: bytes) -> object:
        raise IndexError("decoder bug")

    server, recorder = await start_server()
    peer = await peers(server.port)
    await registered(server, peer)
    monkeypatch.setattr(connection_module, "decode_upstream", broken)
    monkeypatch.setattr(registry_module, "decode_station_reply", broken)
    task = asyncio.create_task(server.request(STATION_ID, Limits(36000, 2000.0)))
    sent = await peer.frame()
    peer.send(HEARTBEAT_UP + Frame(STATION, sent.message_id, 0x85, b"\x00").encode())
    await wait_until(lambda: server.stats.message_errors == 2)
    assert "Cannot decode 0x21" in caplog.text
    monkeypatch.undo()
    peer.send(Frame(STATION, sent.message_id, 0x85, b"\x00"))
    assert await task == CommandResult(0x85, 0)
    peer.send(HEARTBEAT_UP)
    assert await peer.raw() == HEARTBEAT_DOWN
    assert recorder.offline() == []


async def test_unknown_upstream_command_reaches_the_observer(start_server: Any, peers: Any) -> None:
    server, recorder = await start_server()
    peer = await peers(server.port)
    peer.send(Frame(STATION, 3, 0x99, b"\x01\x02"))
    await wait_until(lambda: server.stats.unknown_commands == 1)
    assert recorder.messages() == [UnknownMessage(0x99, b"\x01\x02")]
    await peer.nothing(0.05)


async def test_observer_failures_do_not_break_the_connection(
    start_server: Any, peers: Any, caplog: pytest.LogCaptureFixture
) -> None:
    server, recorder = await start_server(Recorder(failing={"online", "message", "offline"}))
    peer = await peers(server.port)
    await registered(server, peer)
    peer.send(HEARTBEAT_UP)
    assert await peer.raw() == HEARTBEAT_DOWN
    await peer.close()
    await wait_until(lambda: recorder.offline() != [])
    assert server.stats.observer_errors == 4
    assert "Observer failed" in caplog.text


async def test_logger_failures_are_contained(
    start_server: Any, peers: Any, caplog: pytest.LogCaptureFixture
) -> None:
    server, _ = await start_server()

    def broken(*_args: object) -> None:
        raise RuntimeError("logger failure")

    server._registry.frame_logger = broken
    server._registry.connection_logger = broken
    peer = await peers(server.port)
    peer.send(ICCID.encode() + REGISTER_UP)
    assert await peer.raw() == REGISTER_DOWN
    assert "Frame logger failed" in caplog.text
    assert "Connection logger failed" in caplog.text


async def test_frame_and_connection_loggers(start_server: Any) -> None:
    frames: list[tuple[str, str | None, Frame, str]] = []
    events: list[tuple[str, int, str, str]] = []

    def log_frame(direction: str, link: StationLink | None, frame: Frame, remote: str) -> None:
        frames.append((direction, link.device_id if link else None, frame, remote))

    server = DnyServer(
        ServerConfig(host="127.0.0.1", port=0, **FAST),
        Recorder(),
        frame_logger=log_frame,
        connection_logger=lambda *event: events.append(event),
    )
    await server.start()
    try:
        peer = await RawPeer.connect(server.port)
        peer.send(ICCID.encode() + REGISTER_UP)
        await peer.frame()
        remote = events[0][2]
        assert frames == [
            ("in", STATION_ID, Frame(STATION, 0xB9, 0x20, REGISTER_UP[12:-2]), remote),
            ("out", STATION_ID, Frame(STATION, 0xB9, 0x20, b"\x00"), remote),
        ]
        await peer.close()
        await wait_until(lambda: len(events) == 3)
        assert [(e[0], e[3]) for e in events] == [("open", ""), ("iccid", ICCID), ("close", "lost")]
    finally:
        await server.stop()


async def test_identify_timeout(start_server: Any, peers: Any) -> None:
    server, recorder = await start_server(identify_timeout=0.15)
    silent = await peers(server.port)
    talker = await peers(server.port)
    silent.send(ICCID.encode() + b"link")  # not a frame: does not identify
    await registered(server, talker, iccid=False)
    await silent.closed(1)
    assert server.stats.unidentified_closed == 1
    await asyncio.sleep(0.1)
    assert not talker.eof.is_set()
    assert recorder.offline() == []


async def test_idle_timeout(start_server: Any, peers: Any) -> None:
    server, recorder = await start_server(idle_timeout=0.3)
    peer = await peers(server.port)
    await registered(server, peer)
    # "link" keeps the connection: the idle timer re-arms.
    for _ in range(4):
        await asyncio.sleep(0.1)
        peer.send(b"link")
    assert not peer.eof.is_set()
    await peer.closed(1)
    assert server.stats.idle_closed == 1
    assert recorder.offline() == [OfflineReason.CONNECTION_LOST]


async def test_max_connections(
    start_server: Any, peers: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    server, _ = await start_server(max_connections=1)
    first = await peers(server.port)
    await registered(server, first)
    refused = [await peers(server.port) for _ in range(2)]
    for peer in refused:
        await peer.closed()
    assert server.stats.connections_refused == 2
    assert caplog.text.count("Refusing connections") == 1  # once per burst
    await first.close()
    await wait_until(lambda: server.stats.connections_open == 0)
    again = await peers(server.port)
    await registered(server, again)
    assert "Accepting connections again after refusing 2" in caplog.text


async def test_admission(start_server: Any, peers: Any) -> None:
    server, recorder = await start_server(
        admit=lambda device_id: device_id != STATION_ID, identify_timeout=0.2
    )
    peer = await peers(server.port)
    peer.send(REGISTER_UP + HEARTBEAT_UP)
    await peer.nothing(0.1)
    assert recorder.events == []
    assert server.stats.rejected_stations == 1
    assert server.stats.rejected_frames == 2
    # A connection with only refused stations is not identified.
    await peer.closed(1)
    admitted = await peers(server.port)
    admitted.send(register_frame(0x04000001))
    assert await admitted.frame() == Frame(0x04000001, 1, 0x20, b"\x00")


async def test_admission_check_failure_refuses(
    start_server: Any, peers: Any, caplog: pytest.LogCaptureFixture
) -> None:
    def admit(device_id: str) -> bool:
        raise RuntimeError("broken allow list")

    server, _ = await start_server(admit=admit)
    peer = await peers(server.port)
    peer.send(REGISTER_UP)
    await peer.nothing(0.1)
    assert server.stats.rejected_stations == 1
    assert "Admission check failed" in caplog.text


async def deaf_station(server: DnyServer) -> asyncio.StreamWriter:
    """A registered station that never reads, with the smallest socket buffers."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", server.port))
    _, writer = await asyncio.open_connection(sock=sock)
    assert isinstance(writer.transport, asyncio.Transport)
    writer.transport.pause_reading()
    writer.write(REGISTER_UP)
    await wait_until(lambda: server.link(STATION_ID) is not None)
    (conn,) = server._registry.connections
    assert conn.transport is not None
    conn.transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 2048)
    return writer


async def test_peer_that_does_not_read_is_dropped(
    start_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(connection_module, "MAX_WRITE_BUFFER", 4096)
    server, recorder = await start_server()
    writer = await deaf_station(server)
    # Each settlement is acknowledged; the replies outgrow the buffers nobody empties.
    writer.write(SETTLEMENT_UP * 2000)
    await wait_until(lambda: recorder.offline() == [OfflineReason.CONNECTION_LOST], 5)
    assert server.stats.frames_out < 2000
    writer.close()


async def test_stop_takes_every_station_offline(start_server: Any, peers: Any) -> None:
    server, recorder = await start_server(reply_timeout=5)
    peer = await peers(server.port)
    await registered(server, peer)
    other = await peers(server.port)
    other.send(register_frame(0x04000001))
    await other.frame()
    task = asyncio.create_task(server.request(STATION_ID, Limits(36000, 2000.0)))
    await peer.frame()
    await server.stop()
    assert sorted(recorder.offline()) == [OfflineReason.SYSTEM_SHUTDOWN] * 2
    with pytest.raises(StationOfflineError):
        await task
    await peer.closed()
    await other.closed()
    assert server.links() == []
    assert server.stats.connections_open == 0
    assert not server.running
    await server.stop()  # twice is fine
    with pytest.raises(OSError):  # noqa: PT011 - refused: nothing listens any more
        await RawPeer.connect(server.port)


async def test_stop_aborts_connections_that_do_not_flush(
    start_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(server_module, "_CLOSE_GRACE", 0.1)
    server, recorder = await start_server()
    writer = await deaf_station(server)
    writer.write(SETTLEMENT_UP * 1000)  # 15 kB of replies pile up, under the 64 kB cap
    await wait_until(lambda: server.stats.frames_out == 1001, 5)
    await server.stop()
    assert recorder.offline() == [OfflineReason.SYSTEM_SHUTDOWN]
    writer.close()


async def test_start_errors(start_server: Any) -> None:
    server, recorder = await start_server()
    with pytest.raises(RuntimeError):
        await server.start()
    clash = DnyServer(ServerConfig(host="127.0.0.1", port=server.port), recorder)
    # reuse_address does not allow two listeners on one port.
    with pytest.raises(OSError):  # noqa: PT011
        await clash.start()
    assert not clash.running


async def test_bound_but_refusing_until_serve(peers: Any) -> None:
    """start(serve=False) takes the port and refuses stations; serve() lets them in."""
    recorder = Recorder()
    server = DnyServer(ServerConfig(host="127.0.0.1", port=0, **FAST), recorder)
    await server.serve()  # nothing bound yet: nothing to do
    assert not server.serving
    await server.start(serve=False)
    try:
        assert server.running
        assert not server.serving
        assert server.port != 0
        with pytest.raises(ConnectionRefusedError):
            await RawPeer.connect(server.port)
        await server.serve()
        await server.serve()  # twice is fine
        assert server.serving
        peer = await peers(server.port)
        await registered(server, peer)
        assert [link.device_id for link in recorder.online()] == [STATION_ID]
    finally:
        await server.stop()
    assert not server.serving


def test_stats_as_dict() -> None:
    stats = ServerStats(frames_in=3)
    values = stats.as_dict()
    assert values["frames_in"] == 3
    assert set(values) >= {
        "connections_total",
        "connections_open",
        "connections_refused",
        "unidentified_closed",
        "idle_closed",
        "frames_in",
        "frames_out",
        "bad_frames",
        "skipped_bytes",
        "message_errors",
        "unknown_commands",
        "resends",
        "timeouts",
        "rejected_stations",
    }
    assert all(value == 0 for key, value in values.items() if key != "frames_in")


def test_config_defaults() -> None:
    config = ServerConfig()
    assert (config.host, config.port) == ("0.0.0.0", 7054)
    assert (config.heartbeat_timeout, config.reply_timeout, config.command_spacing) == (
        420.0,
        15.0,
        0.5,
    )
    assert (config.identify_timeout, config.idle_timeout) == (60.0, 600.0)
    assert (config.max_connections, config.max_buffer, config.admit) == (10000, 4096, None)

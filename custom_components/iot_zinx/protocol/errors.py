"""Exceptions raised by the protocol package.

The Home Assistant layer translates these in one place (``helpers.py``); nothing here knows
about Home Assistant.
"""

from __future__ import annotations


class ProtocolError(Exception):
    """Base class of every error of the protocol package."""


class FrameError(ProtocolError):
    """Bytes that are not one valid DNY frame (header, length or checksum wrong)."""


class MessageError(ProtocolError):
    """A frame whose payload lacks a field the message cannot do without."""


class CommandError(ProtocolError):
    """A downstream command could not be carried out."""


class StationOfflineError(CommandError):
    """The station has no live connection, so the command was not sent."""

    def __init__(self, device_id: str) -> None:
        super().__init__(f"station {device_id} is offline")
        self.device_id = device_id


class CommandTimeoutError(CommandError):
    """The station did not answer the command nor its one resend (docs/protocol.md section 2)."""

    def __init__(self, device_id: str, command: int, message_id: int) -> None:
        super().__init__(
            f"station {device_id} did not answer command 0x{command:02X} "
            f"(message id 0x{message_id:04X}) after one resend"
        )
        self.device_id = device_id
        self.command = command
        self.message_id = message_id


class StationRefusedError(CommandError):
    """The station answered a command with a non-zero result code."""

    def __init__(self, device_id: str, command: int, code: int, description: str) -> None:
        super().__init__(
            f"station {device_id} refused command 0x{command:02X}: {code} ({description})"
        )
        self.device_id = device_id
        self.command = command
        self.code = code
        self.description = description

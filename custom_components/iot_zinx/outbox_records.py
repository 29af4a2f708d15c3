"""The values of webhook forwarding's outbox: endpoints, queued events, retries, dead letters.

Plain data, shared by the outbox (`outbox.py`), its files (`outbox_files.py`), delivery and the
forwarding manager.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import hashlib

from yarl import URL


def endpoint_key(url: str, token: str | None, api_key: str | None, secret: str | None) -> str:
    """Identity of an endpoint: URL plus a fingerprint of its credentials, never the credentials.

    Changing a token makes a new endpoint: its events are sent with the new token while those
    queued with the old one keep theirs.
    """
    material = "\0".join((url, token or "", api_key or "", secret or ""))
    return hashlib.sha256(material.encode()).hexdigest()[:16]


def strip_credentials(url: str) -> str:
    """The URL as shown to people: without user info, query and fragment (tokens hide there)."""
    try:
        parsed = URL(url)
        return str(parsed.with_user(None).with_query(None).with_fragment(None))
    except TypeError, ValueError:
        return "<invalid URL>"


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where and how to deliver: the action's url and credentials."""

    url: str
    token: str | None = None
    api_key: str | None = None
    secret: str | None = None
    key: str = field(init=False, compare=False)

    def __post_init__(self) -> None:
        """Compute the identity once."""
        object.__setattr__(
            self, "key", endpoint_key(self.url, self.token, self.api_key, self.secret)
        )

    def __repr__(self) -> str:
        """Never print credentials (this ends up in logs)."""
        return f"Endpoint({self.display_url!r}, key={self.key})"

    @property
    def display_url(self) -> str:
        """The URL with credentials stripped."""
        return strip_credentials(self.url)


def endpoint_name(url: str) -> str:
    """A short name for an endpoint's device: host (and explicit port) plus path."""
    try:
        parsed = URL(url)
    except TypeError, ValueError:
        return url
    host = parsed.host or url
    if parsed.explicit_port is not None:
        host = f"{host}:{parsed.explicit_port}"
    path = parsed.path.rstrip("/")
    return f"{host}{path}"


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """One queued event for one endpoint. Immutable: every attempt sends `body` as is."""

    seq: int
    endpoint_key: str
    station_id: str
    event_id: str
    event_type: str
    body: bytes
    enqueued_at: float


@dataclass(slots=True)
class RetryState:
    """Why and until when the head of a queue waits."""

    failures: int = 0
    next_at: float = 0.0
    error: str | None = None


@dataclass(slots=True)
class EndpointStats:
    """Per-endpoint counters and times (Unix seconds) shown by sensors and diagnostics."""

    url: str
    delivered: int = 0
    dead_letters: int = 0
    last_success: float | None = None
    last_error: str | None = None
    last_error_at: float | None = None
    failing_since: float | None = None
    last_activity: float = 0.0


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """An event given up on, kept (bounded) for diagnostics and manual replay."""

    endpoint_key: str
    url: str
    event_id: str
    event_type: str
    station_id: str
    reason: str
    status: int | None
    failures: int
    enqueued_at: float
    dead_at: float
    body: str

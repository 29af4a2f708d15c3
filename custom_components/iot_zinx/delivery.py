"""One HTTP delivery attempt of a forwarded event.

It follows docs/events.md, "Webhook delivery rules", exactly.

This module knows HTTP and nothing about queues: it turns an attempt into a `DeliveryResult`
(delivered, retry later, or rejected for good) and computes the retry schedule. The outbox and
the workers live in `outbox.py` and `forwarding.py`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from enum import StrEnum
import hashlib
import hmac
from typing import TYPE_CHECKING, Final

import aiohttp
from aiohttp import hdrs
from homeassistant.util.json import JSON_DECODE_EXCEPTIONS, json_loads

if TYPE_CHECKING:
    from .outbox import Endpoint, OutboxEntry

USER_AGENT: Final = "IoT-Zinx/1.0"
DEFAULT_ATTEMPT_TIMEOUT: Final = 10.0

# docs/events.md, "Webhook delivery rules": the first three retries wait 1 s, 2 s and 4 s (the
# documented schedule). After those three the documentation drops the event; we keep it and
# back off exponentially from 8 s, doubling up to a 10 min cap, until the retention runs out.
DOCUMENTED_RETRY_DELAYS: Final = (1.0, 2.0, 4.0)
BACKOFF_START: Final = 8.0
BACKOFF_CAP: Final = 600.0
# A Retry-After is honoured, but a receiver asking for more than an hour is most likely
# misconfigured; the event is still kept, it is only retried sooner than asked.
MAX_RETRY_AFTER: Final = 3600.0

# Platforms answer {"code": 200, ...}; anything much larger is not such an answer and reading
# it whole would let a broken receiver make us buffer arbitrary amounts.
MAX_ANSWER_BYTES: Final = 64 * 1024
_ERROR_SNIPPET: Final = 120

RETRYABLE_STATUSES: Final = frozenset({408, 429})


class Outcome(StrEnum):
    """What became of one attempt."""

    DELIVERED = "delivered"
    RETRY = "retry"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """The outcome of one attempt; `error` says why it was not delivered."""

    outcome: Outcome
    status: int | None = None
    error: str | None = None
    retry_after: float | None = None


def retry_delay(failures: int) -> float:
    """Seconds to wait after the `failures`-th failed attempt of one event (1-based)."""
    if failures <= len(DOCUMENTED_RETRY_DELAYS):
        return DOCUMENTED_RETRY_DELAYS[max(failures, 1) - 1]
    exponent = min(failures - len(DOCUMENTED_RETRY_DELAYS) - 1, 16)
    return min(BACKOFF_START * (1 << exponent), BACKOFF_CAP)


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date (RFC 9110)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), MAX_RETRY_AFTER)
    try:
        when = parsedate_to_datetime(value)
    except TypeError, ValueError:
        return None
    if when.tzinfo is None:
        # RFC 9110 dates are GMT; a naive result means the zone was "-0000".
        return None
    return min(max(when.timestamp() - now, 0.0), MAX_RETRY_AFTER)


def signature(secret: str, body: bytes) -> str:
    """The `X-Signature` value: HMAC-SHA256 of the exact body bytes, hex, prefixed sha256=."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def build_headers(endpoint: Endpoint, entry: OutboxEntry, sent_at: int) -> dict[str, str]:
    """Headers of one attempt.

    X-Timestamp is the Unix second the attempt is sent, not the event's time (which the body
    carries as `timestamp`): a receiver can then tell how late a redelivery is and refuse
    stale replays, while the body, and so its signature, stay byte-identical.
    """
    headers = {
        hdrs.CONTENT_TYPE: "application/json",
        hdrs.USER_AGENT: USER_AGENT,
        "X-Event-Type": entry.event_type,
        "X-Device-ID": entry.station_id,
        "X-Timestamp": str(sent_at),
    }
    if endpoint.token:
        headers[hdrs.AUTHORIZATION] = f"Bearer {endpoint.token}"
    if endpoint.api_key:
        headers["X-API-Key"] = endpoint.api_key
    if endpoint.secret:
        headers["X-Signature"] = signature(endpoint.secret, entry.body)
    return headers


async def _read_answer(response: aiohttp.ClientResponse) -> bytes | None:
    """The answer body, or None when it is larger than any platform answer should be."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(8192):
        size += len(chunk)
        if size > MAX_ANSWER_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _snippet(raw: bytes) -> str:
    text = raw.decode("utf-8", errors="replace").strip()
    return text if len(text) <= _ERROR_SNIPPET else text[: _ERROR_SNIPPET - 1] + "…"


def _judge_success_answer(status: int, raw: bytes | None) -> DeliveryResult:
    """A 2xx counts only with a JSON body whose `code` is 200 (docs/events.md)."""
    if raw is None:
        return DeliveryResult(Outcome.RETRY, status, f"HTTP {status} with an oversized answer")
    try:
        answer = json_loads(raw)
    except JSON_DECODE_EXCEPTIONS:
        return DeliveryResult(
            Outcome.RETRY, status, f"HTTP {status} with an unreadable answer: {_snippet(raw)!r}"
        )
    code = answer.get("code") if isinstance(answer, dict) else None
    # bool is an int in Python; `true` is not the code 200.
    if isinstance(code, int) and not isinstance(code, bool) and code == 200:
        return DeliveryResult(Outcome.DELIVERED, status)
    return DeliveryResult(
        Outcome.RETRY, status, f"HTTP {status} without code 200 in the answer: {_snippet(raw)!r}"
    )


async def async_deliver(
    session: aiohttp.ClientSession,
    endpoint: Endpoint,
    entry: OutboxEntry,
    *,
    sent_at: float,
    timeout_s: float = DEFAULT_ATTEMPT_TIMEOUT,
) -> DeliveryResult:
    """POST the stored body once and classify the answer."""
    headers = build_headers(endpoint, entry, int(sent_at))
    try:
        async with session.post(
            endpoint.url,
            data=entry.body,
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=timeout_s),
            # A redirected POST becomes a GET without body (301/302/303): following it would
            # "deliver" nothing. The user must configure the final URL.
            allow_redirects=False,
        ) as response:
            status = response.status
            raw = await _read_answer(response)
            if 200 <= status < 300:
                return _judge_success_answer(status, raw)
            detail = f": {_snippet(raw)}" if raw else ""
            if status in RETRYABLE_STATUSES or 500 <= status < 600:
                return DeliveryResult(
                    Outcome.RETRY,
                    status,
                    f"HTTP {status}{detail}",
                    parse_retry_after(response.headers.get(hdrs.RETRY_AFTER), sent_at),
                )
            if 300 <= status < 400:
                location = response.headers.get(hdrs.LOCATION, "?")
                return DeliveryResult(
                    Outcome.REJECTED,
                    status,
                    f"HTTP {status} redirect to {location}; configure the final URL",
                )
            if 400 <= status < 500:
                return DeliveryResult(Outcome.REJECTED, status, f"HTTP {status}{detail}")
            return DeliveryResult(Outcome.RETRY, status, f"unexpected HTTP {status}{detail}")
    except TimeoutError:
        return DeliveryResult(Outcome.RETRY, None, f"no answer within {timeout_s:g} s")
    except aiohttp.InvalidURL as err:
        return DeliveryResult(Outcome.REJECTED, None, f"invalid URL: {err}")
    except ValueError as err:
        # aiohttp refuses the request itself (e.g. a user:password URL plus a token): no
        # attempt can ever succeed.
        return DeliveryResult(Outcome.REJECTED, None, f"invalid request: {err}")
    except (aiohttp.ClientError, OSError, asyncio.IncompleteReadError) as err:
        return DeliveryResult(Outcome.RETRY, None, f"{type(err).__name__}: {err}".strip(": "))

"""The repair issues of webhook forwarding: an endpoint failing, an event rejected for good."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.util import dt as dt_util

from .const import DOMAIN

if TYPE_CHECKING:
    from .delivery import DeliveryResult
    from .forwarding_lanes import _EndpointRuntime
    from .outbox_records import OutboxEntry

ISSUE_ENDPOINT_FAILING: Final = "endpoint_failing"
ISSUE_EVENT_REJECTED: Final = "event_rejected"


def raise_failing_issue(
    hass: HomeAssistant, runtime: _EndpointRuntime, failing_since: float
) -> None:
    stats = runtime.stats
    since = dt_util.as_local(dt_util.utc_from_timestamp(failing_since))
    ir.async_create_issue(
        hass,
        DOMAIN,
        f"{ISSUE_ENDPOINT_FAILING}_{runtime.endpoint.key}",
        is_fixable=False,
        severity=ir.IssueSeverity.WARNING,
        translation_key=ISSUE_ENDPOINT_FAILING,
        translation_placeholders={
            "endpoint": runtime.endpoint.display_url,
            "since": since.strftime("%Y-%m-%d %H:%M:%S"),
            "error": stats.last_error or "-",
            "backlog": str(len(runtime.pending_ids)),
        },
    )


def raise_rejected_issue(
    hass: HomeAssistant, runtime: _EndpointRuntime, entry: OutboxEntry, result: DeliveryResult
) -> None:
    # Persistent: the dead letters outlive a restart, so does the notice about them.
    ir.async_create_issue(
        hass,
        DOMAIN,
        f"{ISSUE_EVENT_REJECTED}_{runtime.endpoint.key}",
        is_fixable=False,
        is_persistent=True,
        severity=ir.IssueSeverity.ERROR,
        translation_key=ISSUE_EVENT_REJECTED,
        translation_placeholders={
            "endpoint": runtime.endpoint.display_url,
            "event_type": entry.event_type,
            "event_id": entry.event_id,
            "error": result.error or "-",
            "count": str(runtime.stats.dead_letters),
        },
    )

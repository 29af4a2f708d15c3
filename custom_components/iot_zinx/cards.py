"""Card swipes (0x02): the card policy's answer, and the start that follows an accepted card."""

from __future__ import annotations

import logging
from typing import Final

from .models import ChargeMode
from .options import ChargeParameters, ServerOptions
from .orders import Orders
from .protocol import codes
from .protocol.errors import CommandError
from .protocol.messages import CardReply, CardSwipe

_LOGGER = logging.getLogger(__name__)

# 0x02: port 0xFF asks for the balance only (docs/protocol.md 3).
PORT_ANY: Final = 0xFF


def card_reply(options: ServerOptions, swipe: CardSwipe) -> CardReply:
    """The reply to a swipe under the configured card policy and charge mode."""
    accepted = options.card_accepted(swipe.card_hex)
    return CardReply(
        card_id=swipe.card_id,
        # Table 7.4, the usual server rule: a known card is 0, anything else 1.
        account_status=(
            codes.CardAccountStatus.NORMAL if accepted else codes.CardAccountStatus.NOT_REGISTERED
        ),
        rate_mode=(
            codes.RateMode.ENERGY
            if options.charge.mode is ChargeMode.ENERGY
            else codes.RateMode.TIME
        ),
        balance_or_expiry=0,
        port=swipe.port,
    )


def starts_charging(swipe: CardSwipe, reply: CardReply) -> bool:
    """An accepted card on a port starts it (docs/protocol.md 3, 0x02: the server sends 0x82)."""
    return reply.account_status == codes.CardAccountStatus.NORMAL and swipe.port != PORT_ANY


async def async_card_start(
    orders: Orders, station_id: str, port: int, card: str, charge: ChargeParameters
) -> None:
    """Start ``port`` (1-based) for an accepted card; a failure is logged, not raised."""
    try:
        await orders.async_start_charging(
            station_id,
            port,
            mode=charge.mode,
            minutes=charge.minutes,
            energy_kwh=charge.energy_kwh,
        )
    except CommandError as err:
        # charging_failed was fired already when the station answered or timed out.
        _LOGGER.warning("Card %s could not start port %s of %s: %s", card, port, station_id, err)

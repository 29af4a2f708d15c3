"""Home Assistant's cap of enabled entities per config entry, and the port entities it leaves.

Home Assistant adds no new enabled entity to a config entry that already has
``MAX_ENABLED_ENTITIES_PER_CONFIG_ENTRY`` (10,000 in 2026.10): it logs one warning and drops
the entity, so the stations that connect after that would get none, not even Connectivity.
Before that happens, ``PortEntityBudget`` creates the new port entities of the next stations
*disabled* (the user enables those needed), keeping a reserve of the cap for the station
entities of the stations still to come (docs/large-sites.md).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Set
import logging
from typing import Final

from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_platform, entity_registry as er
from homeassistant.helpers.entity import Entity

from .const import DOMAIN, ENABLED_PORT_ENTITIES, LOGGER
from .entity_levels import port_entity_wanted, port_unique_id

# Home Assistant 2026.10's value, for a release without the constant (renamed or moved).
DEFAULT_ENTITY_CAP: Final = 10_000
# The share of the cap kept for station entities: at the default level a charging station has 9
# of its own, so 1,000 of 10,000 gives about 110 more stations theirs once the port entities are
# created disabled. A fixed share, since how many stations are still to come is unknown.
STATION_RESERVE_SHARE: Final = 0.1


def entity_cap() -> int:
    """Home Assistant's cap, read at each use so that a change of it (or a test's) applies."""
    cap: int = getattr(entity_platform, "MAX_ENABLED_ENTITIES_PER_CONFIG_ENTRY", DEFAULT_ENTITY_CAP)
    return cap


def port_entity_limit() -> int:
    """Enabled entities up to which a new station's port entities are still created enabled."""
    cap = entity_cap()
    return cap - int(cap * STATION_RESERVE_SHARE)


class PortEntityBudget:
    """Which stations' new port entities are created enabled, for one config entry.

    Decided once per station, when the first platform adds new enabled port entities of it,
    for every platform's at once (whichever platform comes first): the station's ports go
    enabled only if all their enabled-by-default entities fit below ``port_entity_limit``;
    otherwise all its new port entities are created disabled by the integration. Entities
    already in the registry keep their state. A station whose enabled-by-default port entities
    sit disabled by the integration (an earlier start's decision) counts as "disabled", so that
    the repair issue still names it.
    """

    def __init__(
        self,
        hass: HomeAssistant,
        entry_id: str,
        level: str,
        ports_disabled: Callable[[Set[str]], None],
    ) -> None:
        """At the *Entities per port* ``level``; ``ports_disabled`` hears of each station."""
        self._registry = er.async_get(hass)
        self._entry_id = entry_id
        self._port_keys = sorted(
            (platform, key)
            for platform, key in ENABLED_PORT_ENTITIES
            if port_entity_wanted(level, platform, key)
        )
        self._ports_disabled = ports_disabled
        self._enabled: set[str] = set()
        self._warned = False
        self.disabled: set[str] = set()
        # (domain, unique id) of the entities promised enabled and not yet in the registry:
        # Home Assistant adds them in tasks (and the other platforms later), so its count lags.
        self._pending: list[tuple[str, str]] = []

    def admit(
        self, station_id: str, domain: str, entities: Iterable[Entity], ports: Iterable[int]
    ) -> None:
        """Decide whether the station's new ``ports``' ``entities`` of ``domain`` start enabled."""
        new: list[Entity] = []
        for entity in entities:
            if not entity.entity_registry_enabled_default or entity.unique_id is None:
                continue
            if (entity_id := self._registered(domain, entity.unique_id)) is None:
                new.append(entity)
            elif (
                entry := self._registry.async_get(entity_id)
            ) is not None and entry.disabled_by is er.RegistryEntryDisabler.INTEGRATION:
                self._disable_station(station_id)
        if not new:
            return
        if station_id not in self.disabled and station_id not in self._enabled:
            promised = [
                (platform, unique_id)
                for port in ports
                for platform, key in self._port_keys
                if self._registered(platform, unique_id := port_unique_id(station_id, port, key))
                is None
            ]
            if self._enabled_count() + len(promised) <= port_entity_limit():
                self._enabled.add(station_id)
                self._pending.extend(promised)
            else:
                # Once, like Home Assistant's own warning; the repair issue names them all.
                LOGGER.log(
                    logging.DEBUG if self._warned else logging.WARNING,
                    "Station %s: its port entities are created disabled, to keep room for "
                    "the station entities within Home Assistant's cap of %d enabled entities "
                    "per config entry",
                    station_id,
                    entity_cap(),
                )
                self._warned = True
                self._disable_station(station_id)
        if station_id in self.disabled:
            for entity in new:
                entity._attr_entity_registry_enabled_default = False

    def _registered(self, domain: str, unique_id: str) -> str | None:
        return self._registry.async_get_entity_id(domain, DOMAIN, unique_id)

    def _disable_station(self, station_id: str) -> None:
        if station_id not in self.disabled:
            self.disabled.add(station_id)
            self._ports_disabled(self.disabled)

    def _enabled_count(self) -> int:
        """The registry's count, plus what was promised enabled and is not in it yet."""
        self._pending = [key for key in self._pending if self._registered(*key) is None]
        enabled = self._registry.entities.get_enabled_count_for_config_entry_id(self._entry_id)
        return enabled + len(self._pending)

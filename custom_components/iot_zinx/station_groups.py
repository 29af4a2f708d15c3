"""Home Assistant's cap of enabled entities per config entry, and the station groups past it.

Home Assistant adds no new enabled entity to a config entry that already has
``MAX_ENABLED_ENTITIES_PER_CONFIG_ENTRY`` (10,000 in 2026.10; a few protocol bridges it names
are exempt, we are not): it logs one warning and drops the entity. At the default level a
10-port station has about 60, so one entry holds some 150 of them. Past that a station server
puts its next stations in a *station group*: a config entry it creates by itself (nothing to
configure), holding those stations' devices and entities. The stations themselves, their
state, events and commands stay the server's (its hub is the group's ``runtime_data``).

``StationGroups`` decides each station's *home* (0: the server's entry, n: group n) once, when
the station first needs it, and keeps it: at each start the homes are read back from the
entity registry. It counts what each entry will hold at the current level from the stations'
port counts (16 ports until a station tells), and fills an entry up to the cap less a reserve
(a tenth: ports a station gains later, entities the user enables). A start that finds an entry
over that (the level was raised) moves its last stations to groups: their devices move there,
and Home Assistant moves each entity as its platform adds it again.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Final

from homeassistant.config_entries import SOURCE_SYSTEM
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import entity_platform, entity_registry as er

from .const import (
    CONF_GROUP,
    CONF_KIND,
    CONF_SERVER,
    CONNECTIVITY_STATION_ENTITIES,
    DOMAIN,
    ENABLED_PORT_ENTITIES,
    FLEET_STATION_ENTITIES,
    KIND_STATION_GROUP,
    LOGGER,
    PORT_ENTITIES_CONNECTIVITY,
    PORT_ENTITIES_NONE,
)
from .entity_levels import parse_unique_id, port_entity_wanted
from .entries import is_station_group_entry, station_group_entries

if TYPE_CHECKING:
    from homeassistant.config_entries import ConfigEntry

    from .models import StationState

# Home Assistant 2026.10's value, for a release without the constant (renamed or moved).
DEFAULT_ENTITY_CAP: Final = 10_000
# The share of the cap an entry keeps free: ports a station reports later, entities enabled by
# hand. A fixed share, since neither is known in advance.
RESERVE_SHARE: Final = 0.1
# A station's ports before it tells them (its register or first heartbeat), until any station
# of the server has: the largest model.
ASSUMED_PORTS: Final = 16
# The station entities enabled by default at "all" and "essential" (a charging station's 9,
# one spare for a newer version's).
STATION_ENTITIES: Final = 10


def entity_cap() -> int:
    """Home Assistant's cap, read at each use so that a change of it (or a test's) applies."""
    cap: int = getattr(entity_platform, "MAX_ENABLED_ENTITIES_PER_CONFIG_ENTRY", DEFAULT_ENTITY_CAP)
    return cap


def entry_limit() -> int:
    """The enabled entities an entry is filled with: the cap less the reserve."""
    cap = entity_cap()
    return cap - int(cap * RESERVE_SHARE)


def _entities_per_station(level: str) -> tuple[int, int]:
    """(a station's own, each port's) enabled-by-default entities at ``level``."""
    per_port = sum(
        port_entity_wanted(level, platform, key) for platform, key in ENABLED_PORT_ENTITIES
    )
    if level == PORT_ENTITIES_NONE:
        return len(FLEET_STATION_ENTITIES), per_port
    if level == PORT_ENTITIES_CONNECTIVITY:
        return len(CONNECTIVITY_STATION_ENTITIES), per_port
    return STATION_ENTITIES, per_port


class StationGroups:
    """Where each station of one server lives: the server's entry or one of its groups."""

    def __init__(
        self,
        hass: HomeAssistant,
        server: ConfigEntry,
        level: str,
        port_count: Callable[[str], int],
    ) -> None:
        """For the server entry ``server`` at the *Entities per port* ``level``.

        ``port_count`` gives a known station's ports (0 while unknown).
        """
        self._hass = hass
        self._server = server
        self._own, self._per_port = _entities_per_station(level)
        self._port_count = port_count
        self._homes: dict[str, int] = {}
        self._costs: dict[str, int] = {}
        self._load: defaultdict[int, int] = defaultdict(int)
        self._requested: set[int] = set()
        # What a station that has not told its ports yet is counted with: the ports of the
        # last station that did (a site's stations are mostly of one model; in a connect
        # storm each station's register comes right after its first frame).
        self._usual_ports = ASSUMED_PORTS

    # -- homes ---------------------------------------------------------------------------

    @callback
    def async_load(self, known: Iterable[str]) -> None:
        """Read the homes from the registry; re-place what no longer fits; then ``known``.

        Entries are read in order (the server's first), each station in registry order, so
        that a station moved by an earlier start stays moved.
        """
        registry = er.async_get(self._hass)
        seen: set[str] = set()
        homed: dict[int, list[str]] = defaultdict(list)
        for number, entry_id in sorted(self.entry_ids().items()):
            for entity in er.async_entries_for_config_entry(registry, entry_id):
                parsed = parse_unique_id(entity.unique_id)
                if parsed is not None and parsed.station_id not in seen:
                    seen.add(parsed.station_id)
                    homed[number].append(parsed.station_id)
        self._usual_ports = max(map(self._port_count, known), default=0) or ASSUMED_PORTS
        moved = []
        for number in sorted(homed):
            for station_id in homed[number]:
                if self._fits(number, self._cost(station_id)):
                    self._place(station_id, number)
                else:
                    moved.append(station_id)
        for station_id in [*moved, *known]:
            self.home(station_id)
        if moved:
            LOGGER.info(
                "%d stations move to station groups: their entities no longer fit in %s",
                len(moved),
                self._server.title,
            )

    @callback
    def home(self, station_id: str) -> int:
        """The station's group (0: the server's entry), placed on first use."""
        if (number := self._homes.get(station_id)) is not None:
            return number
        cost = self._cost(station_id)
        number = 0
        while not self._fits(number, cost):
            number += 1
        self._place(station_id, number)
        if number and self.entry_id(number) is None:
            self._request_group(number)
        return number

    @callback
    def ports_known(self, station: StationState) -> None:
        """The station told (more) ports: count what it really has from now on."""
        station_id = station.station_id
        if station.port_count:
            self._usual_ports = station.port_count
        if (old := self._costs.get(station_id)) is None:
            return
        new = self._cost(station_id)
        self._costs[station_id] = new
        self._load[self._homes[station_id]] += new - old

    def stations_in(self, number: int) -> list[str]:
        """The stations placed in group ``number``."""
        return [station_id for station_id, home in self._homes.items() if home == number]

    def _cost(self, station_id: str) -> int:
        ports = self._port_count(station_id) or self._usual_ports
        return self._own + self._per_port * ports

    def _fits(self, number: int, cost: int) -> bool:
        # An empty entry takes a station however large: it has nowhere else to go.
        return self._load[number] == 0 or self._load[number] + cost <= entry_limit()

    def _place(self, station_id: str, number: int) -> None:
        cost = self._cost(station_id)
        self._homes[station_id] = number
        self._costs[station_id] = cost
        self._load[number] += cost

    # -- the groups' entries ---------------------------------------------------------------

    def number(self, entry: ConfigEntry) -> int:
        """0 for the server's entry, n for its group n."""
        return int(entry.data[CONF_GROUP]) if is_station_group_entry(entry) else 0

    @callback
    def entry_ids(self) -> dict[int, str]:
        """Group number -> entry id, of the entries that exist (the server's is 0)."""
        return {
            0: self._server.entry_id,
            **{
                int(group.data[CONF_GROUP]): group.entry_id
                for group in station_group_entries(self._hass, self._server.entry_id)
            },
        }

    @callback
    def entry_id(self, number: int) -> str | None:
        """Group ``number``'s entry id; None until its entry exists."""
        return self.entry_ids().get(number)

    @callback
    def home_entry_id(self, station_id: str) -> str | None:
        """The entry the station's device and entities belong to; None until it exists."""
        return self.entry_id(self.home(station_id))

    def _request_group(self, number: int) -> None:
        """Create group ``number``'s entry (once); its set-up adds its stations' entities."""
        if number in self._requested:
            return
        self._requested.add(number)
        LOGGER.info(
            "%s: station group %d created for the entities of the next stations (Home "
            "Assistant adds at most %d enabled entities to one entry)",
            self._server.title,
            number,
            entity_cap(),
        )
        self._hass.async_create_task(
            self._hass.config_entries.flow.async_init(
                DOMAIN,
                context={"source": SOURCE_SYSTEM},
                data={
                    CONF_KIND: KIND_STATION_GROUP,
                    CONF_SERVER: self._server.entry_id,
                    CONF_GROUP: number,
                },
            ),
            f"{DOMAIN} station group {number}",
        )

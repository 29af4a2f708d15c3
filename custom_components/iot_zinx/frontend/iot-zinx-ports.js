/*
 * The "custom:iot-zinx-ports" dashboard strategy of the iot_zinx integration.
 *
 * A dashboard whose configuration is only
 *
 *     strategy:
 *       type: custom:iot-zinx-ports
 *
 * is built here, each time it is opened, from the stations Home Assistant knows: one section
 * per station (connection, mains voltage), and for every port its status, a
 * charging switch, its power and session energy, and the energy it delivered today (stations
 * whose ports have no entities, option "port_entities: none", show their totals). A second
 * view charts the energy of the last days. Only built-in cards are used, so "Take control" in
 * the dashboard's menu turns the result into an ordinary dashboard to edit by hand.
 *
 * Above compact_above stations (50 by default) a section per station would be too much for a
 * browser and for a reader: the ports view is then one compact station list instead (the card
 * "custom:iot-zinx-station-list" below), one row per station with its ports as small cells
 * coloured by status, paged and filtered; the site's totals stay above it ("port_entities:
 * connectivity"), and the energy view charts only the site totals. The list is fed by the
 * integration (websocket command iot_zinx/station_list/subscribe, station_list.py), which
 * pushes the page shown again when it changes: the browser never follows the states of
 * thousands of entities, and nothing polls. The card is iot-zinx-station-list.js, which the
 * integration loads beside this file.
 *
 * Served by the integration itself (frontend.py); no HACS frontend resource is needed.
 *
 * Options (all optional): title, energy_days (days of the energy chart, default 7),
 * show_energy_view (default true), compact_above (stations, default 50; 0 always shows the
 * list), page_size (rows per page of the list, default 50, at most 200).
 */

const DOMAIN = "iot_zinx";
const VERSION = "0.2.0";
const COMPACT_ABOVE = 50;

const TEXT = {
  en: {
    title: "Charging stations",
    ports: "Ports",
    energy: "Energy",
    port: (n) => `Port ${n}`,
    status: "Status",
    charging: "Charging",
    session_energy: "Session energy",
    stations_online: "Stations online",
    charging_ports: "Charging ports",
    total_power: "Total power",
    today: (n) => `Port ${n} today`,
    energy_today: "Energy today",
    energy_per_day: "Energy per day, by port",
    no_station:
      "No station has connected yet. Point a station (or a host gateway) at this Home " +
      "Assistant's address and the TCP port of the IoT-Zinx integration; it appears here " +
      "within seconds. Reload the page when it does.",
  },
  "zh-Hans": {
    title: "充电站",
    ports: "端口",
    energy: "电量",
    port: (n) => `端口 ${n}`,
    status: "状态",
    charging: "充电",
    session_energy: "本次电量",
    stations_online: "在线充电桩",
    charging_ports: "充电中端口",
    total_power: "总功率",
    today: (n) => `端口 ${n} 今日`,
    energy_today: "今日电量",
    energy_per_day: "每日电量（按端口）",
    no_station:
      "还没有充电站连接。把充电站（或主机）的服务器地址设为本 Home Assistant 的地址和 " +
      "IoT-Zinx 集成的 TCP 端口，几秒钟内它就会出现在这里，然后刷新本页。",
  },
};

function texts(hass) {
  const language = (hass.locale && hass.locale.language) || hass.language || "en";
  return language.startsWith("zh") ? TEXT["zh-Hans"] : TEXT.en;
}

function compare(a, b) {
  return a.localeCompare(b, undefined, { numeric: true });
}

/*
 * The integration's port map (websocket command iot_zinx/port_map, websocket.py):
 *   [{ deviceId, stationId, name, station: {key: entity_id}, ports: [{number, entities}] }]
 * where keys are "<domain>.<key>" of the entity descriptions: "sensor.status",
 * "switch.charging", "binary_sensor.connectivity", ... The integration reads its own unique
 * ids; nothing here depends on how they are made. The site device ("port_entities:
 * connectivity") has stationId "" and shows its totals like a station, under its name.
 */
function collectStations(hass, stations) {
  return stations
    .map((station) => ({
      deviceId: station.device_id,
      stationId: station.station_id,
      name:
        ((hass.devices || {})[station.device_id] || {}).name_by_user || station.name,
      station: station.station,
      ports: station.ports,
    }))
    .sort((a, b) => compare(a.name, b.name));
}

function badge(entity, options = {}) {
  return { type: "entity", entity, show_state: true, show_icon: true, ...options };
}

/*
 * One section per station:
 *
 *   AP3000 04A228CD  >                   (connected)  220.0 V
 *   Port 1                                              212.4 W
 *   [Status: Charging       ] [Charging: On            ]
 *   [Session energy: 0.12 kWh] [        (toggle)        ]
 *   ...
 *   Energy today
 *   [Port 1 today: 0.4 kWh] [Port 2 today: 0 kWh]
 *
 * The switch tile is two rows high with its toggle below (an inline toggle would take the
 * whole width); the section grid fills the hole beside it with the next tile.
 */
function stationSection(station, t) {
  const s = station.station;
  const badges = [];
  if (s["binary_sensor.connectivity"]) {
    // Icon only, coloured by state: the text ("Connected") would crowd out the name.
    badges.push(badge(s["binary_sensor.connectivity"], { show_state: false, color: "state" }));
  }
  // The mains voltage only: a temperature badge as well would cut the station's name short
  // in a section a quarter of a screen wide (it is one tap away, on the device page).
  if (s["sensor.voltage"]) badges.push(badge(s["sensor.voltage"]));
  const cards = [
    {
      type: "heading",
      heading: station.name,
      heading_style: "title",
      icon: "mdi:ev-station",
      badges,
      tap_action: {
        action: "navigate",
        navigation_path: `/config/devices/device/${station.deviceId}`,
      },
    },
  ];
  // Stations whose ports have no entities (option "port_entities: none") and the site
  // (option "port_entities: connectivity") show their totals.
  for (const [key, name] of [
    ["sensor.stations_online", t.stations_online],
    ["sensor.charging_ports", t.charging_ports],
    ["sensor.total_power", t.total_power],
  ]) {
    if (s[key]) cards.push({ type: "tile", entity: s[key], name, grid_options: { columns: 6, rows: 1 } });
  }
  const today = [];
  if (s["sensor.total_lifetime_energy"]) {
    today.push({
      type: "statistic",
      entity: s["sensor.total_lifetime_energy"],
      name: t.energy_today,
      period: { calendar: { period: "day" } },
      stat_type: "change",
      grid_options: { columns: 6, rows: 2 },
    });
  }
  for (const port of station.ports) {
    const e = port.entities;
    cards.push({
      type: "heading",
      heading: t.port(port.number),
      heading_style: "subtitle",
      badges: e["sensor.power"] ? [badge(e["sensor.power"])] : [],
    });
    if (e["sensor.status"]) {
      cards.push({
        type: "tile",
        entity: e["sensor.status"],
        name: t.status,
        grid_options: { columns: 6, rows: 1 },
      });
    }
    if (e["switch.charging"]) {
      cards.push({
        type: "tile",
        entity: e["switch.charging"],
        name: t.charging,
        features: [{ type: "toggle" }],
        grid_options: { columns: 6, rows: 2 },
      });
    }
    if (e["sensor.session_energy"]) {
      cards.push({
        type: "tile",
        entity: e["sensor.session_energy"],
        name: t.session_energy,
        grid_options: { columns: 6, rows: 1 },
      });
    }
    if (e["sensor.lifetime_energy"]) {
      today.push({
        type: "statistic",
        entity: e["sensor.lifetime_energy"],
        name: t.today(port.number),
        period: { calendar: { period: "day" } },
        stat_type: "change",
        grid_options: { columns: 6, rows: 2 },
      });
    }
  }
  if (today.length) {
    cards.push({ type: "heading", heading: t.energy_today, heading_style: "subtitle" }, ...today);
  }
  return { type: "grid", cards };
}

function portsView(stations, t) {
  const sections = stations.length
    ? stations.map((station) => stationSection(station, t))
    : [{ type: "grid", cards: [{ type: "markdown", content: t.no_station }] }];
  return {
    title: t.ports,
    path: "ports",
    icon: "mdi:ev-station",
    type: "sections",
    max_columns: 4,
    sections,
  };
}

function energyView(stations, t, days) {
  const entities = [];
  for (const station of stations) {
    const total = station.station["sensor.total_lifetime_energy"];
    if (total) entities.push({ entity: total, name: station.stationId || station.name });
    for (const port of station.ports) {
      const entity = port.entities["sensor.lifetime_energy"];
      if (entity) entities.push({ entity, name: `${station.stationId || station.name} ${t.port(port.number)}` });
    }
  }
  return {
    title: t.energy,
    path: "energy",
    icon: "mdi:lightning-bolt",
    type: "sections",
    max_columns: 2,
    sections: [
      {
        type: "grid",
        cards: [
          {
            type: "statistics-graph",
            title: t.energy_per_day,
            entities,
            stat_types: ["change"],
            chart_type: "bar",
            period: "day",
            days_to_show: days,
            grid_options: { columns: 12, rows: 8 },
          },
        ],
      },
    ],
  };
}

/*
 * A large site: the site's totals (if any) above the compact list of every station. With
 * "limit" the port map carries only the site devices once there are more stations than that.
 */
function compactPortsView(sites, config, t) {
  return {
    title: t.ports,
    path: "ports",
    icon: "mdi:ev-station",
    type: "sections",
    max_columns: 4,
    sections: [
      ...sites.map((site) => stationSection(site, t)),
      {
        type: "grid",
        column_span: 4,
        cards: [
          {
            type: "custom:iot-zinx-station-list",
            page_size: config.page_size,
            grid_options: { columns: "full" },
          },
        ],
      },
    ],
  };
}

class IotZinxPortsDashboardStrategy extends HTMLElement {
  static async generate(config, hass) {
    const t = texts(hass);
    const compactAbove = Number.isFinite(Number(config.compact_above))
      ? Number(config.compact_above)
      : COMPACT_ABOVE;
    const map = await hass.callWS({ type: `${DOMAIN}/port_map`, limit: Math.max(0, compactAbove) });
    const stations = collectStations(hass, map.stations);
    if (!map.complete) {
      // Only the site devices came: their totals in the energy view, not 10,000 ports.
      const views = [compactPortsView(stations, config, t)];
      const totals = (s) => s.station["sensor.total_lifetime_energy"];
      if (config.show_energy_view !== false && stations.some(totals)) {
        views.push(energyView(stations, t, Number(config.energy_days) || 7));
      }
      return { title: config.title || t.title, views };
    }
    const views = [portsView(stations, t)];
    const metered = (s) => s.ports.length || s.station["sensor.total_lifetime_energy"];
    if (config.show_energy_view !== false && stations.some(metered)) {
      views.push(energyView(stations, t, Number(config.energy_days) || 7));
    }
    return { title: config.title || t.title, views };
  }
}

if (!customElements.get("ll-strategy-dashboard-iot-zinx-ports")) {
  customElements.define("ll-strategy-dashboard-iot-zinx-ports", IotZinxPortsDashboardStrategy);
  // eslint-disable-next-line no-console
  console.info(`iot-zinx-ports dashboard strategy ${VERSION}`);
}

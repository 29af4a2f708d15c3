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
 * thousands of entities, and nothing polls.
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
const PAGE_SIZE = 50;
const PAGE_SIZE_MAX = 200; // station_list.py PAGE_SIZE_MAX
const FILTERS = ["all", "offline", "charging", "fault"]; // station_list.py STATUS_FILTERS

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
    stations: "Stations",
    filter_text: "Filter by name or id",
    filter: { all: "All", offline: "Offline", charging: "Charging", fault: "Fault" },
    online: "Online",
    offline: "Offline",
    range: (first, last, total) => `${first}–${last} of ${total}`,
    previous_page: "Previous page",
    next_page: "Next page",
    no_match: "No station matches the filter.",
    unknown: "Unknown",
    port_detail: (n, parts) => `Port ${n}: ${parts.join(", ")}`,
    list_error: "The station list is not available",
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
    stations: "充电桩",
    filter_text: "按名称或编号筛选",
    filter: { all: "全部", offline: "离线", charging: "充电中", fault: "故障" },
    online: "在线",
    offline: "离线",
    range: (first, last, total) => `第 ${first}–${last} 个，共 ${total} 个`,
    previous_page: "上一页",
    next_page: "下一页",
    no_match: "没有符合筛选条件的充电桩。",
    unknown: "未知",
    port_detail: (n, parts) => `端口 ${n}：${parts.join("，")}`,
    list_error: "无法获取充电桩列表",
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

/*
 * The compact station list: "custom:iot-zinx-station-list" (options: page_size).
 *
 *   [Filter by name or id      ]  (All 1000) (Offline 3) (Charging 12) (Fault 1)
 *   ● AP3000 04A228CD   04A228CD   [1][2][3][4][5][6][7][8][9][10]   Port 3: Charging, 212 W
 *   ○ AP3000 04A228CE   04A228CE   [1][2]...
 *                                              ‹  1–50 of 1,000  ›
 *
 * A cell's colour is its port's status (charging, fault, plugged in, free, unknown); hovering
 * shows its status and power, and so does tapping it (beside the cells), for touch screens. The
 * integration sends one page at a time and sends it again when it changes; filtering or paging
 * subscribes anew. The port status wording is the integration's own (its entity translations).
 */
const STYLE = `
  :host { display: block; }
  ha-card { padding: 12px 16px; }
  .bar { display: flex; flex-wrap: wrap; gap: 8px; align-items: center; margin-bottom: 8px; }
  input { flex: 1 1 220px; min-width: 0; font: inherit; padding: 6px 10px; border-radius: 8px;
    border: 1px solid var(--divider-color, #ccc); background: var(--card-background-color, #fff);
    color: var(--primary-text-color); }
  .filters { display: flex; flex-wrap: wrap; gap: 4px; }
  button { font: inherit; cursor: pointer; color: var(--primary-text-color); }
  .filters button { border: 1px solid var(--divider-color, #ccc); border-radius: 16px;
    background: none; padding: 4px 10px; }
  .filters button[aria-pressed="true"] { background: var(--primary-color, #03a9f4);
    border-color: var(--primary-color, #03a9f4); color: var(--text-primary-color, #fff); }
  .row { display: grid; grid-template-columns: 14px minmax(120px, 1.2fr) 80px auto 1fr;
    gap: 8px; align-items: center; padding: 3px 0;
    border-top: 1px solid var(--divider-color, #eee); }
  .row.offline { opacity: 0.55; }
  .dot { width: 10px; height: 10px; border-radius: 50%; background: var(--success-color, #43a047); }
  .offline .dot { background: var(--disabled-color, #9e9e9e); }
  .name { color: var(--primary-text-color); text-decoration: none; overflow: hidden;
    text-overflow: ellipsis; white-space: nowrap; }
  .name:hover { text-decoration: underline; }
  .id { color: var(--secondary-text-color); font-family: monospace; font-size: 0.9em; }
  .cells { display: flex; flex-wrap: wrap; gap: 3px; }
  .cell { width: 22px; height: 22px; padding: 0; border-radius: 4px; font-size: 11px;
    border: 1px solid transparent; line-height: 20px; text-align: center; }
  .cell.charging { background: var(--success-color, #43a047); color: #fff; }
  .cell.fault { background: var(--error-color, #db4437); color: #fff; }
  .cell.plugged { background: var(--info-color, #039be5); color: #fff; }
  .cell.idle { background: none; border-color: var(--secondary-text-color, #888); }
  .cell.unknown { background: var(--disabled-color, #bdbdbd); color: #fff; }
  .cell.selected { outline: 2px solid var(--primary-text-color); outline-offset: 1px; }
  .detail { color: var(--secondary-text-color); font-size: 0.9em; overflow: hidden;
    text-overflow: ellipsis; white-space: nowrap; }
  .pager { display: flex; justify-content: flex-end; align-items: center; gap: 8px;
    margin-top: 8px; color: var(--secondary-text-color); }
  .pager button { border: none; background: none; font-size: 1.4em; padding: 0 8px; }
  .pager button:disabled { opacity: 0.3; cursor: default; }
  .empty, .error { padding: 12px 0; color: var(--secondary-text-color); }
  @media (max-width: 600px) {
    .row { grid-template-columns: 14px 1fr auto; }
    .id { display: none; }
    .detail { grid-column: 2 / -1; }
  }
`;

function navigate(path) {
  history.pushState(null, "", path);
  window.dispatchEvent(new CustomEvent("location-changed", { detail: { replace: false } }));
}

class IotZinxStationList extends HTMLElement {
  setConfig(config) {
    const size = Number(config.page_size) || PAGE_SIZE;
    this._pageSize = Math.min(PAGE_SIZE_MAX, Math.max(1, Math.round(size)));
    this._page = 0;
    this._text = "";
    this._status = "all";
    this._selected = null; // "<station_id>/<port>" of the tapped cell
    this._last = null; // the page last received
  }

  set hass(hass) {
    const first = !this._hass;
    const language = hass.locale && hass.locale.language;
    const relabel = !first && language !== this._language;
    this._hass = hass;
    this._language = language;
    if (first || relabel) {
      this._build();
      this._loadStatusNames();
      this._subscribe();
    }
  }

  connectedCallback() {
    this._connected = true;
    this._subscribe();
  }

  disconnectedCallback() {
    this._connected = false;
    this._unsubscribe();
  }

  getCardSize() {
    return 12;
  }

  getGridOptions() {
    return { columns: "full" };
  }

  async _loadStatusNames() {
    // The port status sensor's translations, loaded even where no port has entities.
    try {
      const localize = await this._hass.loadBackendTranslation("entity", DOMAIN);
      if (typeof localize === "function") this._localize = localize;
    } catch (err) {
      this._localize = null;
    }
    if (this._last) this._show(this._last);
  }

  _statusName(status) {
    if (!status) return this._t.unknown;
    const key = `component.${DOMAIN}.entity.sensor.port_status.state.${status}`;
    const localize = this._localize || this._hass.localize;
    return (localize && localize(key)) || status;
  }

  _subscribe() {
    if (!this._hass || !this._connected || !this._root) return;
    this._unsubscribe();
    const token = {};
    this._token = token;
    this._subscription = this._hass.connection.subscribeMessage(
      (page) => {
        if (this._token === token) this._show(page);
      },
      {
        type: `${DOMAIN}/station_list/subscribe`,
        page: this._page,
        page_size: this._pageSize,
        text: this._text,
        status: this._status,
      }
    );
    this._subscription.catch((err) => {
      if (this._token !== token) return;
      this._rows.replaceChildren();
      const error = document.createElement("div");
      error.className = "error";
      error.textContent = `${this._t.list_error}: ${(err && err.message) || err}`;
      this._rows.append(error);
    });
  }

  _unsubscribe() {
    this._token = null;
    if (this._subscription) {
      this._subscription.then((unsubscribe) => unsubscribe()).catch(() => {});
      this._subscription = null;
    }
  }

  _query(changes) {
    Object.assign(this, changes);
    this._subscribe();
  }

  _build() {
    this._t = texts(this._hass);
    const t = this._t;
    if (!this._root) this._root = this.attachShadow({ mode: "open" });
    this._root.innerHTML = `<style>${STYLE}</style>
      <ha-card>
        <div class="bar">
          <input type="search" class="text">
          <div class="filters" role="group"></div>
        </div>
        <div class="rows"></div>
        <div class="pager">
          <button class="previous">‹</button><span class="range"></span><button class="next">›</button>
        </div>
      </ha-card>`;
    const input = this._root.querySelector("input");
    input.placeholder = t.filter_text;
    input.setAttribute("aria-label", t.filter_text);
    input.value = this._text;
    let typing = null;
    input.addEventListener("input", () => {
      clearTimeout(typing);
      typing = setTimeout(() => this._query({ _text: input.value, _page: 0 }), 300);
    });
    this._filters = {};
    const group = this._root.querySelector(".filters");
    for (const status of FILTERS) {
      const button = document.createElement("button");
      button.dataset.status = status;
      button.addEventListener("click", () => this._query({ _status: status, _page: 0 }));
      group.append(button);
      this._filters[status] = button;
    }
    const previous = this._root.querySelector(".previous");
    const next = this._root.querySelector(".next");
    previous.title = t.previous_page;
    previous.setAttribute("aria-label", t.previous_page);
    next.title = t.next_page;
    next.setAttribute("aria-label", t.next_page);
    previous.addEventListener("click", () => this._query({ _page: Math.max(0, this._page - 1) }));
    next.addEventListener("click", () => this._query({ _page: this._page + 1 }));
    this._previous = previous;
    this._next = next;
    this._range = this._root.querySelector(".range");
    this._rows = this._root.querySelector(".rows");
    this._rows.addEventListener("click", (event) => this._clicked(event));
    this._labelFilters(null);
  }

  _labelFilters(counts) {
    const t = this._t;
    const number = { all: "stations", offline: "offline", charging: "charging", fault: "fault" };
    for (const status of FILTERS) {
      const button = this._filters[status];
      const count = counts ? ` ${counts[number[status]]}` : "";
      button.textContent = `${t.filter[status]}${count}`;
      button.setAttribute("aria-pressed", String(status === this._status));
    }
  }

  _clicked(event) {
    const target = event.composedPath()[0];
    if (target.classList.contains("name")) {
      event.preventDefault();
      if (target.dataset.deviceId) navigate(`/config/devices/device/${target.dataset.deviceId}`);
      return;
    }
    if (!target.classList.contains("cell")) return;
    const key = `${target.closest(".row").dataset.stationId}/${target.dataset.port}`;
    this._selected = this._selected === key ? null : key;
    if (this._last) this._show(this._last);
  }

  _portText(port) {
    const parts = [this._statusName(port.status)];
    if (port.power_w !== null && port.power_w !== undefined) {
      const power = Number(port.power_w).toLocaleString(this._language || undefined, {
        maximumFractionDigits: 1,
      });
      parts.push(`${power} W`);
    }
    return this._t.port_detail(port.number, parts);
  }

  _show(page) {
    const t = this._t;
    this._last = page;
    this._page = page.page;
    this._labelFilters(page.counts);
    const first = page.matched ? page.page * page.page_size + 1 : 0;
    const last = page.page * page.page_size + page.stations.length;
    this._range.textContent = t.range(first, last, page.matched);
    this._previous.disabled = page.page <= 0;
    this._next.disabled = page.page >= page.pages - 1;
    const rows = page.stations.map((station) => this._row(station));
    if (!rows.length) {
      const empty = document.createElement("div");
      empty.className = "empty";
      empty.textContent = t.no_match;
      rows.push(empty);
    }
    this._rows.replaceChildren(...rows);
  }

  _row(station) {
    const t = this._t;
    const row = document.createElement("div");
    row.className = station.online ? "row online" : "row offline";
    row.dataset.stationId = station.station_id;
    const dot = document.createElement("span");
    dot.className = "dot";
    dot.title = station.online ? t.online : t.offline;
    const name = document.createElement("a");
    name.className = "name";
    name.textContent = station.name;
    if (station.device_id) {
      name.href = `/config/devices/device/${station.device_id}`;
      name.dataset.deviceId = station.device_id;
    }
    const id = document.createElement("span");
    id.className = "id";
    id.textContent = station.station_id;
    const cells = document.createElement("span");
    cells.className = "cells";
    const detail = document.createElement("span");
    detail.className = "detail";
    for (const port of station.ports) {
      const cell = document.createElement("button");
      const key = `${station.station_id}/${port.number}`;
      cell.className = `cell ${port.kind}${this._selected === key ? " selected" : ""}`;
      cell.dataset.port = port.number;
      cell.dataset.kind = port.kind;
      cell.textContent = port.number;
      cell.title = this._portText(port);
      cell.setAttribute("aria-label", cell.title);
      if (this._selected === key) detail.textContent = cell.title;
      cells.append(cell);
    }
    row.append(dot, name, id, cells, detail);
    return row;
  }
}

if (!customElements.get("iot-zinx-station-list")) {
  customElements.define("iot-zinx-station-list", IotZinxStationList);
}

if (!customElements.get("ll-strategy-dashboard-iot-zinx-ports")) {
  customElements.define("ll-strategy-dashboard-iot-zinx-ports", IotZinxPortsDashboardStrategy);
  // eslint-disable-next-line no-console
  console.info(`iot-zinx-ports dashboard strategy ${VERSION}`);
}

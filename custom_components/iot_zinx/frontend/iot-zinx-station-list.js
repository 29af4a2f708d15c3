/*
 * The compact station list of the iot_zinx integration: the card "custom:iot-zinx-station-list",
 * which the "custom:iot-zinx-ports" dashboard strategy (iot-zinx-ports.js) shows on a large
 * site. Served and loaded on every page by the integration itself (frontend.py), like the
 * strategy.
 */

const DOMAIN = "iot_zinx";
const PAGE_SIZE = 50;
const PAGE_SIZE_MAX = 200; // station_list.py PAGE_SIZE_MAX
const FILTERS = ["all", "offline", "charging", "fault"]; // station_list.py STATUS_FILTERS

const TEXT = {
  en: {
    port: (n) => `Port ${n}`,
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
  },
  "zh-Hans": {
    port: (n) => `端口 ${n}`,
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
  },
};

function texts(hass) {
  const language = (hass.locale && hass.locale.language) || hass.language || "en";
  return language.startsWith("zh") ? TEXT["zh-Hans"] : TEXT.en;
}

/*
 * Options: page_size (rows per page, default 50, at most 200).
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

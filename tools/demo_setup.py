"""The demo behind scripts/develop: Home Assistant, the integration and simulated stations.

Run through scripts/develop (which installs .venv first when needed):

    scripts/develop                       # foreground; Ctrl-C stops everything
    scripts/develop --background --ready-file demo.json    # returns once all is up
    scripts/develop --stop                # stops a background demo

Steps: write a fresh configuration directory from develop/configuration.yaml with a symlink to
custom_components/iot_zinx; start Home Assistant (tools/hass.py, --skip-pip); complete the
onboarding through its REST API (owner ``demo``, a random password) and restart it once (see
``remove_onboarding_extras``); add the IoT-Zinx entry
through the config-flow API; install dashboards/iot_zinx_ports.yaml as the default dashboard
and the ports' lifetime energy as the Energy dashboard's devices; start the station simulator
and start charging on the first port of every station with the ``iot_zinx.start_charging``
action. Everything a test or a benchmark needs (URLs, credentials, a long-lived token, pids,
station and entity ids) goes to ``<config>/.iot_zinx_demo.json`` and to ``--ready-file``.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable, Sequence
import contextlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
import json
import os
from pathlib import Path
import secrets
import shutil
import signal
import socket
import string
import subprocess
import sys
import time
from typing import Any

import aiohttp
import yaml

REPO = Path(__file__).resolve().parent.parent
# The environment this runs in (.venv, or .venv-newest for scripts/test_newest_ha).
PYTHON = Path(sys.executable)
TEMPLATE = REPO / "develop" / "configuration.yaml"
DASHBOARD = REPO / "dashboards" / "iot_zinx_ports.yaml"
INTEGRATION = REPO / "custom_components" / "iot_zinx"
STATE_FILE = ".iot_zinx_demo.json"  # in the config directory; also marks it as ours

DOMAIN = "iot_zinx"
USERNAME = "demo"
DASHBOARD_PATH = "iot-zinx"
SIMULATOR_FIRST_ID = 0x04A228CD
# Integrations the onboarding's core_config step sets up by itself; their packages are not
# installed (--skip-pip), and the ones that load anyway (shopping_list) are not the demo's.
ONBOARDING_EXTRAS = {"google_translate", "met", "radio_browser", "shopping_list"}


class DemoError(Exception):
    """Something the user must fix; printed without a traceback."""


# -- command line -----------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scripts/develop",
        description="Home Assistant with the IoT-Zinx integration and simulated stations.",
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=REPO / "config",
        help="configuration directory, made afresh (default ./config)",
    )
    parser.add_argument("--port", type=int, default=8123, help="Home Assistant's HTTP port")
    parser.add_argument(
        "--station-port", type=int, default=7054, help="TCP port the stations connect to"
    )
    parser.add_argument("--stations", type=int, default=3, help="simulated stations")
    parser.add_argument("--ports", type=int, default=2, help="ports per simulated station")
    parser.add_argument(
        "--speed",
        type=float,
        default=20.0,
        help="simulated time runs X times faster (heartbeats, power reports, charging)",
    )
    parser.add_argument(
        "--charge-ports",
        type=int,
        default=1,
        metavar="K",
        help="start charging on the first K ports of every station (default 1)",
    )
    parser.add_argument(
        "--port-entities",
        choices=("all", "essential", "none", "connectivity"),
        default="all",
        help="the entry's Entities per port option (docs/large-sites.md); default all",
    )
    parser.add_argument("--no-simulator", action="store_true", help="start no station")
    parser.add_argument(
        "--keep",
        action="store_true",
        help="reuse the configuration directory of an earlier run (history, energy, settings)",
    )
    parser.add_argument(
        "--language", default="en", help="Home Assistant's language: en (default) or zh-Hans"
    )
    parser.add_argument("--time-zone", default="Asia/Shanghai", help="Home Assistant's time zone")
    parser.add_argument(
        "--log-level", default="info", help="log level of custom_components.iot_zinx"
    )
    parser.add_argument(
        "--background",
        action="store_true",
        help="return once everything is up, leaving Home Assistant and the simulator running",
    )
    parser.add_argument(
        "--ready-file", type=Path, help="also write the demo's details (JSON) to this file"
    )
    parser.add_argument(
        "--stop", action="store_true", help="stop the demo running from --config, then exit"
    )
    parser.add_argument(
        "--timeout", type=float, default=240.0, help="seconds allowed for the whole start"
    )
    parser.add_argument(
        "--integration",
        type=Path,
        # Another copy of the integration, for trying changes (also for the browser test).
        default=Path(os.environ.get("IOT_ZINX_INTEGRATION", INTEGRATION)),
        help=argparse.SUPPRESS,
    )
    return parser


# -- processes --------------------------------------------------------------------------------


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (our own exited child) is not alive.
    with contextlib.suppress(OSError):
        status = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return status != "Z"
    return True


def pid_matches(pid: int, needle: str) -> bool:
    """Whether the process ``pid`` still is the one we started (its command line has needle)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return pid_alive(pid)
    return needle in cmdline


def stop_pid(pid: int | None, name: str, timeout: float) -> None:
    """SIGTERM, then SIGKILL after ``timeout``; the process group, since we made one."""
    if not pid_alive(pid):
        return
    assert pid is not None
    print(f"  stopping {name} (pid {pid})")
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        if not pid_alive(pid):
            return
        time.sleep(0.2)
    print(f"  {name} did not stop within {timeout:.0f} s; killing it")
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


def start_process(command: list[str], log: Path) -> subprocess.Popen[bytes]:
    """A child in its own session: Ctrl-C reaches only us, and it outlives --background."""
    with log.open("ab") as out:
        return subprocess.Popen(
            command,
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def log_tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


# -- configuration directory ------------------------------------------------------------------


def read_state(config: Path) -> dict[str, Any] | None:
    try:
        state: dict[str, Any] = json.loads((config / STATE_FILE).read_text())
    except OSError, ValueError:
        return None
    return state


def write_state(config: Path, state: dict[str, Any], ready_file: Path | None) -> None:
    text = json.dumps(state, indent=2, sort_keys=True) + "\n"
    path = config / STATE_FILE
    path.write_text(text)
    path.chmod(0o600)  # it holds the owner's password and a token
    if ready_file is not None:
        ready_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = ready_file.with_name(ready_file.name + ".tmp")
        tmp.write_text(text)
        tmp.chmod(0o600)
        tmp.replace(ready_file)  # readers never see half a file


def running_pids(state: dict[str, Any] | None, config: Path) -> dict[str, int]:
    """The demo's processes that still run (checked by command line: pids get reused)."""
    if not state:
        return {}
    # Home Assistant's command line names the directory, the simulator's the station port.
    needles = {"hass_pid": str(config), "simulator_pid": f"--port {state.get('station_port')}"}
    found = {}
    for name, needle in needles.items():
        pid = state.get(name)
        if pid and pid_alive(pid) and pid_matches(pid, needle):
            found[name] = pid
    return found


def stop_demo(config: Path) -> bool:
    state = read_state(config)
    pids = running_pids(state, config)
    if not pids:
        print(f"No demo is running from {config}.")
        return False
    stop_pid(pids.get("simulator_pid"), "the station simulator", 10)
    stop_pid(pids.get("hass_pid"), "Home Assistant", 60)
    print("Stopped.")
    return True


def prepare_config(args: argparse.Namespace) -> dict[str, Any] | None:
    """Make the configuration directory; returns the previous state when --keep reuses one."""
    config: Path = args.config
    previous = read_state(config)
    if running_pids(previous, config):
        raise DemoError(
            f"A demo is already running from {config}; stop it with "
            f"scripts/develop --stop --config {config}"
        )
    if config.exists() and any(config.iterdir()):
        if previous is None:
            raise DemoError(
                f"{config} exists and was not made by scripts/develop; "
                "choose another directory with --config"
            )
        if not args.keep:
            shutil.rmtree(config)
    keep = args.keep and previous is not None
    config.mkdir(parents=True, exist_ok=True)
    template = string.Template(TEMPLATE.read_text())
    (config / "configuration.yaml").write_text(
        template.substitute(
            language=args.language,
            time_zone=args.time_zone,
            integration_log_level=args.log_level,
        )
    )
    write_http_settings(config, args.port)
    for name in ("automations.yaml", "scripts.yaml"):
        if not (config / name).exists():
            (config / name).write_text("[]\n" if name == "automations.yaml" else "{}\n")
    custom = config / "custom_components"
    custom.mkdir(exist_ok=True)
    link = custom / DOMAIN
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(args.integration.resolve(), target_is_directory=True)
    return previous if keep else None


def write_http_settings(config: Path, port: int) -> None:
    """The HTTP server's settings, as Home Assistant stores them (.storage/http).

    Since 2026.8 they are no longer read from configuration.yaml but from this store; YAML
    would be migrated once as a pending change that reverts unless confirmed in the browser.
    Validated by Home Assistant's own schema, so every default is the one it would fill in.
    """
    from homeassistant.components.http import config as http_config  # noqa: PLC0415

    settings = http_config.HTTP_STORAGE_SCHEMA({"server_host": ["127.0.0.1"], "server_port": port})
    stable = {
        **settings,
        "created_at": datetime.now(UTC).isoformat(),
        "error": None,
        "error_message": None,
    }
    storage = config / ".storage"
    storage.mkdir(exist_ok=True)
    (storage / http_config.STORAGE_KEY).write_text(
        json.dumps(
            {
                "version": http_config.STORAGE_VERSION,
                "minor_version": http_config.STORAGE_MINOR_VERSION,
                "key": http_config.STORAGE_KEY,
                "data": {"stable": stable, "pending": None, "yaml_migration_done": True},
            },
            indent=2,
        )
    )


# -- Home Assistant's APIs --------------------------------------------------------------------


@dataclass
class Hass:
    """REST and websocket calls to one Home Assistant, as the demo's owner."""

    session: aiohttp.ClientSession
    base: str
    token: str = ""
    _ws: aiohttp.ClientWebSocketResponse | None = None
    _next_id: int = 1

    @property
    def client_id(self) -> str:
        return f"{self.base}/"

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    async def request(
        self, method: str, path: str, payload: Any = None, *, expect: Sequence[int] = (200,)
    ) -> Any:
        async with self.session.request(
            method, self.base + path, json=payload, headers=self._headers()
        ) as response:
            text = await response.text()
            if response.status not in expect:
                raise DemoError(f"{method} {path} answered {response.status}: {text[:500]}")
            try:
                return json.loads(text) if text else None
            except ValueError:
                return text

    async def token_from_code(self, code: str) -> dict[str, Any]:
        form = {"grant_type": "authorization_code", "code": code, "client_id": self.client_id}
        async with self.session.post(self.base + "/auth/token", data=form) as response:
            if response.status != 200:
                raise DemoError(f"/auth/token answered {response.status}: {await response.text()}")
            tokens: dict[str, Any] = await response.json()
        self.token = tokens["access_token"]
        return tokens

    async def login(self, username: str, password: str) -> None:
        """The login flow the frontend's login page uses."""
        flow = await self.request(
            "POST",
            "/auth/login_flow",
            {
                "client_id": self.client_id,
                "handler": ["homeassistant", None],
                "redirect_uri": self.client_id,
            },
        )
        result = await self.request(
            "POST",
            f"/auth/login_flow/{flow['flow_id']}",
            {"username": username, "password": password, "client_id": self.client_id},
        )
        if result.get("type") != "create_entry":
            raise DemoError(f"cannot log in as {username}: {result}")
        await self.token_from_code(result["result"])

    async def ws(self, command: str, **data: Any) -> Any:
        if self._ws is None or self._ws.closed:
            self._ws = await self.session.ws_connect(
                self.base.replace("http", "ws", 1) + "/api/websocket", max_msg_size=0
            )
            await self._ws.receive_json()  # auth_required
            await self._ws.send_json({"type": "auth", "access_token": self.token})
            if (reply := await self._ws.receive_json())["type"] != "auth_ok":
                raise DemoError(f"websocket authentication failed: {reply}")
        message_id, self._next_id = self._next_id, self._next_id + 1
        await self._ws.send_json({"id": message_id, "type": command, **data})
        while True:
            reply = await self._ws.receive_json()
            if reply.get("id") == message_id and reply.get("type") == "result":
                break
        if not reply["success"]:
            raise DemoError(f"{command} failed: {reply['error']}")
        return reply["result"]

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()


async def wait_for_http(
    hass: Hass, process: subprocess.Popen[bytes], log: Path, deadline: float
) -> None:
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise DemoError(f"Home Assistant exited with {process.returncode}:\n{log_tail(log)}")
        with contextlib.suppress(aiohttp.ClientError, TimeoutError):
            # Served without a token (a request without one to /api/ would count as a failed
            # login and raise a "Login attempt failed" notification).
            async with hass.session.get(
                hass.base + "/manifest.json", timeout=aiohttp.ClientTimeout(total=5)
            ) as response:
                if response.status == 200:
                    return
        await asyncio.sleep(0.5)
    raise DemoError(f"Home Assistant did not answer in time:\n{log_tail(log)}")


async def onboard(hass: Hass, password: str, language: str) -> None:
    """The four onboarding steps, as the onboarding page would do them."""
    steps = await hass.request("GET", "/api/onboarding", expect=(200, 404))
    if not isinstance(steps, list) or any(step["done"] for step in steps):
        raise DemoError("this Home Assistant is already onboarded, by someone else")
    created = await hass.request(
        "POST",
        "/api/onboarding/users",
        {
            "client_id": hass.client_id,
            "name": "Demo",
            "username": USERNAME,
            "password": password,
            "language": language,
        },
    )
    await hass.token_from_code(created["auth_code"])
    await hass.request("POST", "/api/onboarding/core_config", {})
    await hass.request("POST", "/api/onboarding/analytics", {})
    await hass.request(
        "POST",
        "/api/onboarding/integration",
        {"client_id": hass.client_id, "redirect_uri": f"{hass.client_id}?auth_callback=1"},
    )


async def wait_running(hass: Hass, deadline: float) -> None:
    """Until Home Assistant has started (its HTTP API answers long before)."""
    while time.monotonic() < deadline:
        if (await hass.request("GET", "/api/config")).get("state") == "RUNNING":
            return
        await asyncio.sleep(0.5)
    raise DemoError("Home Assistant did not finish starting in time")


async def remove_onboarding_extras(hass: Hass) -> None:
    """Undo what the onboarding's core_config step set up by itself.

    It starts the flows of met, radio_browser, google_translate and shopping_list. Their
    packages are not installed (--skip-pip), so the first three fail (with tracebacks in the
    log), and the shopping list loads the ``todo`` integration, whose action descriptions need
    packages that are not installed either (hassil, mutagen...): the frontend's list of
    actions fails and the frontend never finishes loading. So the shopping list is removed
    and Home Assistant is restarted (once, on the first start only), after which none of
    them is loaded and the log is clean.
    """
    await asyncio.sleep(1)  # the flows run as background tasks of the core_config step
    for entry in await hass.request("GET", "/api/config/config_entries/entry"):
        if entry["domain"] in ONBOARDING_EXTRAS:
            await hass.request("DELETE", f"/api/config/config_entries/entry/{entry['entry_id']}")


async def restart(hass: Hass, process: subprocess.Popen[bytes], log: Path, deadline: float) -> None:
    """Restart Home Assistant (tools/hass.py starts it again, in the same process)."""
    with contextlib.suppress(DemoError, aiohttp.ClientError):
        await hass.request("POST", "/api/services/homeassistant/restart", {})
    await hass.close()
    # Until the old instance stopped answering, then until the new one answers.
    while time.monotonic() < deadline:
        try:
            await hass.request("GET", "/api/config")
        except DemoError, aiohttp.ClientError:
            break
        await asyncio.sleep(0.3)
    await wait_for_http(hass, process, log, deadline)
    await wait_running(hass, deadline)


async def add_integration(hass: Hass, station_port: int) -> str:
    """The IoT-Zinx entry through the config flow, as the Add integration dialog does it."""
    for entry in await hass.request("GET", "/api/config/config_entries/entry"):
        # Not webhook forwarding's own entry (made by the system on first use).
        if entry["domain"] == DOMAIN and entry["source"] != "system":
            return str(entry["entry_id"])
    form = await hass.request(
        "POST",
        "/api/config/config_entries/flow",
        {"handler": DOMAIN, "show_advanced_options": False},
    )
    if form.get("type") != "form":
        raise DemoError(f"the IoT-Zinx flow did not show its form: {form}")
    result = await hass.request(
        "POST",
        f"/api/config/config_entries/flow/{form['flow_id']}",
        {"host": "127.0.0.1", "port": station_port},
    )
    if result.get("type") != "create_entry":
        raise DemoError(f"the IoT-Zinx flow did not create an entry: {result}")
    return str(result["result"]["entry_id"])


async def set_port_entities(hass: Hass, entry_id: str, level: str, deadline: float) -> None:
    """The Entities per port option through the options flow; the entry reloads."""
    flow = await hass.request(
        "POST", "/api/config/config_entries/options/flow", {"handler": entry_id}
    )
    result = await hass.request(
        "POST",
        f"/api/config/config_entries/options/flow/{flow['flow_id']}",
        {"port_entities": level},
    )
    if result.get("type") != "create_entry":
        raise DemoError(f"the options flow did not take port_entities {level}: {result}")
    await asyncio.sleep(0.5)  # the reload is scheduled, not done, when the flow ends
    await wait_entry_loaded(hass, entry_id, deadline)


async def wait_entry_loaded(hass: Hass, entry_id: str, deadline: float) -> None:
    while time.monotonic() < deadline:
        for entry in await hass.request("GET", "/api/config/config_entries/entry"):
            if entry["entry_id"] == entry_id:
                if entry["state"] == "loaded":
                    return
                if entry["state"] in ("setup_error", "migration_error", "failed_unload"):
                    raise DemoError(f"the IoT-Zinx entry failed to set up: {entry}")
        await asyncio.sleep(0.5)
    raise DemoError("the IoT-Zinx entry was not loaded in time")


async def install_dashboard(hass: Hass, language: str) -> None:
    """The dashboard YAML as a storage dashboard, made the default one."""
    config = yaml.safe_load(DASHBOARD.read_text())
    dashboards = await hass.ws("lovelace/dashboards/list")
    if not any(board["url_path"] == DASHBOARD_PATH for board in dashboards):
        await hass.ws(
            "lovelace/dashboards/create",
            url_path=DASHBOARD_PATH,
            title="充电站" if language.startswith("zh") else "Charging",
            icon="mdi:ev-station",
            show_in_sidebar=True,
            require_admin=False,
            mode="storage",
        )
    await hass.ws("lovelace/config/save", url_path=DASHBOARD_PATH, config=config)
    # Opening Home Assistant opens this dashboard (frontend system data, as set by
    # Settings -> Dashboards -> Set as default).
    with contextlib.suppress(DemoError):
        core = await hass.ws("frontend/get_system_data", key="core")
        value = (core or {}).get("value") or {}
        await hass.ws(
            "frontend/set_system_data",
            key="core",
            value={**value, "default_panel": DASHBOARD_PATH},
        )


# -- stations ---------------------------------------------------------------------------------


@dataclass
class Port:
    station_id: str
    number: int
    entities: dict[str, str]  # "<domain>.<key>" -> entity_id, e.g. "switch.charging"


async def read_ports(hass: Hass) -> tuple[dict[str, str], list[Port]]:
    """Station id -> device id, and every port with its entities, from the registries."""
    devices = {
        device["id"]: identifier[1]
        for device in await hass.ws("config/device_registry/list")
        for identifier in device["identifiers"]
        if identifier[0] == DOMAIN
    }
    ports: dict[tuple[str, int], Port] = {}
    for entity in await hass.ws("config/entity_registry/list"):
        if entity["platform"] != DOMAIN or entity["device_id"] not in devices:
            continue
        station_id = devices[entity["device_id"]]
        prefix = f"{station_id}_port"
        unique_id: str = entity["unique_id"]
        if not unique_id.startswith(prefix):
            continue
        number_text, _, key = unique_id[len(prefix) :].partition("_")
        if not number_text.isdigit():
            continue
        port = ports.setdefault(
            (station_id, int(number_text)), Port(station_id, int(number_text), {})
        )
        port.entities[f"{entity['entity_id'].split('.')[0]}.{key}"] = entity["entity_id"]
    stations = {station_id: device_id for device_id, station_id in devices.items()}
    return stations, sorted(ports.values(), key=lambda port: (port.station_id, port.number))


async def wait_for_stations(
    hass: Hass, count: int, port_count: int, deadline: float, *, port_entities: bool = True
) -> tuple[dict[str, str], list[Port]]:
    """Until every simulated port has a charging switch with a known state.

    Without port entities (levels none and connectivity): until every station is connected;
    its ports are then listed without entities.
    """
    stations: dict[str, str] = {}
    ports: list[Port] = []
    while time.monotonic() < deadline:
        stations, ports = await read_ports(hass)
        stations = {key: value for key, value in stations.items() if not key.startswith("site_")}
        if not port_entities:
            connected = sum(
                state["entity_id"].startswith("binary_sensor.")
                and state["entity_id"].endswith("_connectivity")
                and state["state"] == "on"
                for state in await hass.request("GET", "/api/states")
            )
            if len(stations) >= count and connected >= count:
                ports = [
                    Port(station_id, number, {})
                    for station_id in sorted(stations)
                    for number in range(1, port_count + 1)
                ]
                return stations, ports
            await asyncio.sleep(1)
            continue
        switches = [port.entities.get("switch.charging") for port in ports]
        if len(stations) >= count and len(ports) >= count * port_count and all(switches):
            states = {
                state["entity_id"]: state["state"]
                for state in await hass.request("GET", "/api/states")
            }
            if all(states.get(switch) in ("on", "off") for switch in switches):
                return stations, ports
        await asyncio.sleep(1)
    raise DemoError(
        f"expected {count} stations with {port_count} ports each, "
        f"found {len(stations)} stations and {len(ports)} ports"
    )


async def start_charging(
    hass: Hass, ports: list[Port], per_station: int, deadline: float, warnings: list[str]
) -> list[Port]:
    """The ``iot_zinx.start_charging`` action on the first ports; failures are warnings."""
    chosen = []
    for port in ports:
        if port.number > per_station:
            continue
        try:
            await hass.request(
                "POST",
                f"/api/services/{DOMAIN}/start_charging",
                {"station_id": port.station_id, "port": port.number},
            )
        except DemoError as err:
            warnings.append(f"cannot start charging on {port.station_id} port {port.number}: {err}")
        else:
            chosen.append(port)
    switches = [port.entities["switch.charging"] for port in chosen if port.entities]
    while time.monotonic() < deadline:
        states = await hass.request("GET", "/api/states")
        on = {state["entity_id"] for state in states if state["state"] == "on"}
        if all(switch in on for switch in switches):
            return chosen
        await asyncio.sleep(0.5)
    warnings.append("charging did not start on every chosen port in time")
    return [port for port in chosen if port.entities.get("switch.charging") in on]


async def set_energy_devices(hass: Hass, ports: list[Port]) -> None:
    """The ports' lifetime energy as the Energy dashboard's individual devices."""
    prefs_devices = [
        {"stat_consumption": port.entities["sensor.lifetime_energy"]}
        for port in ports
        if "sensor.lifetime_energy" in port.entities
    ]
    with contextlib.suppress(DemoError):
        await hass.ws("energy/save_prefs", device_consumption=prefs_devices)


def simulator_command(args: argparse.Namespace) -> list[str]:
    """The station simulator, every charger plugged in (so that any port can be started)."""
    return [
        str(PYTHON), "-m", "custom_components.iot_zinx.protocol.simulator",
        "--host", "127.0.0.1",
        "--port", str(args.station_port),
        "--stations", str(args.stations),
        "--ports", str(args.ports),
        "--first-id", f"{SIMULATOR_FIRST_ID:08X}",
        "--speed", str(args.speed),
        "--autoplug",
        "--report-every", "60",
    ]  # fmt: skip


# -- the whole start --------------------------------------------------------------------------


@dataclass
class Demo:
    args: argparse.Namespace
    hass_process: subprocess.Popen[bytes] | None = None
    simulator_process: subprocess.Popen[bytes] | None = None
    state: dict[str, Any] = field(default_factory=dict)
    # Called with the fresh configuration directory before Home Assistant starts (the
    # benchmarks add a probe component and its configuration.yaml line there).
    customize: Callable[[Path], None] | None = None

    def stop(self) -> None:
        if self.simulator_process is not None:
            stop_pid(self.simulator_process.pid, "the station simulator", 10)
        if self.hass_process is not None:
            stop_pid(self.hass_process.pid, "Home Assistant", 60)

    async def start(self) -> None:
        args = self.args
        started = time.monotonic()
        deadline = started + args.timeout
        config: Path = args.config.resolve()
        previous = prepare_config(args)
        if self.customize is not None:
            self.customize(config)
        password = previous["password"] if previous else secrets.token_urlsafe(9)
        base = f"http://127.0.0.1:{args.port}"
        hass_log = config / "hass.out.log"
        print(f"Starting Home Assistant on {base} (configuration: {config}) ...")
        self.hass_process = start_process(
            [str(PYTHON), str(REPO / "tools" / "hass.py"), "-c", str(config), "--skip-pip"],
            hass_log,
        )
        self.state = {
            "url": base,
            "dashboard_url": f"{base}/{DASHBOARD_PATH}/ports",
            "username": USERNAME,
            "password": password,
            "config_dir": str(config),
            "log": str(config / "home-assistant.log"),
            "hass_pid": self.hass_process.pid,
            "simulator_pid": None,
            "http_port": args.port,
            "station_port": args.station_port,
            "ready": False,
        }
        write_state(config, self.state, None)

        async with aiohttp.ClientSession() as session:
            hass = Hass(session, base)
            try:
                await wait_for_http(hass, self.hass_process, hass_log, deadline)
                print(f"  Home Assistant answers ({time.monotonic() - started:.1f} s)")
                if previous:
                    await hass.login(USERNAME, password)
                    await wait_running(hass, deadline)
                else:
                    await onboard(hass, password, args.language)
                    await wait_running(hass, deadline)
                    await remove_onboarding_extras(hass)
                    print("  onboarded: owner 'demo'; restarting once ...")
                    await restart(hass, self.hass_process, hass_log, deadline)
                token = await hass.ws(
                    "auth/long_lived_access_token",
                    # A user's token names must differ (--keep makes one per start).
                    client_name=f"scripts/develop {time.strftime('%Y-%m-%d %H:%M:%S')}",
                    lifespan=3650,
                )
                entry_id = await add_integration(hass, args.station_port)
                await wait_entry_loaded(hass, entry_id, deadline)
                if args.port_entities != "all":
                    await set_port_entities(hass, entry_id, args.port_entities, deadline)
                    print(f"  entities per port: {args.port_entities}")
                print(f"  IoT-Zinx listens for stations on 127.0.0.1:{args.station_port}")
                await install_dashboard(hass, args.language)
                print(f"  dashboard installed: {self.state['dashboard_url']}")
                self.state.update(token=token, entry_id=entry_id)

                stations: dict[str, str] = {}
                ports: list[Port] = []
                charging: list[Port] = []
                warnings: list[str] = []
                if not args.no_simulator and args.stations > 0:
                    self.simulator_process = start_process(
                        simulator_command(args),
                        config / "simulator.log",
                    )
                    self.state["simulator_pid"] = self.simulator_process.pid
                    write_state(config, self.state, None)
                    stations, ports = await wait_for_stations(
                        hass,
                        args.stations,
                        args.ports,
                        deadline,
                        port_entities=args.port_entities in ("all", "essential"),
                    )
                    print(f"  {len(stations)} stations with {len(ports)} ports are online")
                    if args.charge_ports > 0:
                        charging = await start_charging(
                            hass, ports, args.charge_ports, deadline, warnings
                        )
                        print(f"  charging on {len(charging)} ports")
                    await set_energy_devices(hass, ports)
                self.state.update(
                    stations=stations,
                    ports=[
                        {
                            "station_id": port.station_id,
                            "port": port.number,
                            "device_id": stations.get(port.station_id),
                            "entities": port.entities,
                            "charging_started": port in charging,
                        }
                        for port in ports
                    ],
                    warnings=warnings,
                    ready=True,
                    startup_seconds=round(time.monotonic() - started, 1),
                )
                write_state(config, self.state, args.ready_file)
            finally:
                await hass.close()

    def banner(self) -> str:
        state = self.state
        config = Path(state["config_dir"])
        try:
            shown = config.relative_to(Path.cwd())
        except ValueError:
            shown = config
        charging = [
            f"{p['station_id']}/{p['port']}"
            for p in state.get("ports", [])
            if p["charging_started"]
        ]
        lines = [
            "",
            f"IoT-Zinx demo is up ({state['startup_seconds']} s)",
            f"  open      {state['url']}/  (the Charging dashboard: {state['dashboard_url']})",
            f"  log in    user {state['username']}   password {state['password']}",
            f"  stations  {len(state.get('stations', {}))} simulated, "
            f"listening on 127.0.0.1:{state['station_port']}"
            + (f"; charging started on {', '.join(charging)}" if charging else ""),
            f"  logs      {shown}/home-assistant.log, {shown}/simulator.log",
        ]
        lines += [f"  warning   {warning}" for warning in state.get("warnings", [])]
        return "\n".join(lines)


async def wait_until_stopped(demo: Demo) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(signum, stop.set)
    while not stop.is_set():
        for name, process in (
            ("Home Assistant", demo.hass_process),
            ("the simulator", demo.simulator_process),
        ):
            if process is not None and process.poll() is not None:
                print(f"\n{name} exited with {process.returncode}; stopping the demo")
                return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1)
    print("\nStopping ...")


def main(argv: Sequence[str] | None = None) -> int:
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]  # progress, live
    args = build_parser().parse_args(argv)
    args.config = args.config.absolute()
    if args.stop:
        stop_demo(args.config)
        return 0
    if not 1 <= args.ports <= 16:
        print("scripts/develop: --ports must be 1..16", file=sys.stderr)
        return 2
    for port, what in ((args.port, "--port"), (args.station_port, "--station-port")):
        if not port_free(port):
            print(f"scripts/develop: port {port} ({what}) is in use on 127.0.0.1", file=sys.stderr)
            return 1
    demo = Demo(args)
    try:
        asyncio.run(demo.start())
    except (DemoError, OSError, aiohttp.ClientError, TimeoutError) as err:
        print(f"scripts/develop: {err}", file=sys.stderr)
        demo.stop()
        return 1
    except KeyboardInterrupt:
        print("\nInterrupted; stopping ...")
        demo.stop()
        return 130
    print(demo.banner())
    if args.background:
        print(f"  stop with scripts/develop --stop --config {args.config}")
        return 0
    print("Press Ctrl-C to stop.")
    asyncio.run(wait_until_stopped(demo))
    demo.stop()
    print("Stopped.")
    return 0


if __name__ == "__main__":
    sys.exit(main())

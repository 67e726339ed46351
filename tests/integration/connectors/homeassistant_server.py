"""A real Home Assistant for the connector's integration tests, and a proxy to inject faults.

Home Assistant runs from the virtualenv that ``scripts/install-homeassistant`` caches, with a
generated configuration (http on a free loopback port, ``api``, ``websocket_api``, input and
template entities), a user made by ``hass --script auth`` and a long-lived access token from
the login flow. The proxy sits in front of it like a reverse proxy would: it can refuse the
WebSocket upgrade, and it can slip a raw frame into the WebSocket stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import aiohttp
import requests
from aiohttp import web

from sentio.stack.supervisor import stop_child
from tests.conftest import free_port

REPO = Path(__file__).resolve().parents[3]
INSTALL_SCRIPT = REPO / "scripts" / "install-homeassistant"
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0
USER = "sentio"
PASSWORD = "sentio-test-password"

CONFIGURATION = """\
homeassistant:
  name: Sentio test
  latitude: 52.5
  longitude: 13.4
  elevation: 30
  unit_system: metric
  time_zone: UTC
  currency: EUR
  country: DE
http:
  server_host: 127.0.0.1
  server_port: {port}
  ip_ban_enabled: false
auth:
api:
websocket_api:
logger:
  default: warning
input_number:
  outdoor_temp:
    name: Outdoor temperature
    min: -50
    max: 60
    step: 0.1
    initial: 12.5
    unit_of_measurement: "°C"
input_boolean:
  kitchen_light:
    name: Kitchen light
    initial: false
template:
  - sensor:
      - name: Power
        unit_of_measurement: kW
        device_class: power
        state_class: measurement
        state: "1.5"
      - name: Energy
        unit_of_measurement: kWh
        device_class: energy
        state_class: total_increasing
        state: "1234.5"
      - name: Particulates
        unit_of_measurement: "µg/m³"
        device_class: pm25
        state_class: measurement
        state: "8"
      - name: Wifi signal
        unit_of_measurement: dBm
        device_class: signal_strength
        state_class: measurement
        state: "-61"
      - name: Fridge
        unit_of_measurement: "°F"
        state: "38.5"
      - name: Outdoor double
        unit_of_measurement: "°C"
        device_class: temperature
        state: "{{{{ states('input_number.outdoor_temp') | float(0) * 2 }}}}"
"""


def installed_venv() -> Path | str:
    """Return the cached virtualenv of Home Assistant, or why it cannot be used."""
    venv = Path(
        subprocess.run(
            ["bash", str(INSTALL_SCRIPT), "--print-dir"], check=True, capture_output=True, text=True
        ).stdout.strip()
    )
    if not (venv / ".installed").is_file() or not (venv / "bin" / "hass").is_file():
        return (
            f"Home Assistant is not installed in {venv}: run scripts/install-homeassistant "
            "(once; it is cached)"
        )
    return venv


class HomeAssistant:
    """One Home Assistant process with a generated configuration; restartable on its port."""

    def __init__(self, workdir: Path, venv: Path) -> None:
        self.venv = venv
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config_dir = workdir / "config"
        self.config_dir.mkdir(parents=True)
        (self.config_dir / "configuration.yaml").write_text(CONFIGURATION.format(port=self.port))
        self.log = workdir / "hass.log"
        self.token = ""
        self._process: subprocess.Popen[bytes] | None = None
        hass = str(venv / "bin" / "hass")
        add_user = [hass, "--script", "auth", "-c", str(self.config_dir), "add", USER, PASSWORD]
        subprocess.run(add_user, check=True, capture_output=True)

    @property
    def running(self) -> bool:
        """Return whether the process is alive."""
        return self._process is not None and self._process.poll() is None

    def start(self) -> float:
        """Start Home Assistant, wait until its API answers; return the seconds it took."""
        assert self._process is None, "already running"
        started = time.monotonic()
        with self.log.open("ab") as log:
            self._process = subprocess.Popen(
                [str(self.venv / "bin" / "hass"), "-c", str(self.config_dir), "--skip-pip"],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = started + START_TIMEOUT_S
        while True:
            if self._process.poll() is not None:
                raise RuntimeError(f"Home Assistant exited: {self.log.read_text()[-3000:]}")
            try:
                if requests.get(f"{self.url}/api/", timeout=1).status_code == 401:
                    return time.monotonic() - started
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"Home Assistant did not answer on {self.url} in time")
            time.sleep(0.1)

    def stop(self) -> None:
        """Stop Home Assistant: terminate, then wait (kill if it hangs)."""
        process, self._process = self._process, None
        if process is not None:
            stop_child(process, STOP_TIMEOUT_S)

    def login(self) -> str:
        """Log the test user in and return a new long-lived access token (kept in ``token``)."""
        client_id = f"{self.url}/"
        flow = requests.post(
            f"{self.url}/auth/login_flow",
            json={"client_id": client_id, "handler": ["homeassistant", None]}
            | {"redirect_uri": client_id},
            timeout=10,
        ).json()
        done = requests.post(
            f"{self.url}/auth/login_flow/{flow['flow_id']}",
            json={"client_id": client_id, "username": USER, "password": PASSWORD},
            timeout=10,
        ).json()
        tokens = requests.post(
            f"{self.url}/auth/token",
            data={"grant_type": "authorization_code", "code": done["result"]}
            | {"client_id": client_id},
            timeout=10,
        ).json()
        self.token = asyncio.run(self._long_lived(tokens["access_token"]))
        return self.token

    async def _long_lived(self, access_token: str) -> str:
        async with (
            aiohttp.ClientSession() as http,
            http.ws_connect(f"ws://127.0.0.1:{self.port}/api/websocket") as ws,
        ):
            await ws.receive_json()
            await ws.send_json({"type": "auth", "access_token": access_token})
            assert (await ws.receive_json())["type"] == "auth_ok"
            await ws.send_json(
                {"id": 1, "type": "auth/long_lived_access_token"}
                | {"client_name": "sentio-tests", "lifespan": 30}
            )
            answer = await ws.receive_json()
            token: str = answer["result"]
            return token

    async def call(self, domain: str, service: str, **data: object) -> None:
        """Call a service over the REST API."""
        await self._post(f"/api/services/{domain}/{service}", data)

    async def set_state(self, entity_id: str, state: str, **attributes: object) -> None:
        """Write an entity's state directly, as an integration would."""
        await self._post(f"/api/states/{entity_id}", {"state": state, "attributes": attributes})

    async def _post(self, path: str, body: Mapping[str, Any]) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        async with (
            aiohttp.ClientSession() as http,
            http.post(self.url + path, json=body, headers=headers) as response,
        ):
            assert response.status in (200, 201), await response.text()


class FaultProxy:
    """A reverse proxy in front of Home Assistant that can refuse WebSockets or inject frames."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.websocket = True
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._clients: set[web.WebSocketResponse] = set()
        self._runner: web.AppRunner | None = None
        self._http: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        """Listen on the proxy's port."""
        app = web.Application()
        app.router.add_route("*", "/{path:.*}", self._handle)
        self._http = aiohttp.ClientSession()
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        """Close every connection and stop listening."""
        for client in list(self._clients):
            await client.close()
        if self._runner is not None:
            await self._runner.cleanup()
        if self._http is not None:
            await self._http.close()

    @property
    def clients(self) -> int:
        """Return how many WebSocket clients are connected."""
        return len(self._clients)

    async def inject(self, text: str) -> None:
        """Send ``text`` as one frame to every WebSocket client, as if the server had sent it."""
        for client in list(self._clients):
            await client.send_str(text)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if request.path == "/api/websocket":
            if not self.websocket:
                return web.Response(status=404, text="404: Not Found")
            return await self._pipe(request)
        assert self._http is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() != "host"}
        async with self._http.request(
            request.method,
            self.upstream + request.path_qs,
            headers=headers,
            data=await request.read(),
        ) as upstream:
            return web.Response(
                status=upstream.status,
                body=await upstream.read(),
                content_type=upstream.content_type,
            )

    async def _pipe(self, request: web.Request) -> web.WebSocketResponse:
        assert self._http is not None
        client = web.WebSocketResponse()
        await client.prepare(request)
        self._clients.add(client)
        try:
            url = "ws" + self.upstream.removeprefix("http") + "/api/websocket"
            async with self._http.ws_connect(url) as server:
                pumps = {
                    asyncio.create_task(self._copy(client, server)),
                    asyncio.create_task(self._copy(server, client)),
                }
                try:
                    await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for pump in pumps:
                        pump.cancel()
                    for pump in pumps:
                        with contextlib.suppress(asyncio.CancelledError):
                            await pump
        finally:
            self._clients.discard(client)
            await client.close()
        return client

    @staticmethod
    async def _copy(
        source: web.WebSocketResponse | aiohttp.ClientWebSocketResponse,
        sink: web.WebSocketResponse | aiohttp.ClientWebSocketResponse,
    ) -> None:
        async for message in source:
            if message.type is aiohttp.WSMsgType.TEXT:
                await sink.send_str(message.data)
            elif message.type is aiohttp.WSMsgType.BINARY:
                await sink.send_bytes(message.data)

"""The status page at GET /, rendered by a real headless Chromium against a running station.

The daemon runs with simulated hardware against the embedded CSMS and serves its local API on a
loopback port; Chromium (Debian's ``chromium``) loads the page from there and polls
/api/status by itself. The test speaks the Chrome DevTools Protocol over ``websockets`` to
navigate, to read what the page shows (``innerText``, as a person would read it) and to take a
phone-sized screenshot. Nothing in the page is stubbed: if it renders the charging session,
its inline script ran under the Content-Security-Policy the station sends with it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import logging
import os
import struct
import zlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

from pievse.drivers.contracts import FaultKind
from pievse.local_api.status_page import RecentErrors, status_page
from tests.conftest import eventually, standin_missing
from tests.test_house_fuse import site_meter, site_sections  # noqa: F401 - a fixture
from tests.test_ocpp16_sessions import TAG, charging_session

CHROMIUM = "/usr/bin/chromium"
PHONE = {"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": True}

# Read in the page each time the test looks: all its text, each connector card's text, whether
# markup became elements, and a marker that only survives as long as the page is not reloaded.
SNAPSHOT_JS = """JSON.stringify({
  text: document.body.innerText,
  connectors: Object.fromEntries([...document.querySelectorAll("[data-connector]")]
                                 .map((card) => [card.dataset.connector, card.innerText])),
  csms: document.getElementById("csms").innerText,
  banner: document.getElementById("banner").hidden ? "" : document.getElementById("banner")
          .innerText,
  errors: document.getElementById("errors").hidden ? ""
          : document.getElementById("error-list").innerText,
  stale: document.body.classList.contains("stale"),
  images: document.querySelectorAll("img").length,
  history: document.getElementById("history").hidden ? ""
           : document.getElementById("history-rows").innerText,
  chartPoints: document.getElementById("chart").hidden ? 0
               : document.getElementById("chart-line").getAttribute("points").split(" ")
                 .filter(Boolean).length,
  message: document.getElementById("control-message").innerText,
  tokenAsked: document.getElementById("token-form").hidden ? ""
              : document.getElementById("token-why").innerText,
  sameDocument: window.loadedOnce === true,
})"""


class DevToolsError(Exception):
    """Chromium answered a DevTools command with an error."""


class DevTools:
    """One websocket to the browser; pages are attached to it as flat sessions."""

    def __init__(self, socket: ClientConnection) -> None:
        self.socket = socket
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future] = {}
        self.events: list[dict[str, Any]] = []
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for raw in self.socket:
            message = json.loads(raw)
            future = self._pending.pop(message.get("id"), None)
            if future is None:
                self.events.append(message)
            elif "error" in message:
                future.set_exception(DevToolsError(message["error"].get("message")))
            else:
                future.set_result(message.get("result", {}))

    async def call(self, method: str, session: str | None = None, **params: Any) -> dict:
        ident = next(self._ids)
        future = asyncio.get_running_loop().create_future()
        self._pending[ident] = future
        message = {"id": ident, "method": method, "params": params}
        if session is not None:
            message["sessionId"] = session
        await self.socket.send(json.dumps(message))
        return await asyncio.wait_for(future, 30)

    async def close(self) -> None:
        self._reader.cancel()
        await self.socket.close()


class Page:
    """A browser tab. While open, ``snapshot`` holds what it shows, re-read every 100 ms."""

    def __init__(self, devtools: DevTools, session: str) -> None:
        self.devtools = devtools
        self.session = session
        self.snapshot: dict[str, Any] = {}
        self._watcher: asyncio.Task | None = None

    async def goto(self, url: str) -> None:
        await self.devtools.call("Page.navigate", self.session, url=url)
        self._watcher = self._watcher or asyncio.create_task(self._watch())

    async def evaluate(self, expression: str) -> Any:
        answer = await self.devtools.call("Runtime.evaluate", self.session,
                                          expression=expression, returnByValue=True)
        if "exceptionDetails" in answer:
            raise DevToolsError(answer["exceptionDetails"].get("text"))
        return answer["result"].get("value")

    async def _watch(self) -> None:
        while True:
            with contextlib.suppress(DevToolsError, TypeError):
                self.snapshot = json.loads(await self.evaluate(SNAPSHOT_JS))
            await asyncio.sleep(0.1)

    def connector(self, n: int) -> str:
        return self.snapshot.get("connectors", {}).get(str(n), "")

    def problems(self) -> list[str]:
        """Uncaught exceptions and console errors (a CSP violation is one) of this tab."""
        found = []
        for event in self.devtools.events:
            if event.get("sessionId") != self.session:
                continue
            params = event.get("params", {})
            if event["method"] == "Runtime.exceptionThrown":
                found.append(params["exceptionDetails"].get("text", "exception"))
            elif event["method"] == "Log.entryAdded" and params["entry"]["level"] == "error":
                found.append(params["entry"]["text"])
        return found

    async def screenshot(self, path: Path, clip: dict[str, float] | None = None) -> bytes:
        area = {"clip": {**clip, "scale": 1}, "captureBeyondViewport": True} if clip else {}
        answer = await self.devtools.call("Page.captureScreenshot", self.session, format="png",
                                          **area)
        png = base64.b64decode(answer["data"])
        path.write_bytes(png)
        return png

    async def close(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            await asyncio.gather(self._watcher, return_exceptions=True)


@pytest.fixture
async def browser(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[DevTools]:
    """A headless Chromium of our own, on a free DevTools port, closed after the test."""
    if not os.access(CHROMIUM, os.X_OK):
        standin_missing(request, f"{CHROMIUM} is missing: apt-get install chromium")
    profile = tmp_path / "chromium-profile"
    log = (tmp_path / "chromium.log").open("wb")
    process = await asyncio.create_subprocess_exec(
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--remote-debugging-port=0", f"--user-data-dir={profile}",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--no-first-run", "--no-default-browser-check", "--mute-audio", "about:blank",
        stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=log,
    )
    devtools = None
    try:
        # Chromium writes the port it chose, and the browser's websocket path, to this file.
        active_port = profile / "DevToolsActivePort"
        await eventually(lambda: active_port.exists() and len(active_port.read_text().split()) == 2
                         or process.returncode is not None, "Chromium's DevTools port", 30)
        assert process.returncode is None, f"Chromium exited, see {tmp_path / 'chromium.log'}"
        port, path = active_port.read_text().split()
        devtools = DevTools(await connect(f"ws://127.0.0.1:{port}{path}", max_size=None))
        yield devtools
    finally:
        if devtools is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(devtools.call("Browser.close"), 5)
            await devtools.close()
        try:
            await asyncio.wait_for(process.wait(), 10)
        except TimeoutError:
            process.kill()
            await process.wait()
        log.close()


@pytest.fixture
async def open_page(browser: DevTools) -> AsyncIterator:
    """Open a phone-sized tab on a URL; its watcher stops after the test, and the tab goes
    with the browser."""
    pages: list[Page] = []

    async def open_(url: str) -> Page:
        target = await browser.call("Target.createTarget", url="about:blank")
        attached = await browser.call("Target.attachToTarget", targetId=target["targetId"],
                                      flatten=True)
        page = Page(browser, attached["sessionId"])
        pages.append(page)
        for domain in ("Page", "Runtime", "Log"):
            await browser.call(f"{domain}.enable", page.session)
        await browser.call("Emulation.setDeviceMetricsOverride", page.session, **PHONE)
        await page.goto(url)
        await eventually(lambda: page.snapshot.get("text"), "the page to render", 30)
        # Only this document has the marker: a reload would drop it.
        await page.evaluate("window.loadedOnce = true")
        return page

    yield open_
    for page in pages:
        await page.close()


async def station_with_page(start_station, open_page, **sections: dict[str, Any]):
    daemon = await start_station(api={"listen": "127.0.0.1:0"}, **sections)
    status, _, _ = await http(daemon.api.port, "GET")
    assert status == "HTTP/1.1 200 OK", "the local API does not route GET / to the status page"
    page = await open_page(f"http://127.0.0.1:{daemon.api.port}/")
    return daemon, page


def kilowatts(daemon) -> str:
    """The power of connector 1 as the page writes it."""
    return f"{daemon.status()['connectors'][0]['meter']['power_w'] / 1000:.1f} kW"


async def test_page_shows_available_then_charging_with_offered_current_and_power_live(
    csms, start_station, open_page, tmp_path
):
    daemon, page = await station_with_page(start_station, open_page,
                                           charge_point={"max_current": 16})
    await eventually(lambda: "Available" in page.connector(1), "Available")
    assert "CSMS online" in page.snapshot["csms"]
    assert "Limit: installation maximum: 16 A" in page.connector(1)

    await charging_session(csms, daemon)
    await eventually(lambda: "Charging" in page.connector(1), "Charging")
    await eventually(lambda: kilowatts(daemon) != "0.0 kW" and kilowatts(daemon) in
                     page.connector(1), "the power the meter reads")
    shown = page.connector(1)
    assert "Offered\n16 A" in shown
    assert "installation maximum: 16 A" in shown
    assert TAG in shown and "Contactor\nclosed" in shown and "asking for power (C)" in shown
    png = await page.screenshot(tmp_path / "status_page_charging.png")
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert struct.unpack(">I", png[16:20])[0] == PHONE["width"] * PHONE["deviceScaleFactor"]

    daemon.hardware.simulated.evs[1].set_state("A")
    await eventually(lambda: "Available" in page.connector(1), "Available after unplugging")
    assert "Contactor\nopen" in page.connector(1)
    assert page.snapshot["sameDocument"], "the page was reloaded instead of updating itself"
    assert page.problems() == []


async def test_page_shows_a_tripped_rcd_and_the_error_the_station_logged(start_station,
                                                                         open_page):
    daemon, page = await station_with_page(start_station, open_page)
    await eventually(lambda: "Available" in page.connector(1), "Available")
    assert page.snapshot["errors"] == ""  # nothing has gone wrong yet: no error list

    daemon.hardware.simulated.boards[1].inject_fault(FaultKind.RCD, True)
    await eventually(lambda: "Faulted" in page.connector(1), "Faulted")
    shown = page.connector(1)
    assert "residual current device" in shown and "GroundFailure" in shown
    await eventually(lambda: "fault rcd active" in page.snapshot["errors"],
                     "the logged error in the page (Daemon.status() gives recent_errors)")
    assert page.snapshot["sameDocument"]


async def test_page_shows_an_id_tag_full_of_markup_from_the_csms_as_text(
    csms, start_station, open_page
):
    daemon, page = await station_with_page(start_station, open_page)
    # A card reader only yields hex UIDs, but a CSMS may start a session for any CiString20.
    hostile = "<img src=x>"
    daemon.hardware.simulated.evs[1].set_state("C")
    assert (await csms.remote_start("CP1", hostile, connector_id=1))["status"] == "Accepted"
    await eventually(lambda: "Charging" in page.connector(1), "Charging")
    assert f"Card\n{hostile}" in page.connector(1)
    assert page.snapshot["images"] == 0


async def test_page_says_when_the_charger_stops_answering(start_station, open_page):
    daemon, page = await station_with_page(start_station, open_page)
    await eventually(lambda: "Available" in page.connector(1), "Available")
    daemon.stop()
    await eventually(lambda: "No answer from the charger since" in page.snapshot["banner"],
                     "the no-answer banner", 30)
    assert page.snapshot["stale"]
    assert "Available" in page.connector(1)  # the last known state stays, faded


# --- the HTTP side, without a browser -------------------------------------------------------------


async def http(port: int, method: str, path: str = "/") -> tuple[str, dict[str, str], bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    raw = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    status, *lines = head.decode("ascii").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in
               (line.partition(":") for line in lines)}
    return status, headers, body


async def test_station_serves_the_page_with_a_policy_that_allows_only_its_own_code(
    start_station
):
    daemon = await start_station(api={"listen": "127.0.0.1:0"})
    status, headers, body = await http(daemon.api.port, "GET")
    assert status == "HTTP/1.1 200 OK", "the local API does not route GET / to the status page"
    assert headers["content-type"] == "text/html; charset=utf-8"
    assert body == status_page().html and int(headers["content-length"]) == len(body)
    policy = headers["content-security-policy"]
    assert "default-src 'none'" in policy and "connect-src 'self'" in policy
    assert policy.count("'sha256-") == 2 and "unsafe-inline" not in policy

    status, headers, body = await http(daemon.api.port, "HEAD")
    assert status == "HTTP/1.1 200 OK" and body == b""
    assert int(headers["content-length"]) == len(status_page().html)

    status, headers, body = await http(daemon.api.port, "POST")
    assert status.startswith("HTTP/1.1 405") and headers["allow"] == "GET, HEAD"
    assert json.loads(body) == {"error": "/ allows GET, HEAD, not POST"}


def test_recent_errors_keep_the_newest_first_lines_of_errors_only():
    recent = RecentErrors(size=2, max_chars=20)
    logger = logging.getLogger("pievse.test_status_page")
    logger.addHandler(recent)
    try:
        logger.warning("a warning is not an error")
        logger.error("connector 1: fault rcd active")
        logger.critical("could not open the contactor\nTraceback (most recent call last): ...")
        logger.error("meter offline, reported as PowerMeterFailure")
    finally:
        logger.removeHandler(recent)
    errors = recent.as_json()
    assert [e["message"] for e in errors] == ["meter offline, repo…",
                                              "could not open the …"]
    assert [e["level"] for e in errors] == ["ERROR", "CRITICAL"]
    assert all(e["time"].endswith("Z") for e in errors)


# --- the chart, the history and the controls ------------------------------------------------------

# The chart's line in the page's light colours (--busy).
LINE_RGB = (0x0A, 0x58, 0xCA)
TOKEN = "0123456789abcdef0123"


def png_pixels(png: bytes) -> list[list[tuple[int, int, int]]]:
    """The RGB rows of an 8-bit RGB or RGBA PNG (what Chromium writes), decoded with zlib."""
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    position, data, header = 8, b"", None
    while position < len(png):
        length, kind = struct.unpack(">I4s", png[position:position + 8])
        chunk = png[position + 8:position + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", chunk)
        elif kind == b"IDAT":
            data += chunk
        position += 12 + length
    width, height, depth, colour, _, _, interlace = header
    assert depth == 8 and colour in (2, 6) and interlace == 0, header
    step = 3 if colour == 2 else 4
    raw = zlib.decompress(data)
    stride = width * step
    rows, previous = [], bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1:start + 1 + stride])
        for i in range(stride):
            left = line[i - step] if i >= step else 0
            up, corner = previous[i], previous[i - step] if i >= step else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                guess = left + up - corner
                near = min((abs(guess - left), 0, left), (abs(guess - up), 1, up),
                           (abs(guess - corner), 2, corner))
                line[i] = (line[i] + near[2]) & 0xFF
        rows.append([tuple(line[x:x + 3]) for x in range(0, stride, step)])
        previous = line
    return rows


def line_pixels(rows: list[list[tuple[int, int, int]]]) -> tuple[int, int]:
    """How many pixels have the chart line's colour, in the upper and the lower half."""
    def is_line(rgb: tuple[int, int, int]) -> bool:
        return sum(abs(a - b) for a, b in zip(rgb, LINE_RGB, strict=True)) < 60
    half = len(rows) // 2
    return (sum(map(is_line, itertools.chain(*rows[:half]))),
            sum(map(is_line, itertools.chain(*rows[half:]))))


async def chart_screenshot(page: Page, path: Path) -> list[list[tuple[int, int, int]]]:
    box = json.loads(await page.evaluate("""(() => {
        const chart = document.getElementById("power-chart");
        chart.scrollIntoView();
        const r = chart.getBoundingClientRect();
        return JSON.stringify({x: r.left + scrollX, y: r.top + scrollY,
                               width: r.width, height: r.height});
    })()"""))
    return png_pixels(await page.screenshot(path, clip=box))


async def click(page: Page, element_id: str) -> None:
    await page.evaluate(f"document.getElementById({json.dumps(element_id)}).click()")


async def test_page_charts_the_sessions_power_stops_it_and_lists_it_with_its_markup_id_tag_as_text(
    csms, start_station, open_page, tmp_path
):
    daemon, page = await station_with_page(start_station, open_page,
                                           tariff={"price_per_kwh": 0.30, "currency": "EUR"})
    await eventually(lambda: "Available" in page.connector(1), "Available")
    assert page.snapshot["chartPoints"] == 0  # no session yet: no chart
    # No charging modes in this station's status (no solar): no mode control.
    assert await page.evaluate('getComputedStyle(document.getElementById("mode-row")).display')\
        == "none"

    hostile = "<img src=x><b>bold"
    daemon.hardware.simulated.evs[1].set_state("C")
    assert (await csms.remote_start("CP1", hostile, connector_id=1))["status"] == "Accepted"
    await eventually(lambda: "Charging" in page.connector(1), "Charging")
    await eventually(lambda: kilowatts(daemon) != "0.0 kW", "the car's power")
    # A few points, the later ones with the car's power: the line rises off the bottom.
    await eventually(lambda: page.snapshot["chartPoints"] >= 4, "the chart's points", 20)
    upper, lower = line_pixels(await chart_screenshot(page, tmp_path / "chart.png"))
    assert upper > 50, f"the chart shows no power line above its bottom half ({upper}, {lower})"

    await click(page, "stop-1")
    await eventually(lambda: daemon.station.connector(1).transaction is None, "the stop")
    await eventually(lambda: "Connector 1: stop: done." in page.snapshot["message"],
                     "the page saying the stop was done")
    # The table may have been read while the session still ran ("charging"); it is read again
    # when the session ends.
    await eventually(lambda: hostile in page.snapshot["history"]
                     and "charging" not in page.snapshot["history"].splitlines()[0],
                     "the ended session in the history", 40)
    row = page.snapshot["history"].splitlines()[0]
    assert "Wh" in row and "EUR" in row
    assert page.snapshot["images"] == 0
    # The chart keeps the last session until the next one.
    await eventually(lambda: "last session" in page.snapshot["text"], "the chart's caption")
    assert page.snapshot["chartPoints"] >= 4
    assert page.problems() == []


async def test_max_current_from_the_page_beyond_loopback_asks_for_the_token_then_lowers_the_offer(
    csms, start_station, open_page
):
    daemon = await start_station(api={"listen": "0.0.0.0:0", "token": TOKEN},
                                 charge_point={"max_current": 16})
    page = await open_page(f"http://127.0.0.1:{daemon.api.port}/")
    await charging_session(csms, daemon)
    await eventually(lambda: "Offered\n16 A" in page.connector(1), "16 A offered")

    await page.evaluate('document.getElementById("limit-1").value = "10"')
    await click(page, "set-limit-1")
    await eventually(lambda: "token" in page.snapshot["tokenAsked"], "the page asking the token")
    # Refused (401): no limit of the API's, the offer as it was.
    assert "local limit (api)" not in daemon.station.connector(1).limits
    assert daemon.station.connector(1).offered_a > 15

    await page.evaluate(f'document.getElementById("token").value = {json.dumps(TOKEN)}')
    await click(page, "token-send")
    await eventually(lambda: daemon.station.connector(1).limits.get("local limit (api)") == 10,
                     "the API's limit of 10 A")
    await eventually(lambda: daemon.station.connector(1).offered_a <= 10, "the offer at 10 A")
    await eventually(lambda: "Offered\n10 A" in page.connector(1), "10 A on the page")
    assert "local limit (api)" in page.connector(1)
    assert page.snapshot["tokenAsked"] == "" and "max 10 A: done" in page.snapshot["message"]
    # With the token the page is trusted: it shows the card of the session.
    await eventually(lambda: TAG in page.connector(1), "the id tag for a trusted page")
    # The browser logs the refused request; nothing else went wrong.
    assert [p for p in page.problems() if "(Unauthorized)" not in p] == []


async def test_the_charging_mode_is_chosen_on_the_page_of_a_station_with_a_site_meter(
    csms, start_station, open_page, site_meter  # noqa: F811 - a fixture
):
    """With a site meter the page offers the modes; choosing one posts it (POST /api/mode) and
    the station charges that way from then on."""
    daemon = await start_station(**site_sections(site_meter, main_fuse=35.0, safe_current=16.0),
                                 api={"listen": "127.0.0.1:0"})
    page = await open_page(f"http://127.0.0.1:{daemon.api.port}/")
    shown = ('document.getElementById("mode-row").hidden ? ""'
             ' : document.getElementById("mode").value')
    await eventually(lambda: page.snapshot.get("text"), "the page to render", 30)

    async def mode_shown() -> str:
        return await page.evaluate(shown)

    value = ""
    for _ in range(100):
        if (value := await mode_shown()) == "fast":
            break
        await asyncio.sleep(0.1)
    assert value == "fast", "the mode row shows the configured mode"
    await page.evaluate('const s = document.getElementById("mode"); s.value = "pv";'
                        ' s.dispatchEvent(new Event("change"))')
    await eventually(lambda: daemon.status()["solar"]["mode"] == "pv", "the station in pv mode")
    assert page.problems() == []

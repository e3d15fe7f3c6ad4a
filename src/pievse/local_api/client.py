"""A client of the local API: one request, its JSON answer, and a status as a person reads it.

The ``pievse status`` and ``pievse sim`` commands built on it are in :mod:`pievse.app.api_commands`.
"""

from __future__ import annotations

import json
from typing import Any

from pievse.local_api.addresses import split_host_port

__all__ = ["DEFAULT_API", "ApiCallFailed", "call_api", "format_status", "split_host_port"]

DEFAULT_API = "127.0.0.1:8180"
TIMEOUT_S = 10.0


class ApiCallFailed(Exception):
    """The API could not be reached or answered with an error; the message is for the user."""


# --- talking to the API -------------------------------------------------------------------------


def call_api(address: str, method: str, path: str, body: dict[str, Any] | None = None,
             *, token: str | None = None) -> Any:
    """Send one request to the API at ``address`` ("host:port") and return its JSON answer;
    ``token`` is the ``[api] token`` that a station needs for changes (sent as a bearer token)."""
    import http.client
    import urllib.error
    import urllib.request

    host, port = split_host_port(address)
    # A daemon listening on every address is reached on loopback.
    host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
    url = f"http://{f'[{host}]' if ':' in host else host}:{port}{path}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    # The local API is never behind a proxy, whatever http_proxy says.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=TIMEOUT_S) as response:
            raw = response.read()
    except urllib.error.HTTPError as error:
        with error:
            text = _error_text(error.read()) or f"{error.code} {error.reason}"
        raise ApiCallFailed(text) from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
        reason = getattr(error, "reason", error)
        if isinstance(reason, ConnectionRefusedError):
            why = "is the daemon running?"
        else:
            why = str(reason)
        raise ApiCallFailed(f"cannot reach the local API at {address} ({why})") from None
    try:
        return json.loads(raw)
    except ValueError:
        raise ApiCallFailed(
            f"the local API at {address} did not answer JSON (is it a pievse daemon?)"
        ) from None


def _error_text(raw: bytes) -> str | None:
    try:
        answer = json.loads(raw)
    except ValueError:
        return None
    return answer.get("error") if isinstance(answer, dict) else None


# --- the status, for people ---------------------------------------------------------------------


def format_status(status: dict[str, Any]) -> str:
    """A few lines per connector from the JSON of GET /api/status; missing values show as "?"."""
    ocpp = status.get("ocpp") or {}
    link = "connected" if ocpp.get("connected") else "not connected"
    if ocpp.get("standalone"):
        link = "standalone, no CSMS"
    if ocpp.get("connected") and ocpp.get("registered") is False:
        link += ", not yet accepted"
    queued = ocpp.get("queued_transaction_messages")
    if queued:
        link += f", {queued} transaction message{'s' if queued != 1 else ''} queued"
    lines = [f"charge point {status.get('charge_point_id', '?')}: "
             f"OCPP {ocpp.get('version') or '?'} {link}"]
    site = status.get("site")
    if site and site.get("meter_online") is False:
        lines.append(f"house fuse: site meter silent ({site.get('problem') or '?'}), the cars "
                     f"get the safe current, {_amps(site.get('limit_a'))}")
    elif site:
        lines.append(f"house fuse: the cars may draw {_amps(site.get('limit_a'))}, room "
                     f"{_amps(site.get('room_a'))} under the {_amps(site.get('main_fuse_a'))} "
                     "main fuse")
    solar = status.get("solar")
    if solar and solar.get("mode") not in (None, "fast"):
        surplus = solar.get("surplus_w")
        lines.append(f"solar: {solar['mode']}, surplus {_kw(surplus)}, the cars may draw "
                     f"{_amps(solar.get('limit_a'))} on {solar.get('phases', '?')} phase(s)")
    for c in status.get("connectors") or []:
        state = c.get("status") or "unknown"
        if c.get("error_code") not in (None, "NoError"):
            state += f" ({c['error_code']})"
        lines.append(f"connector {c.get('id', '?')}: {state}")
        contactor = {True: "closed", False: "open"}.get(c.get("contactor_closed"), "?")
        offered = c.get("offered_current")
        offer = f"offering {offered:g} A" if offered else "offering nothing"
        lines.append(f"  pilot {c.get('pilot_state', '?')}, contactor {contactor}, {offer}")
        if c.get("offered_current_reason"):
            lines.append(f"  limited by {c['offered_current_reason']}")
        meter = c.get("meter") or {}
        if meter.get("online") is False:
            lines.append("  meter offline")
        else:
            lines.append(f"  meter {_kw(meter.get('power_w'))}, {_kwh(meter.get('energy_wh'))}")
        if meter.get("problem"):
            lines.append(f"  meter problem: {meter['problem']}")
        tx = c.get("transaction")
        if tx:
            delivered = tx.get("energy_wh")
            if delivered is None and None not in (meter.get("energy_wh"), tx.get("meter_start_wh")):
                delivered = meter["energy_wh"] - tx["meter_start_wh"]
            lines.append(f"  transaction {tx.get('id', '?')} for id tag {tx.get('id_tag', '?')}, "
                         f"{_kwh(delivered)} delivered")
        else:
            lines.append("  no transaction")
    return "\n".join(lines)


def _amps(amps: Any) -> str:
    return f"{amps:g} A" if isinstance(amps, int | float) else "? A"


def _kw(watts: float | None) -> str:
    return "? kW" if watts is None else f"{watts / 1000:.2f} kW"


def _kwh(watt_hours: float | None) -> str:
    return "? kWh" if watt_hours is None else f"{watt_hours / 1000:.3f} kWh"

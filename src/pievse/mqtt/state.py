"""What is published about the station: the local API's status (``GET /api/status``), flattened
into one small JSON object per connector and one for the station, in the units Home Assistant
reads (W, kWh, A) and with "ON"/"OFF" where it shows a switch or a binary sensor.

Nothing is computed here that the status does not say; values it does not know are ``null``,
which Home Assistant shows as unknown.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ON_OFF", "connector_state", "station_state"]

ON_OFF = {True: "ON", False: "OFF"}


def _kwh(wh: float | None) -> float | None:
    return None if wh is None else round(wh / 1000, 3)


def connector_state(connector: dict[str, Any]) -> dict[str, Any]:
    """One connector of the status (an entry of its ``connectors``)."""
    meter = connector["meter"]
    session = connector["transaction"]
    error = connector["error_code"]
    return {
        "status": connector["status"],
        "car_state": connector["pilot_state"],
        "contactor": ON_OFF[bool(connector["contactor_closed"])],
        "power_w": meter["power_w"],
        "energy_kwh": _kwh(meter["energy_wh"]),
        "session_energy_kwh": _kwh(session["energy_wh"]) if session else 0.0,
        "session": ON_OFF[session is not None],
        # The CSMS's transaction id: None before it answered, and always without a CSMS.
        "session_id": session["id"] if session else None,
        "offered_current_a": connector["offered_current"],
        "offered_current_reason": connector["offered_current_reason"],
        "fault": ON_OFF[error not in (None, "NoError")],
        "error_code": error,
        "error_info": connector["error_info"],
        "meter_online": ON_OFF[bool(meter["online"])],
        "meter_problem": meter["problem"],
        "enabled": ON_OFF[connector["status"] != "Unavailable"],
    }


def station_state(status: dict[str, Any], station_max_a: float) -> dict[str, Any]:
    """The station as a whole: its link to the CSMS, whether it takes cars, and the station-wide
    limit set over MQTT (without one, ``station_max_a``)."""
    ocpp = status["ocpp"]
    connectors = status["connectors"]
    limits = status.get("local_limits", {}).get("mqtt", {})
    return {
        "csms": ON_OFF[bool(ocpp["registered"])],
        "csms_connected": ON_OFF[bool(ocpp["connected"])],
        "queued_messages": ocpp["queued_transaction_messages"],
        "enabled": ON_OFF[any(c["status"] != "Unavailable" for c in connectors)],
        "max_current_a": limits.get("station", station_max_a),
        "mode": (status.get("solar") or {}).get("mode"),
    }

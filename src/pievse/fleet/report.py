"""What a fleet run says: one progress line while it runs, and at the end a summary for people
and a JSON report and a CSV per action for machines, so that two runs can be compared."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from pievse.fleet.engine import Fleet, FleetProgress
from pievse.fleet.versions import show_mix

__all__ = ["progress_line", "report", "summary", "write_actions_csv", "write_report"]

#: Actions shown in the progress line, in this order when present.
_SHOWN = ("BootNotification", "StatusNotification", "StartTransaction", "MeterValues",
          "StopTransaction", "TransactionEvent", "Heartbeat", "Authorize")


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.0f}"


def progress_line(fleet: Fleet, progress: FleetProgress) -> str:
    shown = []
    for action in _SHOWN:
        stats = fleet.metrics.actions.get(action)
        if stats is not None and stats.latency.count:
            shown.append(f"{action} {_ms(stats.latency.percentile(0.5))}/"
                         f"{_ms(stats.latency.percentile(0.99))}")
    return (f"{progress.elapsed_s:6.0f} s  stations {progress.connected}/{progress.stations} "
            f"connected, {progress.booted} booted, {progress.charging} charging  "
            f"{progress.frames_per_s:,.0f} msg/s  {progress.call_errors} CALLERROR  "
            f"p50/p99 ms: {', '.join(shown) or '-'}")


def report(fleet: Fleet) -> dict[str, Any]:
    """Everything a run measured, as JSON-ready data."""
    metrics, counts, scenario = fleet.metrics, fleet.counts, fleet.scenario
    stations = [{
        "id": s.id,
        "ocpp": s.version,
        "sessions_started": s.transactions_started,
        "sessions_stopped": s.transactions_stopped,
        # 2.0.1's registers travel to the milliwatt-hour: no float noise in the sums.
        "energy_wh": round(s.energy_wh, 3),
        "reconnects": max(0, s.sessions - 1),
        "queued_at_end": s.queued,
    } for s in fleet.stations]
    return {
        "scenario": {"seed": scenario.seed, "duration_s": scenario.duration,
                     "stations": scenario.count, "boot": scenario.boot_mode,
                     "ocpp": show_mix(scenario.ocpp)},
        "csms": fleet.csms_url,
        "booted_in_s": None if fleet.booted_in_s is None else round(fleet.booted_in_s, 3),
        "ran_s": None if fleet.ran_s is None else round(fleet.ran_s, 3),
        "totals": {
            "frames_sent": metrics.frames_sent,
            "frames_received": metrics.frames_received,
            "call_errors": metrics.call_errors,
            "rejected_boots": metrics.rejected_boots,
            "connections": metrics.connections,
            "reconnects": metrics.reconnects,
            "sessions_started": sum(s["sessions_started"] for s in stations),
            "sessions_stopped": sum(s["sessions_stopped"] for s in stations),
            "energy_wh": round(sum(s["energy_wh"] for s in stations), 3),
            "undelivered_transaction_messages": fleet.undelivered,
            "arrivals": counts.arrivals,
            "cards_presented": counts.cards_presented,
            "bad_cards_presented": counts.bad_cards_presented,
            "remote_start_waits": counts.remote_waits,
            "drivers_left_unstarted": counts.not_started,
            "faults": counts.faults,
            "link_drops": counts.link_drops,
        },
        "by_version": _by_version(stations),
        "actions": {action: stats.as_json()
                    for action, stats in sorted(metrics.actions.items())},
        "received": dict(sorted(metrics.received.items())),
        "stations": stations,
    }


def _by_version(stations: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Stations, sessions and energy of each OCPP version in the fleet."""
    versions: dict[str, dict[str, Any]] = {}
    for station in stations:
        mine = versions.setdefault(station["ocpp"], {
            "stations": 0, "sessions_started": 0, "sessions_stopped": 0, "energy_wh": 0})
        mine["stations"] += 1
        for name in ("sessions_started", "sessions_stopped", "energy_wh"):
            mine[name] += station[name]
    for mine in versions.values():
        mine["energy_wh"] = round(mine["energy_wh"], 3)
    return dict(sorted(versions.items()))


def summary(data: dict[str, Any]) -> str:
    totals = data["totals"]
    booted = "-" if data["booted_in_s"] is None else f"{data['booted_in_s']:.1f} s"
    ran = "-" if data["ran_s"] is None else f"{data['ran_s']:.0f} s"
    lines = [
        f"{data['scenario']['stations']} stations, seed {data['scenario']['seed']}, ran {ran} "
        f"of {data['scenario']['duration_s']:g} s, all booted in {booted}",
        f"sessions {totals['sessions_started']} started, {totals['sessions_stopped']} stopped, "
        f"{totals['energy_wh'] / 1000:,.1f} kWh; {totals['reconnects']} reconnects, "
        f"{totals['rejected_boots']} rejected boots, {totals['call_errors']} CALLERRORs, "
        f"{totals['undelivered_transaction_messages']} transaction messages undelivered",
        *(f"OCPP {version}: {mine['stations']} stations, sessions {mine['sessions_started']} "
          f"started, {mine['sessions_stopped']} stopped, {mine['energy_wh'] / 1000:,.1f} kWh"
          for version, mine in data["by_version"].items()),
        f"{'action':<22}{'sent':>9}{'errors':>8}{'p50 ms':>9}{'p99 ms':>9}",
    ]
    for action, stats in data["actions"].items():
        lines.append(f"{action:<22}{stats['sent']:>9}{stats['call_errors']:>8}"
                     f"{_num(stats['p50_ms']):>9}{_num(stats['p99_ms']):>9}")
    return "\n".join(lines)


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def write_actions_csv(data: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["action", "sent", "answered", "call_errors", "p50_ms", "p99_ms", "mean_ms",
                     "errors_by_code"])
    for action, stats in data["actions"].items():
        writer.writerow([action, stats["sent"], stats["answered"], stats["call_errors"],
                         stats["p50_ms"], stats["p99_ms"], stats["mean_ms"],
                         ";".join(f"{code}={n}" for code, n in sorted(
                             stats["errors_by_code"].items()))])
    return out.getvalue()


def write_report(data: dict[str, Any], json_path: str | None, csv_path: str | None) -> None:
    if json_path:
        with open(json_path, "w", encoding="utf-8") as file:
            json.dump(data, file, indent=1)
            file.write("\n")
    if csv_path:
        with open(csv_path, "w", encoding="utf-8", newline="") as file:
            file.write(write_actions_csv(data))

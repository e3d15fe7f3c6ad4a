"""The keys of charging from the solar surplus (``[solar]``) and the rules that join them to the
site meter and the board's phase switch."""

from __future__ import annotations

from typing import Any

from pievse.app.config.key import Key, _show

__all__ = ["SOLAR_CROSS_CHECKS", "SOLAR_KEYS", "SOLAR_MODES"]

SOLAR_MODES = ("fast", "pv", "min+pv")

SOLAR_KEYS: tuple[Key, ...] = (
    Key("solar", "mode", str, "fast",
        'how the cars charge: "fast" (as much as allowed), "pv" (only the solar surplus) or '
        '"min+pv" (at least 6 A, more from the surplus); changed at run time by the local API '
        "and MQTT", choices=SOLAR_MODES),
    Key("solar", "start_delay", float, 60.0,
        "pv: how long the surplus must have been enough before a car starts (and before one "
        "phase goes back to three)", unit="s", minimum=0, maximum=3600),
    Key("solar", "stop_delay", float, 300.0,
        "pv: how long the surplus must have been too little before a car pauses (or three "
        "phases go down to one)", unit="s", minimum=0, maximum=3600),
    Key("solar", "reserve_w", float, 0.0,
        "export left to the grid, not counted as surplus (a house battery, a margin)",
        unit="W", minimum=0, maximum=100_000),
    Key("solar", "phase_switch_interval", float, 300.0,
        "the least time between two switches of the phases ([board] has_phase_switch)",
        unit="s", minimum=60, maximum=86_400),
)


def _solar_rules(sections: dict[str, dict[str, Any]]) -> list[str]:
    solar, board = sections["solar"], sections["board"]
    problems: list[str] = []
    if solar["mode"] != "fast" and sections["site_meter"]["driver"] == "none":
        problems.append(f"[solar] mode = {_show(solar['mode'])}: the surplus is measured by the "
                        'site meter at the grid connection; set [site_meter] (and [site] '
                        'main_fuse), or mode = "fast"')
    if board["has_phase_switch"]:
        if sections["charge_point"]["phases"] != 3:
            problems.append("[board] has_phase_switch = true: switches between one and three "
                            f"phases; [charge_point] phases = {sections['charge_point']['phases']}"
                            " must be 3")
        if board["driver"] == "gpio" and board["kind"] == "retrofit":
            problems.append("[board] has_phase_switch = true: a retrofit board switches no "
                            'phases; must be false with kind = "retrofit"')
        elif board["driver"] == "gpio" and board["phase_switch_pin"] == -1:
            problems.append("[board] phase_switch_pin = -1: has_phase_switch = true needs the "
                            "relay that connects L2 and L3 wired; must be a GPIO 0 to 27")
    return problems


SOLAR_CROSS_CHECKS = [_solar_rules]

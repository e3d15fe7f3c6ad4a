"""Checks the configuration needs from layers it may not import.

Whether a meter model has a register map, whether a retrofit step table parses, whether a
security profile can be built from the files named: the answers live in the drivers and in the
OCPP transport, which the configuration must not import (see ARCHITECTURE.md). The app layer
provides them when it is imported (``pievse/app/__init__.py``). A check that was never provided
is an error, never a silent pass: a config must not look valid because a check went missing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["injected", "provide"]

_provided: dict[str, Callable[..., Any]] = {}

#: The checks the key table asks for, and what each answers.
NAMES = {
    "meter_models": "() -> the names of the shipped Modbus register maps",
    "meter_register_problems": "(table) -> the problems of a [meter.registers] table",
    "retrofit_step_problem": "(text) -> why a retrofit step table is wrong, or None",
    "transport_problems": "(ocpp section, charge point id) -> the problems of the security "
                          "profile's transport",
}


def provide(**checks: Callable[..., Any]) -> None:
    unknown = set(checks) - set(NAMES)
    if unknown:
        raise ValueError(f"no configuration check is called {', '.join(sorted(unknown))}")
    _provided.update(checks)


def injected(name: str) -> Callable[..., Any]:
    try:
        return _provided[name]
    except KeyError:
        raise RuntimeError(f"the configuration check {name!r} ({NAMES[name]}) was not provided; "
                           "the app layer provides it when pievse.app is imported") from None

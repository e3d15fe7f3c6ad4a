"""Modules imported at their first use, not at start.

``cryptography`` alone costs a charge point about 16 MiB of resident memory and 60 ms of its
start (its compiled core is large); a station on security profile 0 or 1 that never handles a
certificate should not pay for it. Modules that use it name it through a :class:`LazyModule`
(and import it for real under ``TYPE_CHECKING``, so that annotations keep their types).
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["LazyModule"]


class LazyModule:
    """Stands for the module ``name``; imports it when one of its attributes is first read."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attribute: str) -> Any:
        value = getattr(importlib.import_module(self._name), attribute)
        setattr(self, attribute, value)  # read once, then a plain attribute
        return value

    def __repr__(self) -> str:
        return f"<lazy module {self._name!r}>"

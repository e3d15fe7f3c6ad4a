"""One configuration key, and how values are shown in the messages that explain a problem.

Kept apart from the tables of keys so that every table (:mod:`pievse.app.config.keys`,
:mod:`pievse.app.config.hardware_keys`) speaks with the same words.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

#: The default of a key that the file must set.
REQUIRED: Any = object()


@dataclass(frozen=True, slots=True)
class Key:
    """One configuration key: where it lives, what it holds, what it allows.

    ``minimum``/``maximum`` bound a number's value, or a string's length. ``choices`` lists every
    allowed value; ``planned`` lists values that a later version will accept, so that they are
    refused with a message saying so rather than as a typo. ``check`` is an extra rule for what a
    range cannot say: it returns what is wrong with the value, or None. A required key has no
    default; ``example`` is the value that ``config.example.toml`` and ``default_config()`` use.
    The value of a ``secret`` key is never repeated in a message.
    """

    section: str
    name: str
    type: type
    default: Any = field(hash=False)  # a table default (a dict) cannot be hashed
    description: str
    unit: str = ""
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[Any, ...] = ()
    planned: tuple[Any, ...] = ()
    check: Callable[[Any], str | None] | None = None
    example: Any = None
    #: A secret (a password): never shown in a message, whatever is wrong with it.
    secret: bool = False

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    @property
    def label(self) -> str:
        return f"[{self.section}] {self.name}"

    def allowed(self) -> str:
        """What the key allows, as the end of a sentence starting with the key and its value."""
        if self.choices:
            return "must be " + _one_of(self.choices)
        unit = f" ({self.unit})" if self.unit else ""
        lo, hi = self.minimum, self.maximum
        if self.type is str:
            if lo is not None and hi is not None:
                return f"must be {_number(lo)} to {_number(hi)} characters long"
            if hi is not None:
                return f"must be at most {_number(hi)} characters long"
            if lo == 1:
                return "must not be empty"
            if lo is not None:
                return f"must be at least {_number(lo)} characters long"
            return "must be a string"
        if lo is not None and hi is not None:
            return f"must be between {_number(lo)} and {_number(hi)}{unit}"
        if lo is not None:
            return f"must be at least {_number(lo)}{unit}"
        if hi is not None:
            return f"must be at most {_number(hi)}{unit}"
        return _TYPE_NAMES[self.type]


_TYPE_NAMES = {
    str: "must be a string",
    int: "must be an integer",
    float: "must be a number",
    bool: "must be true or false",
    dict: "must be a table",
    list: "must be a list",
}

# --- showing values in messages -----------------------------------------------------------------


def _number(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x))


def _one_of(choices: tuple[Any, ...]) -> str:
    shown = [_show(c) for c in choices]
    if len(shown) == 1:
        return shown[0]
    if len(shown) == 2:
        return f"{shown[0]} or {shown[1]}"
    return "one of " + ", ".join(shown[:-1]) + " or " + shown[-1]


def _name(name: str) -> str:
    """A key or section name as TOML writes it: bare if it can be, else in quotes; shortened."""
    return name if re.fullmatch(r"[A-Za-z0-9_-]{1,40}", name) else _show(name, 40)


def _show(value: Any, limit: int = 60) -> str:
    """A value as it would be written in TOML, so the message matches what the user typed."""
    text = _toml(value, limit + 1)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _toml(value: Any, budget: int) -> str:
    """``value`` in TOML, cut short once it is past ``budget`` characters: a file may hold a
    megabyte in one string or arrays hundreds deep, and a message shows a line of it."""
    import json

    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value[: budget + 1], ensure_ascii=False)
    if isinstance(value, int | float):
        try:
            return repr(value)
        except ValueError:  # more digits than Python writes out (a hex literal in the file)
            return f"{value:#x}"[: budget + 1]
    if isinstance(value, list | dict):
        opening, closing = ("[", "]") if isinstance(value, list) else ("{ ", " }")
        text = opening
        for item in value.items() if isinstance(value, dict) else value:
            if len(text) > budget:
                break
            if text != opening:
                text += ", "
            if isinstance(value, dict):
                text += f"{_name(str(item[0]))} = "
                item = item[1]
            text += _toml(item, budget - len(text))
        return text + closing
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return repr(value)

"""Reading the configuration's TOML text, whatever the file holds.

``tomllib`` reads any document a person would write, but a hostile or broken one can make it
fail in ways that are not syntax errors: arrays or inline tables a few hundred deep exhaust
Python's recursion limit (RecursionError), and a decimal integer of more than 4300 digits is
refused by ``int()`` (ValueError). Neither says where. Here both become a problem that names the
key, shows the start of the value and its line, and says what the key allows, like every other
problem of the file.
"""

from __future__ import annotations

import re
import sys
import tomllib
from collections.abc import Iterable
from typing import Any

from pievse.app.config.errors import ConfigError
from pievse.app.config.key import Key, _name, _show

__all__ = ["LARGEST_FILE", "read_toml", "too_large"]

#: The most bytes (or characters) a configuration may have: the example, every key with its
#: comment, is about 10 KiB; a file a hundred times that is no configuration, and reading it is
#: not free.
LARGEST_FILE = 1 << 20

_BARE_OR_QUOTED = r'(?:[A-Za-z0-9_-]+|"[^"]*"|\'[^\']*\')'
_DOTTED = rf"{_BARE_OR_QUOTED}(?:\s*\.\s*{_BARE_OR_QUOTED})*"
_HEADER = re.compile(rf"\s*\[\[?\s*({_DOTTED})\s*\]\]?\s*(?:#.*)?")
_KEY_VALUE = re.compile(rf"\s*({_DOTTED})\s*=\s*(.*)")


def read_toml(text: str, source: str, keys: Iterable[Key]) -> dict[str, Any]:
    """The document in ``text``; ConfigError if it cannot be read, naming where and why."""
    if len(text) > LARGEST_FILE:
        raise ConfigError([too_large(source, "characters")], source)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        # The message ends with "(at line L, column C)".
        raise ConfigError([f"TOML syntax error: {error}"], source) from None
    except (RecursionError, ValueError) as error:
        # tomllib raises a bare ValueError only where int() refuses a number's digits.
        why = ("arrays or inline tables nested too deeply to be read"
               if isinstance(error, RecursionError)
               else f"an integer of more than {sys.get_int_max_str_digits()} digits, too long "
                    "to be read")
        raise ConfigError([_unreadable_value(text, type(error), why, keys)], source) from None
    unusable = _unusable_values(data, keys)
    if unusable:
        raise ConfigError(unusable, source)
    return data


#: How deep tables and arrays may nest below the document: the deepest key, a Modbus register
#: map, goes four levels down ([meter] registers.energy_import.address); eight is ample.
DEEPEST = 8


def _unusable_values(data: dict[str, Any], keys: Iterable[Key]) -> list[str]:
    """Values that no key takes, whatever the key: integers beyond 64 bits, which TOML 1.0
    ("Integer") has a reader refuse and tomllib takes (no float or SQLite column holds them),
    and tables or arrays nested deeper than any key reads (dotted table headers nest without
    limit, and whatever walks the value later may run out of stack)."""
    # What a key of one value allows; what is inside a table key has rules of its own.
    allowed = {(key.section, key.name): key.allowed() for key in keys if key.type is not dict}
    problems = []
    # Each value with its path and the whole value of the key (section, name) it is part of.
    stack: list[tuple[list[str | int], Any, Any]] = [([], data, None)]
    while stack and len(problems) < 10:
        path, value, whole = stack.pop()
        if len(path) == 2:
            whole = value
        rule = allowed.get((str(path[0]), str(path[1]))) if len(path) >= 2 else None
        if isinstance(value, dict | list):
            if len(path) >= DEEPEST:
                # Named by its key, once: the path down to here says nothing more.
                if any(p.startswith(f"{_label(path[:2])} = ") for p in problems):
                    continue
                problems.append(f"{_label(path[:2])} = {_show(whole)}: tables or arrays nested "
                                f"more than {DEEPEST} deep, deeper than any key"
                                + (f"; {rule}" if rule else ""))
                continue
            items = value.items() if isinstance(value, dict) else enumerate(value)
            stack += [([*path, name], item, whole) for name, item in reversed(list(items))]
        elif (isinstance(value, int) and not isinstance(value, bool)
              and not -(2**63) <= value < 2**63):
            problems.append(f"{_label(path)} = {_show(value)}: beyond the 64-bit integers TOML "
                            "allows" + (f"; {rule}" if rule else ""))
    return problems


def too_large(source: str, unit: str) -> str:
    return (f"{source}: more than {LARGEST_FILE:,} {unit}, far more than any configuration "
            "holds: is it the right file?")


def _unreadable_value(text: str, failure: type[BaseException], why: str,
                      keys: Iterable[Key]) -> str:
    lines = re.split(r"(?<=\n)", text)
    number = _failing_line(lines, failure)
    path, raw = _key_before(lines[:number])
    if not path:
        return f"line {number}: {why}"
    key = next((k for k in keys if [k.section, k.name] == path[:2]), None)
    label = _label(path[:2])
    shown = "(hidden)" if key is not None and key.secret else _shortened(raw)
    allowed = f"; {key.allowed()}" if key is not None else ""
    return f"{label} = {shown} (line {number}): {why}{allowed}"


def _failing_line(lines: list[str], failure: type[BaseException]) -> int:
    """The line (from 1) where reading fails with ``failure``: reading a prefix of the file
    reads its lines exactly as reading the whole file does, so the shortest prefix that fails
    the same way ends with that line."""
    def fails(count: int) -> bool:
        try:
            tomllib.loads("".join(lines[:count]))
        except tomllib.TOMLDecodeError:  # cut short before the failure: "unterminated array"
            return False
        except failure:
            return True
        return False

    low, high = 1, len(lines)
    while low < high:
        middle = (low + high) // 2
        if fails(middle):
            high = middle
        else:
            low = middle + 1
    return low


def _key_before(lines: list[str]) -> tuple[list[str], str]:
    """The key (table path and key path) of the last ``key = value`` line in ``lines``, and
    the text of its value as written."""
    table: list[str] = []
    path: list[str] = []
    raw = ""
    for line in lines:
        if header := _HEADER.fullmatch(line.rstrip("\r\n")):
            table = _parts(header.group(1))
        elif key_value := _KEY_VALUE.match(line):
            path, raw = table + _parts(key_value.group(1)), key_value.group(2).rstrip()
    return path, raw


def _label(path: list[str | int]) -> str:
    """``[section] key.subkey[2]``, as the other problems name a key (ints index arrays)."""
    parts = [f"[{part}]" if isinstance(part, int) else "." + _name(part) for part in path]
    if len(parts) == 1:
        return parts[0][1:]
    return f"[{parts[0][1:]}] " + _shortened("".join(parts[1:])[1:], 60)


def _shortened(raw: str, limit: int = 40) -> str:
    return raw if len(raw) <= limit else raw[: limit - 3] + "..."


def _parts(dotted: str) -> list[str]:
    return [part.strip().strip("\"'") for part in re.findall(_BARE_OR_QUOTED, dotted)]

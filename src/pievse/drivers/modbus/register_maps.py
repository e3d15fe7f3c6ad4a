"""Register maps: where a Modbus energy meter keeps each value, and how it encodes it.

A Modbus meter is a table of 16-bit registers. Each value the station needs (the import energy,
the power, the current and voltage of each phase, the frequency) sits at a fixed *address* in one
of two tables, and spans one to four registers:

* **input registers** (read with function 0x04) or **holding registers** (function 0x03): the
  meter's manual says which; reading the wrong table gives an exception or other numbers;
* the **address** is the 0-based number sent on the wire. Manuals often print the 1-based
  *register number* instead (30001 for input address 0, 40001 for holding address 0): a map may
  give ``number = 30073`` and the 30001/40001 base is taken off, which is where off-by-one
  mistakes are usually made;
* the **type**: ``float32`` (IEEE 754), or an integer ``int16``/``uint16``/``int32``/``uint32``/
  ``int64``/``uint64`` multiplied by a **scale** (an energy counted in 0.01 kWh has
  ``scale = 10`` to give Wh);
* the **word order** of a multi-register value: ``big`` puts the most significant register first
  (Eastron, ABB, Orno), ``little`` the least significant first (Carlo Gavazzi).

One map per meter model ships in ``maps/<model>.toml`` beside this module; any other meter
is described in the same shape in the configuration (``[meter.registers]``) without writing code::

    model = "My meter"
    register = "holding"          # defaults for every value below
    type = "int32"
    word_order = "little"
    energy_import = { address = 0x0034, scale = 100 }   # 0.1 kWh -> Wh
    power = { address = 0x0028, scale = 0.1 }            # 0.1 W -> W

``register_map_from_dict()`` checks such a table and says, for each problem, the key, the value
found and what is allowed. Nothing here does I/O except reading the shipped files, and nothing
heavier than the standard library is imported, so the configuration can check a map cheaply.
"""

from __future__ import annotations

import difflib
import math
import struct
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

from pievse.drivers.contracts import MeterReading

__all__ = [
    "QUANTITIES",
    "Field",
    "ReadRequest",
    "RegisterMap",
    "RegisterMapError",
    "available_models",
    "load_register_map",
    "register_map_from_dict",
]

#: The values a map can locate, with the unit the driver reports them in.
QUANTITIES: dict[str, str] = {
    "energy_import": "Wh",
    "power": "W",
    "current_l1": "A",
    "current_l2": "A",
    "current_l3": "A",
    "voltage_l1": "V",
    "voltage_l2": "V",
    "voltage_l3": "V",
    "frequency": "Hz",
}

#: Register types: how many 16-bit registers each spans and its ``struct`` code (big-endian).
TYPES: dict[str, tuple[int, str]] = {
    "int16": (1, "h"),
    "uint16": (1, "H"),
    "int32": (2, "i"),
    "uint32": (2, "I"),
    "int64": (4, "q"),
    "uint64": (4, "Q"),
    "float32": (2, "f"),
    "float64": (4, "d"),
}

REGISTER_KINDS = ("input", "holding")
WORD_ORDERS = ("big", "little")

#: The Modbus limit of one "read registers" request (the PDU holds at most 125 registers).
MODBUS_MAX_REGISTERS = 125

#: Defaults of the map-wide keys.
_DEFAULTS: dict[str, Any] = {
    "model": "custom",
    "register": "holding",
    "type": "float32",
    "word_order": "big",
    "scale": 1.0,
    "max_registers": MODBUS_MAX_REGISTERS,
    "gap": 0,
}
_MAP_KEYS = tuple(_DEFAULTS) + ("description",)
_FIELD_KEYS = ("address", "number", "register", "type", "word_order", "scale")

_PACKAGE = "pievse.drivers.modbus"
_MAPS_DIR = "maps"


class RegisterMapError(ValueError):
    """A register map cannot be used. ``problems`` lists every problem, one line each, naming the
    key, the value found and what is allowed."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


@dataclass(frozen=True, slots=True)
class Field:
    """Where one quantity sits in the meter, and how to turn its registers into a number."""

    quantity: str
    register: str  # "input" or "holding"
    address: int  # 0-based, as sent on the wire
    type: str
    word_order: str
    scale: float

    @property
    def count(self) -> int:
        """How many 16-bit registers the value spans."""
        return TYPES[self.type][0]

    @property
    def end(self) -> int:
        """The address just past the value."""
        return self.address + self.count

    def decode(self, words: Sequence[int]) -> float:
        """The value in the quantity's unit, from exactly ``count`` registers as read."""
        if len(words) != self.count:
            raise ValueError(f"{self.quantity} spans {self.count} registers, not {len(words)}")
        ordered = list(words) if self.word_order == "big" else list(reversed(words))
        raw = struct.unpack(">" + TYPES[self.type][1], struct.pack(f">{self.count}H", *ordered))[0]
        return raw * self.scale

    def describe(self) -> str:
        return f"{self.register} register 0x{self.address:04X} ({self.type})"


@dataclass(frozen=True, slots=True)
class ReadRequest:
    """One Modbus request: ``count`` registers from ``address`` in one table."""

    register: str
    address: int
    count: int

    @property
    def end(self) -> int:
        return self.address + self.count

    def describe(self) -> str:
        return f"{self.register} registers 0x{self.address:04X}..0x{self.end - 1:04X}"


@dataclass(frozen=True, slots=True)
class RegisterMap:
    """A meter model's map: its fields and how its reads may be grouped.

    ``max_registers`` is the most registers the meter answers in one request (Eastron meters stop
    at 80, the protocol at 125); ``gap`` is the largest run of registers the station may read
    through, and throw away, to join two values into one request. Only where the manual documents
    every register in between is that safe: some meters answer a read touching a reserved
    register with an exception, so 0 (join only adjacent values) is the default.
    """

    model: str
    fields: tuple[Field, ...]
    max_registers: int = MODBUS_MAX_REGISTERS
    gap: int = 0
    description: str = ""

    def field(self, quantity: str) -> Field | None:
        for f in self.fields:
            if f.quantity == quantity:
                return f
        return None

    @property
    def phases(self) -> int:
        """How many phases the map reports currents for (voltages for a map without currents)."""
        currents = sum(1 for f in self.fields if f.quantity.startswith("current_"))
        return currents or sum(1 for f in self.fields if f.quantity.startswith("voltage_"))

    def requests(self) -> tuple[ReadRequest, ...]:
        """The fewest requests that read every field, within ``max_registers`` and ``gap``."""
        planned: list[ReadRequest] = []
        for kind in REGISTER_KINDS:
            start = end = -1
            for f in sorted((f for f in self.fields if f.register == kind),
                            key=lambda f: f.address):
                joined_end = max(end, f.end)
                if start >= 0 and f.address - end <= self.gap \
                        and joined_end - start <= self.max_registers:
                    end = joined_end
                    continue
                if start >= 0:
                    planned.append(ReadRequest(kind, start, end - start))
                start, end = f.address, f.end
            if start >= 0:
                planned.append(ReadRequest(kind, start, end - start))
        return tuple(planned)

    def decode(self, answers: Mapping[ReadRequest, Sequence[int]]) -> dict[str, float]:
        """Every field's value from the answers to ``requests()``."""
        values: dict[str, float] = {}
        for f in self.fields:
            for request, words in answers.items():
                if request.register == f.register and request.address <= f.address \
                        and f.end <= request.end:
                    offset = f.address - request.address
                    values[f.quantity] = f.decode(words[offset:offset + f.count])
                    break
            else:
                raise ValueError(f"no request covers {f.quantity} at {f.describe()}")
        return values

    def reading(self, values: Mapping[str, float], timestamp: float) -> MeterReading:
        """A ``MeterReading`` from decoded values. A value the meter marks as not available
        (NaN or infinite) is left out; an energy that is not a number raises ValueError."""
        energy = values["energy_import"]
        if not math.isfinite(energy):
            raise ValueError(f"the meter reports energy {energy!r}, not a number of Wh")

        def available(name: str) -> float | None:
            value = values.get(name)
            return value if value is not None and math.isfinite(value) else None

        def per_phase(prefix: str) -> tuple[float, ...]:
            phases = [available(f"{prefix}_l{n}") for n in (1, 2, 3)
                      if f"{prefix}_l{n}" in values]
            # A phase that is not available makes the set meaningless: report none.
            return () if None in phases else tuple(p for p in phases if p is not None)

        return MeterReading(
            energy_import_wh=energy,
            timestamp=timestamp,
            power_w=available("power"),
            current_a=per_phase("current"),
            voltage_v=per_phase("voltage"),
            frequency_hz=available("frequency"),
        )


# --- building a map from a table -------------------------------------------------------------


def register_map_from_dict(table: Mapping[str, Any], source: str = "[meter.registers]",
                           ) -> RegisterMap:
    """Build and check a map from a parsed TOML table (a shipped file or ``[meter.registers]``).

    ``source`` starts every problem line, so that it reads like the configuration's own errors::

        [meter.registers] energy_import.type = "float": must be one of "int16", ...

    Raises ``RegisterMapError`` (a ValueError) listing every problem found.
    """
    problems: list[str] = []

    def problem(key: str, value: Any, allowed: str) -> None:
        problems.append(f"{source} {key} = {_toml(value)}: {allowed}")

    if not isinstance(table, Mapping):
        raise RegisterMapError([f"{source} must be a table of register locations, "
                                f"not {_toml(table)}"])
    for key in table:
        if key not in _MAP_KEYS and key not in QUANTITIES:
            near = difflib.get_close_matches(str(key), [*_MAP_KEYS, *QUANTITIES], n=1,
                                            cutoff=0.5)
            hint = f'; did you mean "{near[0]}"?' if near else (
                "; allowed keys: " + ", ".join((*_MAP_KEYS, *QUANTITIES)))
            problems.append(f"{source} {key}: unknown key{hint}")

    defaults = {key: table.get(key, default) for key, default in _DEFAULTS.items()}
    _check_common(defaults, "", problem)
    model, description = defaults["model"], table.get("description", "")
    if not isinstance(model, str) or not model.strip():
        problem("model", model, "must be a name such as \"SDM630\"")
    if not isinstance(description, str):
        problem("description", description, "must be a string")
    max_registers, gap = defaults["max_registers"], defaults["gap"]
    if not _is_int(max_registers) or not 1 <= max_registers <= MODBUS_MAX_REGISTERS:
        problem("max_registers", max_registers,
                f"must be a whole number from 1 to {MODBUS_MAX_REGISTERS}")
    if not _is_int(gap) or not 0 <= gap <= MODBUS_MAX_REGISTERS:
        problem("gap", gap, f"must be a whole number from 0 to {MODBUS_MAX_REGISTERS}")

    fields: list[Field] = []
    for quantity in QUANTITIES:
        if quantity not in table:
            continue
        spec = table[quantity]
        if not isinstance(spec, Mapping):
            problem(quantity, spec, "must be a table such as { address = 0x0048 }")
            continue
        f = _field(quantity, spec, defaults, problem, problems, source)
        if f is not None:
            fields.append(f)

    if "energy_import" not in table:
        problems.append(f"{source} energy_import: missing; the import energy register is "
                        "required, e.g. energy_import = { address = 0x0048, scale = 1000 }")
    for prefix in ("current", "voltage"):
        present = [n for n in (1, 2, 3) if f"{prefix}_l{n}" in table]
        if present and present != list(range(1, len(present) + 1)):
            missing = next(n for n in (1, 2, 3) if n not in present)
            problems.append(f"{source} {prefix}_l{missing}: missing; phases are given from L1 "
                            f"on (found {', '.join(f'{prefix}_l{n}' for n in present)})")
    for i, a in enumerate(fields):
        for b in fields[i + 1:]:
            if a.register == b.register and a.address < b.end and b.address < a.end:
                problems.append(f"{source} {b.quantity}.address = {_toml(b.address)}: overlaps "
                                f"{a.quantity} at {a.describe()}")
    if fields and _is_int(max_registers):
        for f in fields:
            if f.count > max_registers:
                problem("max_registers", max_registers,
                        f"must be at least {f.count}, the registers {f.quantity} spans")
    if problems:
        raise RegisterMapError(problems)
    return RegisterMap(model=model.strip(), fields=tuple(fields), max_registers=max_registers,
                       gap=gap, description=description)


def _field(quantity: str, spec: Mapping[str, Any], defaults: Mapping[str, Any], problem,
           problems: list[str], source: str) -> Field | None:
    before = len(problems)
    for key in spec:
        if key not in _FIELD_KEYS:
            near = difflib.get_close_matches(str(key), _FIELD_KEYS, n=1)
            hint = f'did you mean "{near[0]}"?' if near else "allowed: " + ", ".join(_FIELD_KEYS)
            problems.append(f"{source} {quantity}.{key}: unknown key; {hint}")
    merged = {key: spec.get(key, defaults[key]) for key in ("register", "type", "word_order",
                                                            "scale")}
    _check_common({k: spec[k] for k in merged if k in spec}, f"{quantity}.", problem)
    kind = merged["register"]
    if "address" in spec and "number" in spec:
        problems.append(f"{source} {quantity}: give address (0-based, as sent) or number "
                        "(30001/40001-based, as printed in manuals), not both")
        return None
    if "address" in spec:
        address = spec["address"]
        if not _is_int(address) or not 0 <= address <= 0xFFFF:
            problem(f"{quantity}.address", address,
                    "must be a whole number from 0 to 65535 (0x0000 to 0xFFFF)")
            return None
    elif "number" in spec:
        number = spec["number"]
        located = _from_register_number(number) if _is_int(number) else None
        if located is None:
            problem(f"{quantity}.number", number,
                    "must be a register number as manuals print it: 30001-39999 or "
                    "300001-365536 (input), 40001-49999 or 400001-465536 (holding)")
            return None
        number_kind, address = located
        if "register" in spec and spec["register"] != number_kind:
            problem(f"{quantity}.register", spec["register"],
                    f"must be \"{number_kind}\" (or left out) with number = {number}")
            return None
        kind = number_kind
    else:
        problems.append(f"{source} {quantity}: missing address; "
                        f"e.g. {quantity} = {{ address = 0x0048 }}")
        return None
    if len(problems) > before or kind not in REGISTER_KINDS or merged["type"] not in TYPES \
            or merged["word_order"] not in WORD_ORDERS or not _is_scale(merged["scale"]):
        return None  # the problem is reported already (here or in the map-wide defaults)
    count = TYPES[merged["type"]][0]
    if address + count > 0x10000:
        problem(f"{quantity}.address", address,
                f"a {merged['type']} there runs past the last register (0xFFFF)")
        return None
    return Field(quantity, kind, address, merged["type"], merged["word_order"],
                 float(merged["scale"]))


def _check_common(values: Mapping[str, Any], prefix: str, problem) -> None:
    """Check the keys that a map sets as defaults and a field may override."""
    if "register" in values and values["register"] not in REGISTER_KINDS:
        problem(prefix + "register", values["register"], "must be " + _one_of(REGISTER_KINDS))
    if "type" in values and values["type"] not in TYPES:
        problem(prefix + "type", values["type"], "must be " + _one_of(tuple(TYPES)))
    if "word_order" in values and values["word_order"] not in WORD_ORDERS:
        problem(prefix + "word_order", values["word_order"],
                "must be " + _one_of(WORD_ORDERS)
                + " (big: most significant register first)")
    if "scale" in values and not _is_scale(values["scale"]):
        problem(prefix + "scale", values["scale"],
                "must be a number other than 0 (the unit of one count, e.g. 1000 for kWh to Wh)")


def _from_register_number(number: int) -> tuple[str, int] | None:
    """(register kind, 0-based address) for a 1-based register number as manuals print it."""
    for kind, five, six in (("input", 30001, 300001), ("holding", 40001, 400001)):
        if six <= number <= six + 0xFFFF:
            return kind, number - six
        if five <= number <= five + 9998:
            return kind, number - five
    return None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_scale(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) \
        and math.isfinite(value) and value != 0


def _one_of(choices: tuple[str, ...]) -> str:
    quoted = [f'"{c}"' for c in choices]
    return "one of " + ", ".join(quoted) if len(quoted) > 2 else " or ".join(quoted)


def _toml(value: Any) -> str:
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value} (0x{value:04X})" if value > 9 else str(value)
    return repr(value)


# --- the shipped maps --------------------------------------------------------------------------


def available_models() -> tuple[str, ...]:
    """The models with a map shipped in the package, sorted: the values ``model`` accepts."""
    folder = resources.files(_PACKAGE).joinpath(_MAPS_DIR)
    return tuple(sorted(p.name.removesuffix(".toml") for p in folder.iterdir()
                        if p.name.endswith(".toml")))


def load_register_map(model: str) -> RegisterMap:
    """The shipped map of ``model`` (one of ``available_models()``).

    An unknown model raises ``RegisterMapError`` naming the models there are.
    """
    models = available_models()
    if model not in models:
        near = difflib.get_close_matches(str(model), models, n=1)
        hint = f'did you mean "{near[0]}"? ' if near else ""
        raise RegisterMapError([
            f"[meter] model = {_toml(model)}: no register map shipped for it; {hint}"
            f"must be {_one_of(models)}, or describe the meter in [meter.registers]"])
    path = resources.files(_PACKAGE).joinpath(_MAPS_DIR, f"{model}.toml")
    table = tomllib.loads(path.read_text(encoding="utf-8"))
    return register_map_from_dict(table, source=f"maps/{model}.toml")

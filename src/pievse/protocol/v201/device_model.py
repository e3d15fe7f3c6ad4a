"""The OCPP 2.0.1 device model: components, their variables, and the Actual value of each.

Each variable is declared once, by the functional block that owns it
(:mod:`pievse.protocol.v201.blocks`), with its data type, mutability, unit, limits, whether it
persists, and, where it steers behaviour, the station setting it feeds. A variable that means
what a 1.6 configuration key means is kept under that key's name (``key``): the daemon stores
the CSMS's changes by that name, so a value changed under one version holds under the other,
and both feed the same :class:`~pievse.core.settings.StationSettings` field.

Only the Actual attribute is kept (targets, limits as attributes and monitoring are not):
GetVariables and SetVariables of another attribute type answer NotSupportedAttributeType. A
variable is writable only if something acts on its value; one that describes the station is
read-only and says the truth.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

__all__ = ["DataType", "DeviceModel", "Mutability", "SetResult", "Variable", "member_list"]


class DataType(enum.Enum):
    STRING = "string"
    DECIMAL = "decimal"
    INTEGER = "integer"
    DATE_TIME = "dateTime"
    BOOLEAN = "boolean"
    OPTION_LIST = "OptionList"
    SEQUENCE_LIST = "SequenceList"
    MEMBER_LIST = "MemberList"


class Mutability(enum.Enum):
    READ_ONLY = "ReadOnly"
    WRITE_ONLY = "WriteOnly"
    READ_WRITE = "ReadWrite"


class SetResult(enum.Enum):
    ACCEPTED = "Accepted"
    REJECTED = "Rejected"
    UNKNOWN_COMPONENT = "UnknownComponent"
    UNKNOWN_VARIABLE = "UnknownVariable"
    NOT_SUPPORTED_ATTRIBUTE_TYPE = "NotSupportedAttributeType"
    REBOOT_REQUIRED = "RebootRequired"


#: The attribute type a request means when it names none.
ACTUAL = "Actual"
#: The longest value an attribute of the device model may have (attributeValue's maxLength).
MAX_VALUE_LENGTH = 2500


@dataclass(frozen=True, slots=True)
class Variable:
    component: str
    name: str
    data_type: DataType
    default: Any
    mutability: Mutability = Mutability.READ_WRITE
    instance: str | None = None
    #: The EVSE (and connector) of the component, for the components that have one.
    evse: int | None = None
    connector: int | None = None
    component_instance: str | None = None
    unit: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    #: OptionList: the value is one of these; MemberList: a subset of them.
    values_list: tuple[str, ...] | None = None
    #: The value survives a restart (the daemon keeps the CSMS's changes).
    persistent: bool = True
    #: Takes effect only after a restart: SetVariables answers RebootRequired.
    reboot_required: bool = False
    #: The name it is kept under: the 1.6 configuration key of the same meaning, if there is one.
    key: str | None = None
    #: Station setting fed by this variable, and how its value becomes the setting's value.
    setting: str | None = None
    to_setting: Callable[[Any], Any] | None = None
    #: Where the value lives when it is not kept here.
    read: Callable[[], Any] | None = None
    #: Carries out a change in place of keeping the value here (a secret, say): the result and
    #: why.
    write: Callable[[Any], tuple[SetResult, str]] | None = None
    #: Runs once the answer to a SetVariables of this variable has gone out.
    answered: Callable[[], None] | None = None
    #: Why a value (of the right type and limits) cannot be taken now, or None: a rule that
    #: depends on the station's state.
    check: Callable[[Any], str | None] | None = None

    @property
    def stored_name(self) -> str:
        """The name the value is kept under across restarts and versions."""
        if self.key is not None:
            return self.key
        parts = [self.component, *(() if self.evse is None else (f"evse{self.evse}",)),
                 self.name, *(() if self.instance is None else (self.instance,))]
        return ".".join(parts)

    @property
    def readonly(self) -> bool:
        return self.mutability is Mutability.READ_ONLY

    def address(self) -> tuple[str, int | None, int | None, str | None, str, str | None]:
        return (self.component, self.evse, self.connector, self.component_instance,
                self.name, self.instance)

    def component_json(self) -> dict[str, Any]:
        shown: dict[str, Any] = {"name": self.component}
        if self.component_instance is not None:
            shown["instance"] = self.component_instance
        if self.evse is not None:
            shown["evse"] = {"id": self.evse, **({"connectorId": self.connector}
                                                 if self.connector is not None else {})}
        return shown

    def variable_json(self) -> dict[str, Any]:
        return {"name": self.name, **({"instance": self.instance}
                                      if self.instance is not None else {})}

    def characteristics(self) -> dict[str, Any]:
        shown: dict[str, Any] = {"dataType": self.data_type.value,
                                 "supportsMonitoring": False}
        if self.unit is not None:
            shown["unit"] = self.unit
        if self.minimum is not None:
            shown["minLimit"] = self.minimum
        if self.maximum is not None:
            shown["maxLimit"] = self.maximum
        if self.values_list is not None:
            shown["valuesList"] = ",".join(self.values_list)
        return shown


def member_list(items: Iterable[str]) -> str:
    return ",".join(items)


def parse(variable: Variable, text: str) -> Any:
    """The typed value of ``text`` for ``variable``; ValueError says why it is not valid."""
    kind = variable.data_type
    if kind is DataType.BOOLEAN:
        lowered = text.strip().lower()
        if lowered not in ("true", "false"):
            raise ValueError("expected true or false")
        return lowered == "true"
    if kind in (DataType.INTEGER, DataType.DECIMAL):
        try:
            value: float = int(text.strip()) if kind is DataType.INTEGER else float(text)
        except ValueError:
            raise ValueError(f"expected an {kind.value}") from None
        if not math.isfinite(value):
            raise ValueError("expected a finite number")
        if variable.minimum is not None and value < variable.minimum:
            raise ValueError(f"below the minimum {variable.minimum:g}")
        if variable.maximum is not None and value > variable.maximum:
            raise ValueError(f"above the maximum {variable.maximum:g}")
        return value
    if kind is DataType.OPTION_LIST:
        if variable.values_list is not None and text not in variable.values_list:
            raise ValueError(f"not one of {', '.join(variable.values_list)}")
        return text
    if kind in (DataType.MEMBER_LIST, DataType.SEQUENCE_LIST):
        items = [item.strip() for item in text.split(",") if item.strip()]
        if variable.values_list is not None:
            unknown = [item for item in items if item not in variable.values_list]
            if unknown:
                raise ValueError(f"unsupported: {', '.join(unknown)}")
        return ",".join(items)
    return text


def render(variable: Variable, value: Any) -> str:
    if variable.data_type is DataType.BOOLEAN:
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class DeviceModel:
    """The variables of the charge point and their values; who wants to hear of a change.

    It is also what the daemon sees as the adapter's configuration keys (by ``stored_name``):
    values from the store and the config file are set through :meth:`set_initial`, and the
    station's settings are built from :meth:`station_settings`.
    """

    def __init__(self) -> None:
        self._variables: dict[tuple, Variable] = {}
        self._by_name: dict[str, Variable] = {}
        self._components: set[tuple[str, int | None, int | None, str | None]] = set()
        self._values: dict[str, Any] = {}
        self._listeners: list[Callable[[str, Any], None]] = []

    def declare(self, variables: Iterable[Variable]) -> None:
        """Add variables at their defaults. A variable has one owner: declaring one twice is a
        mistake, refused."""
        for v in variables:
            if v.address() in self._variables or v.stored_name in self._by_name:
                raise ValueError(f"variable {v.stored_name} declared twice")
            self._variables[v.address()] = v
            self._by_name[v.stored_name] = v
            self._components.add(v.address()[:4])
            self._values[v.stored_name] = v.default

    def __iter__(self) -> Iterator[Variable]:
        return iter(self._variables.values())

    # --- the daemon's view: configuration keys by stored name ----------------------------------

    def __contains__(self, name: str) -> bool:
        return name in self._by_name

    def definition(self, name: str) -> Variable:
        return self._by_name[name]

    def set_initial(self, name: str, value: Any) -> None:
        """Set a value from the config file or the store, without the CSMS's rules."""
        self._values[name] = value

    def on_change(self, listener: Callable[[str, Any], None]) -> None:
        self._listeners.append(listener)

    def station_settings(self) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for v in self._by_name.values():
            if v.setting is not None:
                value = self.value(v)
                result[v.setting] = v.to_setting(value) if v.to_setting else value
        return result

    def __getitem__(self, name: str) -> Any:
        return self.value(self._by_name[name])

    def value(self, variable: Variable) -> Any:
        return variable.read() if variable.read is not None else self._values[
            variable.stored_name]

    # --- GetVariables / SetVariables ------------------------------------------------------------

    def find(self, component: dict[str, Any], variable: dict[str, Any]
             ) -> tuple[Variable | None, SetResult | None]:
        """The variable a request names (component and variable as the RPC layer gives them),
        or why there is none: UnknownComponent or UnknownVariable."""
        evse = component.get("evse") or {}
        where = (component["name"], evse.get("id"),
                 evse.get("connector_id", evse.get("connectorId")), component.get("instance"))
        if where not in self._components:
            return None, SetResult.UNKNOWN_COMPONENT
        found = self._variables.get((*where, variable["name"], variable.get("instance")))
        if found is None:
            return None, SetResult.UNKNOWN_VARIABLE
        return found, None

    def get(self, component: dict[str, Any], variable: dict[str, Any],
            attribute_type: str | None) -> tuple[str, str | None]:
        """GetVariables for one variable: (attributeStatus, attributeValue)."""
        found, unknown = self.find(component, variable)
        if found is None:
            assert unknown is not None
            return unknown.value, None
        if (attribute_type or ACTUAL) != ACTUAL:
            return SetResult.NOT_SUPPORTED_ATTRIBUTE_TYPE.value, None
        if found.mutability is Mutability.WRITE_ONLY:
            return SetResult.REJECTED.value, None
        return SetResult.ACCEPTED.value, render(found, self.value(found))[:MAX_VALUE_LENGTH]

    def set(self, component: dict[str, Any], variable: dict[str, Any],
            attribute_type: str | None, text: str) -> tuple[SetResult, str]:
        """SetVariables for one variable: the attributeStatus, and why (for the log)."""
        found, unknown = self.find(component, variable)
        if found is None:
            assert unknown is not None
            return unknown, "not in the device model"
        if (attribute_type or ACTUAL) != ACTUAL:
            return SetResult.NOT_SUPPORTED_ATTRIBUTE_TYPE, "only Actual values are kept"
        if found.readonly or found.read is not None:
            return SetResult.REJECTED, "read-only"
        try:
            value = parse(found, text)
        except ValueError as error:
            return SetResult.REJECTED, f"invalid {found.data_type.value}: {error}"
        refused = found.check(value) if found.check is not None else None
        if refused:
            return SetResult.REJECTED, refused
        if found.write is not None:
            return found.write(value)
        self._values[found.stored_name] = value
        for listener in self._listeners:
            listener(found.stored_name, value)
        if found.reboot_required:
            return SetResult.REBOOT_REQUIRED, "takes effect after a restart"
        return SetResult.ACCEPTED, "changed"

    def answered(self, component: dict[str, Any], variable: dict[str, Any]) -> None:
        """The answer to a SetVariables of this variable has gone out."""
        found, _ = self.find(component, variable)
        if found is not None and found.answered is not None:
            found.answered()

    def shown(self, component: dict[str, Any], variable: dict[str, Any], text: str) -> str:
        """``text`` as a value of that variable may be shown in a log line."""
        found, _ = self.find(component, variable)
        secret = found is not None and found.mutability is Mutability.WRITE_ONLY
        return "[not shown]" if secret else repr(text)

    # --- reports ---------------------------------------------------------------------------------

    def report_data(self, variable: Variable, *, values: bool = True) -> dict[str, Any]:
        """ReportDataType of one variable (``values``: with its Actual attribute's value)."""
        attribute: dict[str, Any] = {"type": ACTUAL, "mutability": variable.mutability.value,
                                     "persistent": variable.persistent, "constant":
                                     variable.readonly and variable.read is None}
        if values and variable.mutability is not Mutability.WRITE_ONLY:
            attribute["value"] = render(variable, self.value(variable))[:MAX_VALUE_LENGTH]
        return {"component": variable.component_json(), "variable": variable.variable_json(),
                "variableAttribute": [attribute],
                "variableCharacteristics": variable.characteristics()}

"""Figures for OCPP 1.6 and 2.0.1 schema validation. Run on demand; prints, asserts nothing.

    .venv/bin/python benchmarks/bench_validation.py [--quick] [--ocpp 1.6|2.0.1]

Compares, in µs per validated payload:

- the ``ocpp`` package: ``ocpp.messages._validate_payload`` (pure-Python ``jsonschema``, run
  inline: the best case; by default the package also hops to a thread pool per message, which is
  measured too as "ocpp async");
- ours: ``pievse.protocol.common.schemas.SchemaValidator`` (the same schema files compiled by
fastjsonschema),
  plus the one-off cost of compiling a schema the first time its action is seen.

Payloads: 1.6 a MeterValues with 5 sampled values, and a SetChargingProfile with 24 hourly
periods; 2.0.1 a TransactionEvent Updated with the same 5 values, the same SetChargingProfile in
2.0.1's words, a NotifyReport of 50 variables (the most one carries here) and a SetVariables of
10.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import platform
import sys
import time
import timeit
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from ocpp import messages  # noqa: E402

from pievse.protocol.common.schemas import SchemaValidator  # noqa: E402


def meter_values() -> dict[str, Any]:
    sampled = [
        {"value": "12345.6", "context": "Sample.Periodic",
         "measurand": "Energy.Active.Import.Register", "unit": "Wh", "location": "Outlet"},
        {"value": "7360", "measurand": "Power.Active.Import", "unit": "W"},
        {"value": "31.9", "measurand": "Current.Import", "phase": "L1", "unit": "A"},
        {"value": "230.4", "measurand": "Voltage", "phase": "L1-N", "unit": "V"},
        {"value": "50.01", "measurand": "Frequency"},
    ]
    return {
        "connectorId": 1,
        "transactionId": 4711,
        "meterValue": [{"timestamp": "2024-05-01T12:00:00.000Z", "sampledValue": sampled}],
    }


def set_charging_profile() -> dict[str, Any]:
    # Rounded: the package refuses a computed 29.400000000000002 (see
    # pievse.protocol.common.schemas).
    periods = [{"startPeriod": hour * 3600, "limit": round(6.0 + (hour % 10) * 2.6, 1),
                "numberPhases": 3}
               for hour in range(24)]
    return {
        "connectorId": 1,
        "csChargingProfiles": {
            "chargingProfileId": 12,
            "stackLevel": 1,
            "chargingProfilePurpose": "TxDefaultProfile",
            "chargingProfileKind": "Recurring",
            "recurrencyKind": "Daily",
            "chargingSchedule": {
                "duration": 86400,
                "startSchedule": "2024-05-01T00:00:00Z",
                "chargingRateUnit": "A",
                "chargingSchedulePeriod": periods,
                "minChargingRate": 6.0,
            },
        },
    }


def transaction_event() -> dict[str, Any]:
    sampled = [{"value": value, "measurand": measurand, "context": "Sample.Periodic",
                "location": "Outlet", "unitOfMeasure": {"unit": unit}, **extra}
               for value, measurand, unit, extra in (
                   (12345.6, "Energy.Active.Import.Register", "Wh", {}),
                   (7360, "Power.Active.Import", "W", {}),
                   (31.9, "Current.Import", "A", {"phase": "L1"}),
                   (230.4, "Voltage", "V", {"phase": "L1-N"}),
                   (50.01, "Frequency", "Hz", {}))]
    return {"eventType": "Updated", "timestamp": "2024-05-01T12:00:00.000Z",
            "triggerReason": "MeterValuePeriodic", "seqNo": 7,
            "transactionInfo": {"transactionId": "5f0c8e0e-6a7e-4c55-9d3a-0f3c2b1a9e77"},
            "meterValue": [{"timestamp": "2024-05-01T12:00:00.000Z", "sampledValue": sampled}]}


def set_charging_profile_201() -> dict[str, Any]:
    """The 1.6 profile above, said in 2.0.1."""
    profile = set_charging_profile()["csChargingProfiles"]
    schedule = dict(profile["chargingSchedule"], id=12)
    return {"evseId": 1, "chargingProfile": {
        "id": 12, "stackLevel": 1, "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Recurring", "recurrencyKind": "Daily",
        "chargingSchedule": [schedule]}}


def notify_report() -> dict[str, Any]:
    entry = {"component": {"name": "EVSE", "evse": {"id": 1}},
             "variable": {"name": "AvailabilityState"},
             "variableAttribute": [{"type": "Actual", "value": "Available",
                                    "mutability": "ReadOnly", "persistent": False,
                                    "constant": False}],
             "variableCharacteristics": {"dataType": "OptionList",
                                         "supportsMonitoring": False}}
    return {"requestId": 1, "generatedAt": "2024-05-01T12:00:00.000Z", "seqNo": 0,
            "tbc": True, "reportData": [entry] * 50}


def set_variables() -> dict[str, Any]:
    return {"setVariableData": [
        {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"},
         "attributeValue": str(60 + n), "attributeType": "Actual"} for n in range(10)]}


def per_call_us(function: Any, number: int, repeat: int) -> float:
    """Best of ``repeat`` runs: the least disturbed by the rest of the machine."""
    return min(timeit.repeat(function, number=number, repeat=repeat)) / number * 1e6


def ocpp_inline(version: str, action: str, payload: dict[str, Any]) -> Any:
    def run() -> None:
        # The package rewrites the payload of some actions (floats -> Decimal): give it a copy.
        messages._validate_payload(messages.Call("1", action, copy.deepcopy(payload)), version)

    return run


def ocpp_async_us(version: str, action: str, payload: dict[str, Any], number: int) -> float:
    async def run() -> float:
        messages.ASYNC_VALIDATION = True
        start = time.perf_counter()
        for _ in range(number):
            await messages.validate_payload(
                messages.Call("1", action, copy.deepcopy(payload)), version
            )
        return (time.perf_counter() - start) / number * 1e6

    return asyncio.run(run())


def copy_us(payload: dict[str, Any], number: int, repeat: int) -> float:
    return per_call_us(lambda: copy.deepcopy(payload), number, repeat)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    parser.add_argument("--ocpp", choices=("1.6", "2.0.1"), action="append",
                        help="only this OCPP version's payloads (repeatable; default: both)")
    args = parser.parse_args()
    versions = args.ocpp or ("1.6", "2.0.1")
    number, repeat = (200, 3) if args.quick else (1000, 5)

    print(f"python {platform.python_version()} on {platform.machine()} ({platform.node()})")
    print(f"{'payload':<38}{'ocpp async':>12}{'ocpp inline':>13}{'pievse':>10}{'speed-up':>10}"
          f"{'compile':>10}")
    for version, action, payload, label in (
        ("1.6", "MeterValues", meter_values(), "MeterValues, 5 sampled values"),
        ("1.6", "SetChargingProfile", set_charging_profile(), "SetChargingProfile, 24 periods"),
        ("2.0.1", "TransactionEvent", transaction_event(), "2.0.1 TransactionEvent, 5 values"),
        ("2.0.1", "SetChargingProfile", set_charging_profile_201(),
         "2.0.1 SetChargingProfile, 24 periods"),
        ("2.0.1", "NotifyReport", notify_report(), "2.0.1 NotifyReport, 50 variables"),
        ("2.0.1", "SetVariables", set_variables(), "2.0.1 SetVariables, 10 variables"),
    ):
        if version not in versions:
            continue
        validator = SchemaValidator(version)
        start = time.perf_counter()
        validator.validate_call(action, payload)  # first use compiles the schema
        compile_ms = (time.perf_counter() - start) * 1e3

        ocpp_inline(version, action, payload)()  # the package loads and caches its schema too
        # The deep copy the package needs is not validation: take it out of its figure.
        theirs = per_call_us(ocpp_inline(version, action, payload), number, repeat)
        theirs -= copy_us(payload, number, repeat)
        theirs_async = ocpp_async_us(version, action, payload, number // 4)
        ours = per_call_us(lambda: validator.validate_call(action, payload), number, repeat)
        print(f"{label:<38}{theirs_async:>10.1f}µs{theirs:>11.1f}µs{ours:>8.1f}µs"
              f"{theirs / ours:>9.0f}×{compile_ms:>8.1f}ms")


if __name__ == "__main__":
    main()

"""The hardware of the charge point, built from the configuration's driver sections.

One board and one meter per connector, and at most one card reader. Each section picks its driver
(``driver = "simulated" | "modbus" | ...``); simulated and real drivers mix freely, so a real meter
can run beside a simulated car and board. A real driver's library is imported only when the
configuration asks for that driver, which keeps a simulated station's start-up light.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pievse.config import Config, MeterConfig
from pievse.drivers.base import EnergyMeter, EvseBoard, TokenReader

__all__ = ["Hardware", "SimulatedHardware", "build_hardware"]


@dataclass
class SimulatedHardware:
    """Handles on the simulated car, board and reader, for the simulation API and the demo."""

    evs: dict[int, Any] = field(default_factory=dict)
    boards: dict[int, Any] = field(default_factory=dict)
    reader: Any = None


@dataclass
class Hardware:
    boards: dict[int, EvseBoard]
    meters: dict[int, EnergyMeter]
    reader: TokenReader | None
    simulated: SimulatedHardware | None


def build_hardware(config: Config, initial_energy_wh: dict[int, float] | None = None) -> Hardware:
    """Create the drivers the config names (one board and one meter per connector).

    ``initial_energy_wh`` is where each simulated meter's register starts: the value the store
    last saw, so that a restarted simulation never runs its meter backwards."""
    from pievse.drivers.base import BoardCapabilities
    from pievse.drivers.simulated import (
        SimulatedBoard,
        SimulatedCardReader,
        SimulatedEv,
        SimulatedMeter,
    )

    cp, simcfg = config.charge_point, config.simulation
    sim = SimulatedHardware()
    boards: dict[int, EvseBoard] = {}
    meters: dict[int, EnergyMeter] = {}
    for n in range(1, cp.connectors + 1):
        ev = SimulatedEv(
            max_current_a=simcfg.ev_max_current,
            phases=simcfg.ev_phases,
            voltage_v=cp.voltage,
            reaction_delay_s=simcfg.ev_reaction_delay,
            battery_capacity_wh=simcfg.ev_battery_capacity or None,
        )
        board = SimulatedBoard(
            ev, capabilities=BoardCapabilities(max_current_a=cp.max_current, phases=cp.phases)
        )
        sim.evs[n], sim.boards[n] = ev, board
        boards[n] = board
        meters[n] = SimulatedMeter(ev, board,
                                   initial_energy_wh=(initial_energy_wh or {}).get(n, 0.0))
    if config.meter.driver == "modbus":
        # The config allows a Modbus meter with one connector only.
        meters[1] = modbus_meter(config.meter)
    reader: TokenReader | None = None
    if config.rfid.driver == "simulated":
        reader = sim.reader = SimulatedCardReader()
    return Hardware(boards, meters, reader, sim)


def modbus_meter(config: MeterConfig) -> EnergyMeter:
    from pievse.drivers.meter_maps import load_register_map, register_map_from_dict
    from pievse.drivers.modbus_meter import ModbusMeter, ModbusRtu, ModbusTcp

    if config.model:
        register_map = load_register_map(config.model)
    else:
        register_map = register_map_from_dict(config.registers)
    connection: ModbusRtu | ModbusTcp
    if config.transport == "tcp":
        connection = ModbusTcp(config.host, config.port)
    else:
        connection = ModbusRtu(config.device, baudrate=config.baudrate, parity=config.parity,
                               stopbits=config.stopbits)
    return ModbusMeter(connection, register_map, unit_id=config.unit_id, timeout=config.timeout)

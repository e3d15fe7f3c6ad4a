"""The hardware of the charge point, built from the configuration's driver sections.

One board and one meter per connector, at most one card reader, and the meter at the house's grid
connection if the config has one. Each section picks its driver
(``driver = "simulated" | "modbus" | ...``); simulated and real drivers mix freely, so a real meter
can run beside a simulated car and board. A real driver's library is imported only when the
configuration asks for that driver, which keeps a simulated station's start-up light.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pievse.app.config import BoardConfig, Config, MeterConfig
from pievse.drivers.contracts import EnergyMeter, EvseBoard, TokenReader

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
    #: The meter at the house's grid connection ([site_meter]), if there is one.
    site_meter: EnergyMeter | None = None


def build_hardware(config: Config, initial_energy_wh: dict[int, float] | None = None) -> Hardware:
    """Create the drivers the config names (one board and one meter per connector).

    ``initial_energy_wh`` is where each simulated meter's register starts: the value the store
    last saw, so that a restarted simulation never runs its meter backwards."""
    from pievse.drivers.contracts import BoardCapabilities
    from pievse.drivers.simulated.devices import (
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
        ev.set_state(simcfg.ev_state_at_start)
        board = SimulatedBoard(
            ev, capabilities=BoardCapabilities(max_current_a=cp.max_current, phases=cp.phases,
                                               has_lock=config.board.has_lock,
                                               phase_switch=config.board.has_phase_switch)
        )
        sim.evs[n], sim.boards[n] = ev, board
        boards[n] = board
        meters[n] = SimulatedMeter(ev, board,
                                   initial_energy_wh=(initial_energy_wh or {}).get(n, 0.0))
    # The config allows a real board or meter with one connector only.
    if config.board.driver == "gpio":
        boards[1] = gpio_board(config.board, config)
        del sim.evs[1], sim.boards[1], meters[1]  # no simulated car behind a real board
    if config.meter.driver == "modbus":
        meters[1] = modbus_meter(config.meter)
    reader: TokenReader | None = None
    if config.rfid.driver == "simulated":
        reader = sim.reader = SimulatedCardReader()
    elif config.rfid.driver == "pcsc":
        from pievse.drivers.pcsc import PcscReader

        reader = PcscReader(config.rfid.reader or None, uid_format=config.rfid.uid_format,
                            feedback=config.rfid.feedback)
    site_meter = None
    if config.site_meter.driver == "modbus":
        # Back soon after an outage: while it is silent the cars get only the safe current.
        site_meter = modbus_meter(config.site_meter, backoff_max=4.0)
    return Hardware(boards, meters, reader, sim, site_meter)


def gpio_board(board: BoardConfig, config: Config) -> EvseBoard:
    def pin(number: int) -> int | None:
        return None if number == -1 else number

    cp = config.charge_point
    if board.kind == "retrofit":
        from pievse.drivers.gpio.retrofit import RetrofitBoard, RetrofitPins, parse_step_table

        pins = RetrofitPins(enable=board.contactor_pin, vehicle_charging=board.feedback_pin,
                            vehicle_connected=pin(board.vehicle_connected_pin),
                            rcd=pin(board.rcd_pin), emergency_stop=pin(board.emergency_stop_pin),
                            green_led=pin(board.green_led_pin), red_led=pin(board.red_led_pin))
        return RetrofitBoard(pins=pins, step_table=parse_step_table(board.current_steps),
                             phases=cp.phases,
                             contactor_switching_time_s=board.contactor_switching_time or 3.0)
    from pievse.drivers.gpio.board import NativeBoard, NativePins
    from pievse.drivers.gpio.cable_lock import LockPins
    from pievse.drivers.gpio.pilot_adc import Mcp3008PilotAdc, PilotDivider

    pins = NativePins(pilot_pwm=board.pilot_pin, contactor=board.contactor_pin,
                      contactor_feedback=pin(board.feedback_pin), rcd=pin(board.rcd_pin),
                      emergency_stop=pin(board.emergency_stop_pin),
                      green_led=pin(board.green_led_pin), red_led=pin(board.red_led_pin),
                      phase_switch=pin(board.phase_switch_pin) if board.has_phase_switch
                      else None)
    adc = Mcp3008PilotAdc(board.adc_channel, spi_device=board.adc_spi_device,
                          divider=PilotDivider(board.pilot_adc_at_minus_12v,
                                               board.pilot_adc_at_plus_12v))
    return NativeBoard(pins=pins, pilot_adc=adc, max_current_a=cp.max_current, phases=cp.phases,
                       feedback_mirror_contact=board.feedback_contact == "mirror",
                       contactor_switching_time_s=board.contactor_switching_time or 0.1,
                       lock_pins=LockPins(lock_drive=board.lock_drive_pin,
                                          unlock_drive=board.unlock_drive_pin,
                                          feedback=board.lock_feedback_pin)
                       if board.has_lock else None)


def modbus_meter(config: MeterConfig, backoff_max: float = 30.0) -> EnergyMeter:
    from pievse.drivers.modbus.register_maps import load_register_map, register_map_from_dict
    from pievse.drivers.modbus.meter import ModbusMeter, ModbusRtu, ModbusTcp

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
    return ModbusMeter(connection, register_map, unit_id=config.unit_id, timeout=config.timeout,
                       backoff_max=backoff_max)

"""EVSE boards on the Raspberry Pi's GPIO header, through gpiozero: a full pilot, or a retrofit.

* :class:`NativeBoard` makes the IEC 61851 control pilot itself: a 1 kHz PWM on a GPIO feeds a
  ±12 V pilot driver, an MCP3008 reads the pilot back (:mod:`pievse.drivers.gpio.pilot_adc`), a
  relay
  switches the contactor and an auxiliary contact may tell whether it really moved.
* ``gpio_retrofit.RetrofitBoard`` controls a "dumb" charger that makes its own pilot: an enable
  relay lets it run, a few relays select its current coding, and its contactor's auxiliary
  contact tells when a car charges.

Both read an RCD input and an emergency-stop input and drive a green and a red LED. Pins are BCM
numbers (defaults: :class:`NativePins`, ``gpio_retrofit.RetrofitPins``); gpiozero's pin factory
is the seam (``lgpio`` on a Pi 5 and current Raspberry Pi OS; ``GPIOZERO_PIN_FACTORY=mock`` with
``GPIOZERO_MOCK_PIN_CLASS=mockpwmpin`` on a PC). The pilot PWM wants a hardware-PWM pin (GPIO12,
13, 18, 19). gpiozero's lgpio backend times the PWM in software and sets the duty in whole
percent: offers are quantised to what the backend really produces, and that current is reported.

Wiring that fails safe (the defaults assume it)
-----------------------------------------------
* **Outputs are active-high with a pull-down on the driver transistor's input.** A GPIO nobody
  drives (process dead, pin released, Pi rebooting) reads low: every relay drops out, and the
  pilot driver's input is low, so the pilot sits at -12 V, state F ("EVSE not available"), which
  no car charges from. ``close()`` drives every output low before releasing the pins, so the
  result does not depend on what the GPIO driver does with a released line.
* **Fault inputs are normally closed to GND, read with the internal pull-up.** A healthy loop
  holds the input low; a tripped RCD contact, a pressed emergency stop, a broken wire or a loose
  connector let the pull-up win: "fault active". An input that is not wired reports its fault:
  wire it, or leave its pin out (None).
* **The contactor feedback is a mirror contact** (IEC 60947-4-1 Annex F: a normally-closed
  auxiliary contact that cannot be closed while a main contact is), to GND with the pull-up: low
  while the contactor is open. A welded contactor and a broken feedback wire both read "closed"
  and are reported as WELDED once the contactor is commanded open. A normally-open contact
  works too (``feedback_mirror_contact=False``), but a broken wire then hides a weld.

Threads and safety
------------------
gpiozero calls input callbacks on its own threads and the pilot is sampled on a thread of its own.
Every protective action (contactor relay low on an RCD trip, an emergency stop, a pilot in E/F, a
missing diode, the car leaving C) is a pin write made right there, under the board's lock,
*before* the event goes to the asyncio loop (``loop.call_soon_threadsafe``): the board protects
itself, then the station opens the contactor again and reports. The board refuses to close the
contactor while such a fault is active (a native board also while the car does not ask for
power) and never closes it by itself when a fault clears. Car states are debounced; faults never.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict, dataclass
from typing import Any

from gpiozero import LED, DigitalInputDevice, DigitalOutputDevice, OutputDevice, PWMOutputDevice
from gpiozero.exc import BadPinFactory, GPIOZeroError

from pievse.drivers.contracts import (
    BoardCapabilities,
    BoardEvent,
    DriverError,
    FaultChanged,
    FaultKind,
    PilotStateChanged,
)
from pievse.drivers.gpio.cable_lock import DEFAULT_TRAVEL_S, GpioCableLock, LockPins
from pievse.drivers.gpio.pilot_adc import Mcp3008PilotAdc, PilotAdc, PilotMonitor, PilotPwm
from pievse.core.iec61851 import MAX_CURRENT_A, MIN_CURRENT_A, PWM_FREQUENCY_HZ, PilotState

__all__ = ["NativeBoard", "NativePins"]

log = logging.getLogger(__name__)

HARDWARE_PWM_PINS = (12, 13, 18, 19)

#: Faults during which the board keeps the contactor open whatever it is told.
_INTERLOCKING = frozenset({FaultKind.RCD, FaultKind.EMERGENCY_STOP, FaultKind.PILOT})

#: A contactor commanded closed whose feedback stays open has failed too (coil, coil supply or
#: auxiliary contact); the station reports it as PowerSwitchFailure, as it does a weld.
CONTACTOR_FAILS_TO_CLOSE = FaultKind.CONTACTOR_OPEN


@dataclass(frozen=True, slots=True)
class NativePins:
    """BCM pins of a native board; None leaves an optional input or LED out."""

    pilot_pwm: int = 18
    contactor: int = 17
    contactor_feedback: int | None = 27
    rcd: int | None = 22
    emergency_stop: int | None = 23
    green_led: int | None = 24
    red_led: int | None = 25
    #: The relay that connects L2 and L3 (on: all phases, off: one); None: no phase switch.
    phase_switch: int | None = None


def _check_distinct(roles: dict[str, int | None]) -> None:
    owners: dict[int, str] = {}
    for role, pin in roles.items():
        if pin is not None and pin in owners:
            raise ValueError(f"GPIO{pin} is given twice: as {owners[pin]} and as {role}")
        if pin is not None:
            owners[pin] = role


class _GpioBoard:
    """What both boards share: lifecycle, fault inputs, LEDs, contactor supervision, events.

    ``_relay_on`` is the output that makes or breaks the current (a native board's contactor
    relay, a retrofit board's enable relay); the ``_feedback`` input must agree with it within
    the switching time. A subclass claims its own pins in ``_open_own()``, reads the pilot in
    ``_first_pilot()``, stops the current in ``_drive_open()``, and answers ``_charging()`` and
    ``_contactor_reads_closed()``; ``_checks_closing`` says whether "on" promises "closed".
    """

    _checks_closing = True

    def __init__(self, capabilities: BoardCapabilities, *, rcd: int | None,
                 emergency_stop: int | None, green_led: int | None, red_led: int | None,
                 switching_time_s: float) -> None:
        if not switching_time_s > 0:
            raise ValueError(f"the switching time must be positive, not {switching_time_s!r}")
        self.capabilities = capabilities
        self._fault_pins = {FaultKind.RCD: rcd, FaultKind.EMERGENCY_STOP: emergency_stop}
        self._led_pins = {"green LED": green_led, "red LED": red_led}
        self._switching_time_s = switching_time_s
        # Re-entrant: on the mock factory a relay write drives a wired input, whose callback
        # runs on the same thread while the write still holds the lock.
        self._lock = threading.RLock()
        self._led_lock = threading.Lock()
        self._devices: list[Any] = []
        self._faults: set[FaultKind] = set()
        self._pilot: PilotState | None = None
        self._relay_on = False
        self._failed_to_close = False
        self._feedback: Any = None
        self._leds: list[Any] = [None, None]
        self._green_mode = ""
        self._supervisor: threading.Timer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue = asyncio.Queue()
        self._ended = self._reporting = self._running = False

    async def start(self) -> None:
        """Claim every pin and read the pilot and the fault inputs, then report: the pilot
        state first, then each active fault. DriverError names a pin that cannot be had."""
        if self._running:
            return
        self._loop = asyncio.get_running_loop()
        if self._ended:
            self._queue, self._ended = asyncio.Queue(), False
        self._faults.clear()  # read afresh from the inputs below
        self._failed_to_close = False
        try:
            self._open_own()
            self._open_common()
            pilot = self._first_pilot()
        except BaseException:
            self._release()
            raise
        with self._lock:
            self._pilot, self._reporting, self._running = pilot, True, True
            self._queue.put_nowait(PilotStateChanged(pilot))
            for kind in sorted(self._faults, key=lambda k: k.value):
                self._queue.put_nowait(FaultChanged(kind, True))
        self._start_background(pilot)
        self._arm_supervision()
        self._refresh_leds()
        log.info("%s started: pilot %s, faults %s", self, pilot.value,
                 sorted(k.value for k in self._faults) or "none")

    async def events(self) -> AsyncIterator[BoardEvent]:
        """Pilot changes and fault inputs in the order they happened; ends after ``close()``."""
        while (event := await self._queue.get()) is not None:
            yield event
        self._queue.put_nowait(None)  # leave the end mark for any other reader

    async def close(self) -> None:
        """Withdraw the offer, open the contactor, drive every output low, release every pin.
        Never raises."""
        try:
            with self._lock:
                self._reporting = False
                if self._supervisor is not None:
                    self._supervisor.cancel()
            await self._stop_background()
            if self._running:
                self.pilot_standby()
                self.set_contactor(False)
        except Exception:  # noqa: BLE001 - close() never raises
            log.exception("%s: error while stopping", self)
        finally:
            self._release()
            self._running = False
            if not self._ended:
                self._ended = True
                self._queue.put_nowait(None)

    def set_phases(self, phases: int) -> None:
        raise DriverError(f"{self}: no phase switch")

    @property
    def faults(self) -> frozenset[FaultKind]:
        return frozenset(self._faults)

    @property
    def pilot_state(self) -> PilotState | None:
        """The pilot state last reported (None before ``start()``)."""
        return self._pilot

    # --- pins ----------------------------------------------------------------------------------

    def _claim(self, role: str, pin: int, device_class: type, **kwargs: Any) -> Any:
        """Create one gpiozero device; a pin that cannot be had is a DriverError naming it."""
        try:
            device = device_class(pin, **kwargs)
        except BadPinFactory as error:
            raise DriverError(f"no GPIO pin factory for GPIO{pin} ({role}): {error}. On a Pi "
                              "install python3-lgpio; elsewhere GPIOZERO_PIN_FACTORY=mock runs "
                              "without hardware") from error
        except (GPIOZeroError, OSError, ValueError) as error:
            raise DriverError(f"GPIO{pin} ({role}) cannot be used: {error}") from error
        self._devices.append(device)
        return device

    def _relay_output(self, role: str, pin: int) -> Any:
        """An active-high output, low from the start: its relay stays open."""
        return self._claim(role, pin, DigitalOutputDevice, active_high=True, initial_value=False)

    def _input(self, role: str, pin: int, bounce_s: float | None = None) -> Any:
        """An input switched to GND against the internal pull-up: active while pulled low."""
        return self._claim(role, pin, DigitalInputDevice, pull_up=True, bounce_time=bounce_s)

    def _open_common(self) -> None:
        for kind, pin in self._fault_pins.items():
            if pin is not None:  # no bounce time: a fault is never debounced
                loop_input = self._input(f"{kind.value} input", pin)
                loop_input.when_deactivated = self._fault_callback(kind, True)
                loop_input.when_activated = self._fault_callback(kind, False)
                if not loop_input.is_active:
                    self._faults.add(kind)
        if self._feedback is not None:
            self._feedback.when_activated = self._feedback.when_deactivated = self._feedback_edge
        self._leds = [None if pin is None else self._claim(role, pin, LED)
                      for role, pin in self._led_pins.items()]

    def _release(self) -> None:
        """Drive every output low, then close every device, the last claimed first."""
        for device in self._devices:
            if isinstance(device, OutputDevice):
                with contextlib.suppress(Exception):
                    device.off()
        for device in reversed(self._devices):
            with contextlib.suppress(Exception):
                device.close()
        self._devices.clear()
        self._feedback, self._leds, self._green_mode, self._relay_on = None, [None, None], "", False

    # --- faults and events ---------------------------------------------------------------------

    def _emit(self, event: BoardEvent) -> None:
        """Hand an event to the asyncio loop, from whichever thread noticed it."""
        with self._lock:
            if self._reporting and self._loop is not None:  # else start()'s snapshot has it
                with contextlib.suppress(RuntimeError):  # the loop is closed: nobody listens
                    self._loop.call_soon_threadsafe(self._queue.put_nowait, event)

    def _set_fault(self, kind: FaultKind, active: bool) -> bool:
        """Record a fault and report it; True when that changed it."""
        with self._lock:
            if (kind in self._faults) == active:
                return False
            (self._faults.add if active else self._faults.discard)(kind)
            self._emit(FaultChanged(kind, active))
        return True

    def _fault_callback(self, kind: FaultKind, active: bool) -> Callable[[], None]:
        # No parameter on purpose: gpiozero passes the device to a callback that can take one.
        return lambda: self._fault_input(kind, active)

    def _fault_input(self, kind: FaultKind, active: bool) -> None:
        """An RCD or emergency-stop loop opened or closed again (gpiozero's callback thread)."""
        with self._lock:
            if active:
                self._open_now(f"{kind.value} input active")  # first, before anyone is told
            changed = self._set_fault(kind, active)
        if changed:
            log.log(logging.ERROR if active else logging.WARNING, "%s: %s input %s", self,
                    kind.value, "tripped (loop open)" if active else "healthy again")
            self._refresh_leds()

    def _open_now(self, why: str, level: int = logging.WARNING) -> None:
        """Stop the current at once. The board never closes again by itself."""
        with self._lock:
            if self._relay_on:
                log.log(level, "%s: opening the contactor: %s", self, why)
            self._drive_open()

    def _set_relay(self, device: Any, on: bool) -> None:
        """Write the output that makes or breaks the current; then watch the contactor follow."""
        with self._lock:
            device.value = on
            if on != self._relay_on:
                self._relay_on = on
                self._arm_supervision()

    def _blocked_reason(self) -> str | None:
        active = sorted(kind.value for kind in self._faults & _INTERLOCKING)
        return f"fault {', '.join(active)} active" if active else None

    def _not_started(self, what: str) -> DriverError:
        return DriverError(f"{self}: cannot {what}, the board is not started")

    # --- contactor supervision and LEDs --------------------------------------------------------

    def _feedback_edge(self) -> None:
        self._arm_supervision()
        self._feedback_changed()

    def _feedback_changed(self) -> None:
        """The feedback input changed: a retrofit board reads the car from it."""

    def _arm_supervision(self) -> None:
        """Compare command and feedback once the contactor has had its switching time."""
        with self._lock:
            if self._supervisor is not None:
                self._supervisor.cancel()
            if self._feedback is not None and self._running:
                self._supervisor = threading.Timer(self._switching_time_s, self._check_contactor)
                self._supervisor.daemon = True
                self._supervisor.start()

    def _check_contactor(self) -> None:
        with self._lock:
            if self._feedback is None or not self._reporting:
                return
            reads_closed = self._contactor_reads_closed()
            welded = reads_closed and not self._relay_on
            stuck_open = self._checks_closing and self._relay_on and not reads_closed
            if stuck_open:
                self._open_now("the contactor did not close")
                # Latched: the station closes no more while it is active, so it stays until a
                # restart after the repair (or a close that the feedback confirms).
                self._failed_to_close = True
            elif self._relay_on and reads_closed:
                self._failed_to_close = False
            active: dict[FaultKind, bool] = {}
            for kind, now in ((FaultKind.WELDED, welded),
                              (CONTACTOR_FAILS_TO_CLOSE, self._failed_to_close)):
                active[kind] = active.get(kind, False) or now
            changed = [self._set_fault(kind, now) for kind, now in active.items()]
        if not any(changed):
            return
        if welded or stuck_open:
            log.error("%s: contactor commanded %s, its feedback reads %s after %.2f s: %s", self,
                      *(("open", "closed") if welded else ("closed", "open")),
                      self._switching_time_s, "welded, or a broken feedback wire" if welded
                      else "coil, coil supply or feedback wiring failed")
        else:
            log.warning("%s: contactor feedback agrees with the command again", self)
        self._refresh_leds()

    def _refresh_leds(self) -> None:
        """Red: a fault. Green: steady while available, blinking while charging, off on a fault."""
        with self._led_lock:
            green, red = self._leds
            mode = "off" if self._faults else "blink" if self._charging() else "on"
            with contextlib.suppress(Exception):  # an LED closed under our feet: close() runs
                if red is not None:
                    red.value = bool(self._faults)
                if green is not None and mode != self._green_mode:
                    if mode == "blink":
                        green.blink(on_time=0.5, off_time=0.5)
                    else:
                        green.value = mode == "on"
                    self._green_mode = mode

    def _start_background(self, pilot: PilotState) -> None:
        """Start whatever watches the pilot (the native board's sampler)."""

    async def _stop_background(self) -> None:
        """Stop it again."""


class NativeBoard(_GpioBoard):
    """A board that makes and reads the control pilot itself.

    ``pilot_adc`` defaults to an MCP3008 on SPI0/CE0, channel 0, with the reference divider.
    ``duty_resolution_percent`` is the PWM's duty step; None takes what gpiozero's pin factory
    gives (1 % on lgpio, 0.5 % on pigpio, else 0.1 %). The pilot is sampled every
    ``sample_period_s``, each sample a burst of at least ``samples_per_burst`` conversions across
    a PWM period; a car state counts after ``samples_to_agree`` agreeing samples. The contactor
    feedback (a mirror contact unless ``feedback_mirror_contact`` is False) must follow each
    command within ``contactor_switching_time_s``. ``lock_pins`` wires a socket's cable lock
    (``cable_lock`` once started); None for a fixed cable.
    """

    def __init__(self, *, pins: NativePins = NativePins(), pilot_adc: PilotAdc | None = None,
                 max_current_a: float = 32.0, phases: int = 3,
                 duty_resolution_percent: float | None = None, samples_to_agree: int = 3,
                 sample_period_s: float = 0.01, samples_per_burst: int = 8,
                 feedback_mirror_contact: bool = True,
                 contactor_switching_time_s: float = 0.1, lock_pins: LockPins | None = None,
                 lock_travel_s: float = DEFAULT_TRAVEL_S) -> None:
        lock_roles = {} if lock_pins is None else {
            f"cable lock {role}": pin for role, pin in asdict(lock_pins).items()}
        _check_distinct(asdict(pins) | lock_roles)
        if not MIN_CURRENT_A <= max_current_a <= MAX_CURRENT_A:
            raise ValueError(f"max_current_a must be 6-80 A, not {max_current_a!r}")
        if pins.pilot_pwm not in HARDWARE_PWM_PINS:
            log.warning("GPIO%s has no hardware PWM (GPIO12, 13, 18 and 19 have)", pins.pilot_pwm)
        super().__init__(BoardCapabilities(max_current_a=max_current_a, phases=phases,
                                           has_lock=lock_pins is not None,
                                           phase_switch=pins.phase_switch is not None),
                         rcd=pins.rcd, emergency_stop=pins.emergency_stop,
                         green_led=pins.green_led, red_led=pins.red_led,
                         switching_time_s=contactor_switching_time_s)
        self.pins = pins
        self.pilot_adc: PilotAdc = pilot_adc if pilot_adc is not None else Mcp3008PilotAdc()
        self.pwm = PilotPwm(duty_resolution_percent)
        self._monitor = PilotMonitor(
            self.pilot_adc, pwm=self.pwm, on_state=self._car_state, on_fault=self._pilot_fault,
            samples_to_agree=samples_to_agree, sample_period_s=sample_period_s,
            samples_per_burst=samples_per_burst, name=f"pilot GPIO{pins.pilot_pwm}")
        self._mirror = feedback_mirror_contact
        self._relay: Any = None
        self._phase_relay: Any = None
        self._lock_pins, self._lock_travel_s = lock_pins, lock_travel_s
        self.cable_lock: GpioCableLock | None = None

    def pilot_offer(self, amps: float) -> float:
        """Run the 1 kHz PWM at the duty cycle offering at most ``amps`` (and the board's
        maximum) in the PWM's resolution; returns the current the car will read."""
        if not amps >= MIN_CURRENT_A:  # also refuses NaN
            raise ValueError(f"{amps} A is below the 6 A minimum that a pilot can offer")
        with self._lock:
            if self._relay is None:
                raise self._not_started("offer current")
            return self.pwm.offer(min(amps, self.capabilities.max_current_a))

    def pilot_standby(self) -> None:
        """Steady +12 V (duty 100 %): no offer, the car stops drawing."""
        with self._lock:
            if self._relay is not None:
                self.pwm.standby()

    def set_contactor(self, closed: bool) -> None:
        """Switch the contactor relay. Closing is refused (logged; the relay stays open) while a
        fault is active or the car does not ask for power (state C, or D)."""
        with self._lock:
            if self._relay is None:
                if closed:
                    raise self._not_started("close the contactor")
                return  # pins released: the pull-down holds the relay open
            if closed and (why := self._blocked_reason()):
                log.warning("%s: not closing the contactor: %s", self, why)
                return
            self._set_relay(self._relay, bool(closed))
        self._refresh_leds()

    def set_phases(self, phases: int) -> None:
        """Switch the phase relay (on: every phase, off: one). Refused while the contactor
        relay is on: the phase relay never moves under load."""
        with self._lock:
            if self._phase_relay is None:
                raise DriverError(f"{self}: no phase switch wired ([board] phase_switch_pin)"
                                  if self.pins.phase_switch is None
                                  else self._not_started("switch the phases"))
            if phases not in (1, self.capabilities.phases):
                raise ValueError(f"the phase relay connects 1 or {self.capabilities.phases} "
                                 f"phases, not {phases!r}")
            if self._relay_on:
                raise DriverError(f"{self}: not switching the phases under a closed contactor")
            self._phase_relay.value = phases > 1
        log.info("%s: %d phase(s)", self, phases)

    @property
    def contactor_closed(self) -> bool:
        return self._relay_on

    @property
    def phases(self) -> int:
        """The phases the phase relay connects (all of them without a phase switch)."""
        relay = self._phase_relay
        return self.capabilities.phases if relay is None or relay.value else 1

    def _open_own(self) -> None:
        # The relay first, held open, so that nothing below can find it floating.
        self._relay = self._relay_output("contactor relay", self.pins.contactor)
        if self.pins.phase_switch is not None:
            # All phases, as the station was before it could switch (contactor still open).
            self._phase_relay = self._relay_output("phase switch relay", self.pins.phase_switch)
            self._phase_relay.on()
        self.pwm.attach(self._claim("pilot PWM", self.pins.pilot_pwm, PWMOutputDevice,
                                    active_high=True, initial_value=1.0,
                                    frequency=PWM_FREQUENCY_HZ))
        if self.pins.contactor_feedback is not None:
            self._feedback = self._input("contactor feedback", self.pins.contactor_feedback)
        if (lock := self._lock_pins) is not None:
            self.cable_lock = GpioCableLock(
                self._relay_output("cable lock drive", lock.lock_drive),
                self._relay_output("cable unlock drive", lock.unlock_drive),
                self._input("cable lock feedback", lock.feedback), self._lock_travel_s)
        self.pilot_adc.open()

    def _first_pilot(self) -> PilotState:
        """One measurement, not debounced: the station must not guess, and a fault needs none."""
        state, reading = self._monitor.measure()
        if state is None:
            raise DriverError(f"{self}: the pilot ADC ({self.pilot_adc}) does not answer")
        if state.is_error:
            self._pilot_fault(f"pilot reads {state.value} at start ({reading})", state)
        return state

    def _start_background(self, pilot: PilotState) -> None:
        self._monitor.start(pilot)

    async def _stop_background(self) -> None:
        await asyncio.to_thread(self._monitor.stop)

    def _release(self) -> None:
        super()._release()
        self.pilot_adc.close()
        self.pwm.attach(None)
        self._relay = self._phase_relay = None

    def _drive_open(self) -> None:
        if self._relay is not None:
            self._set_relay(self._relay, False)

    def _blocked_reason(self) -> str | None:
        pilot = self._pilot or PilotState.A
        if pilot.asks_for_power:
            return super()._blocked_reason()
        return super()._blocked_reason() or f"the car does not ask (pilot {pilot.value})"

    def _charging(self) -> bool:
        return self._relay_on

    def _contactor_reads_closed(self) -> bool:
        # A mirror contact is closed (input low: active) while the main contacts are open.
        return self._feedback.is_active != self._mirror

    def _car_state(self, state: PilotState) -> None:
        """A debounced car state (the sampler's thread)."""
        with self._lock:
            if self._relay_on and not state.asks_for_power:
                # Before the event, like a fault: the car has stopped drawing, the station
                # would open it anyway, and this way the open does not wait for the loop.
                self._open_now(f"car in state {state.value}", logging.INFO)
            cleared = self._set_fault(FaultKind.PILOT, False)
            if state is not self._pilot:
                self._pilot = state
                self._emit(PilotStateChanged(state))
        if cleared:
            log.warning("%s: pilot reads %s again", self, state.value)
        self._refresh_leds()

    def _pilot_fault(self, why: str, state: PilotState | None) -> None:
        """E/F, no diode, or no reading (the sampler's thread): contactor open now, then report."""
        with self._lock:
            self._open_now(why)
            if state is not None and state is not self._pilot and self._reporting:
                self._pilot = state
                self._emit(PilotStateChanged(state))
            fresh = self._set_fault(FaultKind.PILOT, True)
        if fresh:
            log.error("%s: pilot fault: %s", self, why)
            self._refresh_leds()

    def __str__(self) -> str:
        return f"native board (pilot GPIO{self.pins.pilot_pwm})"

"""The control pilot of a native board: the PWM that drives it, the ADC that reads it back.

The station drives the pilot (CP) with a ±12 V square wave through a 1 kΩ resistor; the car
loads it with resistors (2.74 kΩ for B, 882 Ω more for C, 246 Ω for D) behind a diode. So the
*high phase* carries the car's state (+12 / +9 / +6 / +3 V) and the *low phase* must stay at
-12 V, because the car's diode blocks the negative half: a low phase nearer 0 V means the diode
is missing or shorted, which IEC 61851-1 makes a fault.

A Raspberry Pi has no analog input, so the pilot reaches an ADC through a level shifter mapping
-12..+12 V into the ADC's 0..3.3 V. :class:`PilotDivider` turns ADC volts back into pilot volts
from two calibration points (what the ADC reads at -12 V and at +12 V: measure both on the
finished board). :class:`PilotAdc` is the seam: an MCP3008 today, an ADS1115 or a faster ADC
tomorrow.

Sampling is not synchronised with the PWM: :func:`measure_pilot` takes a *burst* of conversions
spanning a little more than one 1 ms period and keeps the highest (high phase) and the lowest
(low phase). The shortest phase to catch is the high phase at 10 % duty (6 A): 100 µs. An
MCP3008 on the Pi's hardware SPI converts in 20-30 µs plus Python's overhead, so a burst holds a
sample or two of it; a burst that misses it reads "E/F", so :class:`PilotMonitor` measures again
at once before it believes a fault. The low phase is as short above 85 % duty (offers over 51 A):
the diode check there needs a faster ADC. gpiozero's *software* SPI (no ``spidev`` module) takes
about a millisecond per conversion and cannot follow the PWM: enable SPI (``dtparam=spi=on``) and
install ``python3-spidev``.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from gpiozero import MCP3008
from gpiozero.exc import GPIOZeroError

from pievse.drivers.contracts import DriverError
from pievse.core.iec61851 import (
    PWM_FREQUENCY_HZ,
    PilotState,
    current_for_duty_cycle,
    duty_cycle_for_current,
    pilot_state_from_voltage,
)

__all__ = [
    "Mcp3008PilotAdc",
    "PilotAdc",
    "PilotDivider",
    "PilotMonitor",
    "PilotPwm",
    "PilotReading",
    "classify_pilot",
    "measure_pilot",
    "quantise_offer",
    "resolution_for_factory",
]

log = logging.getLogger(__name__)

#: While the PWM runs the low phase must reach below this, or the car's diode is missing.
DIODE_CHECK_MAX_V = -10.0
#: A burst spans a little more than one PWM period, so it sees both phases wherever it starts.
BURST_SPAN_S = 1.1 / PWM_FREQUENCY_HZ


# --- the PWM's duty-cycle steps -------------------------------------------------------------------


def quantise_offer(limit_a: float, resolution_percent: float) -> tuple[float, float]:
    """(current the car reads, duty %) for the highest duty step offering no more than
    ``limit_a`` (≥ 6 A), on a PWM whose duty cycle moves in steps of ``resolution_percent``.

    Counted in whole steps: start from the IEC formula, then settle on the highest step the car
    reads as no more than the limit. The two formulas leave a gap between 51 A (85 %) and 52.5 A
    where the formula alone would land on a step the car reads higher than asked.
    """
    step = resolution_percent
    lowest, highest = math.ceil(10.0 / step - 1e-9), math.floor(96.0 / step + 1e-9)

    def reads(n: int) -> float:
        return current_for_duty_cycle(round(n * step, 6))

    n = min(max(math.floor(duty_cycle_for_current(limit_a) / step + 1e-6), lowest), highest)
    while n > lowest and reads(n) > limit_a + 1e-9:
        n -= 1
    while n < highest and reads(n + 1) <= limit_a + 1e-9:
        n += 1
    return round(reads(n), 2), round(n * step, 6)


class PilotPwm:
    """The 1 kHz PWM that drives the pilot, over a gpiozero ``PWMOutputDevice`` (``attach()``).

    Duty 100 % is steady +12 V: no offer. ``resolution_percent`` is the duty step that the
    backend really produces (None: ask ``resolution_for_factory``). ``generation`` counts the
    changes, so that a reading that straddles one can be dropped.
    """

    def __init__(self, resolution_percent: float | None = None) -> None:
        if resolution_percent is not None and not 0 < resolution_percent <= 1:
            raise ValueError(f"the duty resolution must be in (0, 1] %, not {resolution_percent!r}")
        self.resolution_percent = resolution_percent
        self.duty_percent = 100.0
        self.generation = 0
        self._device: Any = None

    def attach(self, device: Any) -> None:
        self._device, self.duty_percent = device, 100.0
        if device is not None and self.resolution_percent is None:
            factory = type(device.pin_factory).__name__
            self.resolution_percent = resolution_for_factory(factory)
        if device is not None:
            self._write(100.0)

    @property
    def running(self) -> bool:
        """True while the PWM oscillates (an offer stands); False at steady +12 V."""
        return 0.0 < self.duty_percent < 100.0

    def offer(self, limit_a: float) -> float:
        """Offer at most ``limit_a`` (≥ 6 A); returns the current the car will read."""
        offered, duty = quantise_offer(limit_a, self.resolution_percent or 0.1)
        self._write(duty)
        return offered

    def standby(self) -> None:
        self._write(100.0)

    def _write(self, duty_percent: float) -> None:
        if duty_percent != self.duty_percent:
            self.generation += 1
        self.duty_percent = duty_percent
        # The nudge keeps a backend that truncates (int(value * range)) from landing one step low
        # through float rounding; 1e-7 of a 1 ms period is 0.1 ns.
        self._device.value = min(1.0, duty_percent / 100.0 + 1e-7)


def resolution_for_factory(factory_name: str) -> float:
    """The duty step (percent) of gpiozero's PWM on a pin factory: gpiozero's lgpio pin hands
    ``int(value * 100)`` to ``tx_pwm``; pigpio at its default 5 µs sample rate has 200 real
    steps at 1 kHz; other factories take a float, and 0.1 % is what we promise there."""
    return {"LGPIOFactory": 1.0, "PiGPIOFactory": 0.5}.get(factory_name, 0.1)


# --- the ADC --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PilotDivider:
    """The level shifter between the ±12 V pilot and the ADC, as two calibration points. The
    defaults are the reference design's divider (``hardware/control-pilot.md``: 100 kΩ from the
    pilot, 22 kΩ to 3.3 V, 30 kΩ to ground); an inverting stage has the second point below the
    first. Measure both points on a built board and set them in the config."""

    adc_volts_at_minus_12: float = 0.338
    adc_volts_at_plus_12: float = 3.041

    def __post_init__(self) -> None:
        span = self.adc_volts_at_plus_12 - self.adc_volts_at_minus_12
        if not (math.isfinite(span) and abs(span) >= 0.1):
            raise ValueError(
                "the pilot divider needs two calibration points at least 0.1 V apart, not "
                f"{self.adc_volts_at_minus_12!r} V and {self.adc_volts_at_plus_12!r} V"
            )

    def pilot_volts(self, adc_volts: float) -> float:
        span = self.adc_volts_at_plus_12 - self.adc_volts_at_minus_12
        return -12.0 + (adc_volts - self.adc_volts_at_minus_12) * 24.0 / span


@runtime_checkable
class PilotAdc(Protocol):
    """An ADC channel that sees the pilot through a divider. ``open()`` claims the hardware
    (DriverError if it cannot), ``read_volts()`` is one instantaneous pilot voltage (one
    conversion: averaging would blur the two phases into one), ``close()`` never raises."""

    def open(self) -> None: ...

    def read_volts(self) -> float: ...

    def close(self) -> None: ...


class Mcp3008PilotAdc:
    """The pilot on one channel of an MCP3008 (10 bits, 8 channels) on the Pi's SPI bus.

    Port 0 device 0 is SPI0 with CE0 (SCLK GPIO11, MOSI GPIO10, MISO GPIO9, CE0 GPIO8). ``vref``
    is the chip's VREF (3.3 V when tied to the Pi's 3V3). Two connectors may share one chip on
    two channels: gpiozero shares the SPI interface between them.
    """

    def __init__(self, channel: int = 0, *, spi_port: int = 0, spi_device: int = 0,
                 vref: float = 3.3, divider: PilotDivider = PilotDivider()) -> None:
        if channel not in range(8):
            raise ValueError(f"an MCP3008 has channels 0 to 7, not {channel!r}")
        if not vref > 0:
            raise ValueError(f"vref must be positive, not {vref!r}")
        self.channel, self.spi_port, self.spi_device = channel, spi_port, spi_device
        self.vref, self.divider = float(vref), divider
        self._adc = None

    def open(self) -> None:
        if self._adc is None:
            try:
                self._adc = MCP3008(channel=self.channel, port=self.spi_port,
                                    device=self.spi_device, max_voltage=self.vref)
            except (GPIOZeroError, OSError) as error:
                raise DriverError(f"pilot ADC ({self}): {error}") from error

    def read_volts(self) -> float:
        if self._adc is None:
            raise DriverError(f"pilot ADC ({self}) is not open")
        return self.divider.pilot_volts(self._adc.voltage)

    def close(self) -> None:
        adc, self._adc = self._adc, None
        if adc is not None:
            try:
                adc.close()
            except Exception:  # noqa: BLE001 - close() never raises, by the driver convention
                pass

    def __str__(self) -> str:
        return f"MCP3008 channel {self.channel} on SPI{self.spi_port}.{self.spi_device}"


# --- from conversions to states -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PilotReading:
    """One burst: the high-phase level, the low-phase level, and how many conversions it took."""

    high_v: float
    low_v: float
    samples: int

    def __str__(self) -> str:
        return f"high {self.high_v:+.1f} V, low {self.low_v:+.1f} V"


def measure_pilot(adc: PilotAdc, *, min_samples: int = 8, min_span_s: float = BURST_SPAN_S,
                  max_samples: int = 400,
                  clock: Callable[[], float] = time.perf_counter) -> PilotReading:
    """Convert back to back until at least ``min_samples`` conversions spanning ``min_span_s``
    are in (``max_samples`` bounds a burst on a very fast ADC), and return the extremes."""
    started = clock()
    high = low = adc.read_volts()
    count = 1
    while count < max_samples and (count < min_samples or clock() - started < min_span_s):
        volts = adc.read_volts()
        count += 1
        high, low = max(high, volts), min(low, volts)
    return PilotReading(high, low, count)


def classify_pilot(reading: PilotReading, *, pwm_running: bool) -> PilotState:
    """The state a burst shows: the high phase by the usual bands (A ≥ 10.5 V, B ≥ 7.5, C ≥ 4.5,
    D ≥ 1.5, E above -10, F at -12); while the PWM runs, a low phase above -10 V (no diode in the
    car, or the pilot driver lost its -12 V) is reported as F, in which no contactor stays closed.
    """
    state = pilot_state_from_voltage(reading.high_v)
    if pwm_running and not state.is_error and reading.low_v > DIODE_CHECK_MAX_V:
        return PilotState.F
    return state


class PilotMonitor:
    """Samples the pilot on a thread of its own, every ``sample_period_s``.

    A car state (A-D) is passed to ``on_state`` once ``samples_to_agree`` consecutive samples
    agree on it and it differs from the last one passed (or a fault came in between). E, F, a
    missing diode and a failing ADC go to ``on_fault(why, state)`` from the very sample that saw
    them, after one immediate confirming burst (about a millisecond): the board opens its
    contactor there, in this thread. A burst during which the ``pwm`` changed mixed two signals
    and is dropped.
    """

    def __init__(
        self,
        adc: PilotAdc,
        *,
        pwm: PilotPwm,
        on_state: Callable[[PilotState], None],
        on_fault: Callable[[str, PilotState | None], None],
        samples_to_agree: int = 3,
        sample_period_s: float = 0.01,
        samples_per_burst: int = 8,
        name: str = "pilot",
    ) -> None:
        if samples_to_agree < 1 or samples_per_burst < 2 or not sample_period_s > 0:
            raise ValueError("samples_to_agree must be ≥ 1, samples_per_burst ≥ 2 and "
                             "sample_period_s positive")
        self.adc = adc
        self._pwm, self._on_state, self._on_fault = pwm, on_state, on_fault
        self.samples_to_agree = samples_to_agree
        self.sample_period_s = sample_period_s
        self.samples_per_burst = samples_per_burst
        self._name = name
        self._candidate: PilotState | None = None
        self._agreeing = 0
        self._passed: PilotState | None = None
        self._adc_failing = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def measure(self) -> tuple[PilotState | None, PilotReading | None]:
        """One sample: a burst, and another at once if it reads E/F (a burst can miss a 100 µs
        high phase). ``(None, None)``: the ADC failed; ``(None, reading)``: the PWM changed."""
        state, reading = self._burst()
        if state is not None and state.is_error:
            state, reading = self._burst()
        return state, reading

    def start(self, known: PilotState) -> None:
        """Sample from now on; ``known`` is the state already reported (from ``measure()``)."""
        self._passed, self._candidate, self._agreeing = known, None, 0
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            began = time.monotonic()
            try:
                self._sample()
            except Exception:  # noqa: BLE001 - the sampler must outlive any surprise
                log.exception("%s: pilot sampling failed", self._name)
                self._fault("pilot sampling failed", None)
            self._stop.wait(max(0.0, self.sample_period_s - (time.monotonic() - began)))

    def _sample(self) -> None:
        state, reading = self.measure()
        if state is None:
            if reading is None:  # the ADC failed: blind to the car, so no contactor
                self._fault(f"pilot ADC ({self.adc}) failed", None)
            return
        if state.is_error:
            self._fault(f"pilot reads {state.value} ({reading})", state)
            return
        if state is self._candidate:
            self._agreeing += 1
        else:
            self._candidate, self._agreeing = state, 1
        if self._agreeing >= self.samples_to_agree and state is not self._passed:
            self._passed = state
            self._on_state(state)

    def _fault(self, why: str, state: PilotState | None) -> None:
        self._candidate, self._agreeing, self._passed = None, 0, None
        self._on_fault(why, state)

    def _burst(self) -> tuple[PilotState | None, PilotReading | None]:
        generation, running = self._pwm.generation, self._pwm.running
        try:
            reading = measure_pilot(self.adc, min_samples=self.samples_per_burst)
        except Exception as error:  # noqa: BLE001 - a failing ADC is reported as a fault
            if not self._adc_failing:
                self._adc_failing = True
                log.error("%s: pilot ADC (%s) failed: %s", self._name, self.adc, error)
            return None, None
        if self._adc_failing:
            self._adc_failing = False
            log.warning("%s: pilot ADC (%s) answers again", self._name, self.adc)
        if self._pwm.generation != generation:
            return None, reading
        return classify_pilot(reading, pwm_running=running), reading

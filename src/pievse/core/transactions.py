"""A charging transaction and the energy it accounts for.

A transaction keeps the id token that started it whole, value and type: OCPP 1.6 sends only the
value (idTag), 2.0.1 the type with it (idToken in TransactionEvent)."""

from __future__ import annotations

from dataclasses import dataclass, field

from pievse.core.authorization import IdToken
from pievse.core.effects import MeterSample
from pievse.core.vocabulary import StopReason


@dataclass(slots=True)
class StopRequest:
    """A transaction the station is ending: PWM already off, waiting for the contactor to open."""

    reason: StopReason
    #: The card that ends it, if one does (the same card that started it, presented again).
    id_token: IdToken | None
    requested_at: float


@dataclass(slots=True)
class Transaction:
    ref: int
    connector_id: int
    #: None until someone is authorised (a transaction begun when the cable was plugged in).
    id_token: IdToken | None
    meter_start_wh: float
    started_at: float
    reservation_id: int | None = None
    #: The id the CSMS knows the transaction by: 1.6's, assigned in the StartTransaction answer
    #: (None until then); 2.0.1's, made by the station at the start (a string).
    transaction_id: int | str | None = None
    #: The CSMS refused the id tag after the start and StopTransactionOnInvalidId is false:
    #: the transaction goes on but no energy is offered.
    deauthorized: bool = False
    last_energy_wh: float = 0.0
    next_sample_at: float | None = None
    samples: list[MeterSample] = field(default_factory=list)
    stop: StopRequest | None = None
    #: A car has been connected since it began (an AUTHORIZED start waits for one).
    ev_seen: bool = False
    #: Energy has flowed (the contactor closed): an ENERGY_TRANSFER stop point may now end it.
    energy_flowed: bool = False
    #: The authorisation ended but the stop point is the cable: no energy until then.
    authorization_ended: bool = False
    #: When the car left a transaction that waits for it (None: the car is there, or never was).
    unplugged_at: float | None = None

    def __post_init__(self) -> None:
        self.last_energy_wh = self.meter_start_wh

    @property
    def energy_wh(self) -> float:
        """Energy delivered so far in this transaction."""
        return self.last_energy_wh - self.meter_start_wh

    def keep_sample(self, sample: MeterSample, limit: int) -> None:
        """Keep a sample for the transactionData of the stop message, within ``limit`` samples.

        When full, the oldest periodic sample after the begin sample goes first, so the begin and
        the most recent readings always survive.
        """
        self.samples.append(sample)
        if len(self.samples) > max(limit, 2):
            del self.samples[1]


@dataclass(frozen=True, slots=True)
class InterruptedTransaction:
    """A transaction that was running when the daemon died (kill -9, power cut, crash), as the
    store last saw it: what a restart needs to end it with the right energy."""

    ref: int
    connector_id: int
    id_token: IdToken | None
    meter_start_wh: float
    started_at: float
    transaction_id: int | str | None
    last_energy_wh: float
    last_energy_at: float


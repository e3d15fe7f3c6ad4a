"""What the core decides: the effects it hands to the daemon.

Every input method of ``Station`` returns the list of effects it caused, in the order they must be
carried out. Board commands come first in that list whenever safety is at stake (the contactor
opens before anything is reported), and the daemon executes them synchronously, before it awaits
anything else.
"""

from __future__ import annotations

from dataclasses import dataclass

from pievse.core.authorization import AuthorizationEntry, AuthorizationStatus, IdToken
from pievse.core.charging_profiles import InstalledProfile
from pievse.core.hardware import FaultKind, MeterReading
from pievse.core.reservations import Reservation, ReservationEnd
from pievse.core.tx_points import StartCause
from pievse.core.vocabulary import (
    ConnectorStatus,
    ErrorCode,
    ReadingContext,
    StopReason,
)

# --- to the board --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SetContactor:
    connector_id: int
    closed: bool


@dataclass(frozen=True, slots=True)
class SetPilot:
    """Offer ``amps`` on the pilot PWM, or ``0`` for steady +12 V (nothing offered)."""

    connector_id: int
    amps: float


@dataclass(frozen=True, slots=True)
class SetPhases:
    """Switch the board's phase relay to 1 or 3 phases; sent only while its contactor is open
    (see ``phase_switch.py``)."""

    connector_id: int
    phases: int


#: What the daemon carries out on the boards at once, before anything else.
BOARD_COMMANDS = (SetContactor, SetPilot, SetPhases)


@dataclass(frozen=True, slots=True)
class LockCable:
    """Drive a socket's cable lock; the outcome comes back as ``Station.cable_lock_changed``."""

    connector_id: int
    locked: bool


# --- to the protocol -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StatusChanged:
    connector_id: int  # 0 = the charge point as a whole
    status: ConnectorStatus
    error_code: ErrorCode
    info: str | None
    timestamp: float


@dataclass(frozen=True, slots=True)
class FaultsChanged:
    """The faults active on a connector changed: every one active now (empty: all cleared).
    Told after the contactor has opened, with the status that shows the first of them."""

    connector_id: int
    faults: frozenset[FaultKind]
    timestamp: float


@dataclass(frozen=True, slots=True)
class CableLockSettled:
    """The cable lock reached a position (``failed``: not the one it was driven to)."""

    connector_id: int
    locked: bool
    failed: bool


@dataclass(frozen=True, slots=True)
class AuthorizeRequest:
    """Ask the CSMS whether ``id_token`` may charge; answer with
    ``Station.authorization_result``."""

    id_token: IdToken


@dataclass(frozen=True, slots=True)
class MeterSample:
    """A reading to report: periodic or clock-aligned, or the begin/end of a transaction."""

    connector_id: int
    transaction_ref: int | None
    context: ReadingContext
    reading: MeterReading
    offered_current_a: float
    timestamp: float


@dataclass(frozen=True, slots=True)
class TransactionStarted:
    transaction_ref: int  # the station's own number; the CSMS's transactionId comes later
    connector_id: int
    #: None: begun when the cable was plugged in, before anyone was authorised (the token
    #: follows as ``TransactionAuthorized``); never so under the default start point.
    id_token: IdToken | None
    meter_start_wh: float
    timestamp: float
    reservation_id: int | None = None
    #: What made it begin (see ``tx_points.py``).
    cause: StartCause = StartCause.AUTHORIZED
    #: The number the CSMS gave the remote start that asked for it (2.0.1's remoteStartId).
    remote_start_id: int | None = None
    #: The car was connected when it began (not so at the authorisation, before the car).
    ev_connected: bool = True


@dataclass(frozen=True, slots=True)
class TransactionAuthorized:
    """A transaction begun before anyone was authorised got its id token: energy may flow."""

    transaction_ref: int
    connector_id: int
    id_token: IdToken
    timestamp: float
    remote_start_id: int | None = None


@dataclass(frozen=True, slots=True)
class EVConnectionChanged:
    """The car was unplugged from a transaction that goes on (it waits for the car:
    StopTransactionOnEVSideDisconnect false, or begun at the authorisation), or plugged in
    again (or for the first time)."""

    transaction_ref: int
    connector_id: int
    connected: bool
    timestamp: float


@dataclass(frozen=True, slots=True)
class TransactionDeauthorized:
    """The authorisation of a transaction ended (``reason``: by the card ``id_token``, the CSMS
    ...) but the transaction goes on until its stop point (the cable unplugged): no energy."""

    transaction_ref: int
    connector_id: int
    reason: StopReason
    id_token: IdToken | None
    timestamp: float


@dataclass(frozen=True, slots=True)
class TransactionStopped:
    transaction_ref: int
    transaction_id: int | str | None  # as the CSMS knows it, if it does already
    connector_id: int
    id_token: IdToken | None  # the card that stopped it, if one did
    meter_stop_wh: float
    timestamp: float
    reason: StopReason
    transaction_data: tuple[MeterSample, ...]


@dataclass(frozen=True, slots=True)
class ChargingProfilesChanged:
    """The charging profiles that must survive a restart changed: every one of them, with the
    connector it is installed on (TxProfiles end with their transaction and are left out)."""

    profiles: tuple[InstalledProfile, ...]


@dataclass(frozen=True, slots=True)
class LocalAuthListChanged:
    """SendLocalList changed the Local Authorization List: its version and every entry. Written
    whole, but only when the CSMS sends a list: the list can hold thousands of cards and must
    not be rewritten for every card tapped. (The Authorization Cache, which changes with the
    CSMS's answers, is no effect: the recorder writes it when ``Access.cache_revision`` moved,
    see ``access.py``.)"""

    list_version: int
    entries: tuple[AuthorizationEntry, ...]


@dataclass(frozen=True, slots=True)
class ReservationsChanged:
    """A reservation was made, used, cancelled or ended: the ones held now."""

    reservations: tuple[Reservation, ...]


@dataclass(frozen=True, slots=True)
class AvailabilityChanged:
    """ChangeAvailability (or a person at the station) changed what is in service: each
    connector's wanted availability (0: the station as a whole; True: Operative), as it will
    be once the transactions running now have ended. It survives a restart."""

    operative: tuple[tuple[int, bool], ...]


@dataclass(frozen=True, slots=True)
class ReservationEnded:
    """The station ended a reservation itself: it expired, or its connector went out of
    service (a reservation used by its transaction, or cancelled by the CSMS, is no such end)."""

    reservation: Reservation
    why: ReservationEnd


@dataclass(frozen=True, slots=True)
class LocalLimit:
    """A local limit a person set: its source ("api", "mqtt"), its connector (None: the whole
    station) and its amps."""

    source: str
    connector_id: int | None
    amps: float


@dataclass(frozen=True, slots=True)
class LocalLimitInForce:
    """The lowest local limit on a connector, where it is below what the connector could
    offer anyway, changed: its source ("site", "solar", "api", "mqtt") and amps; both None when
    none is left. For the CSMS (2.0.1's NotifyChargingLimit and ClearedChargingLimit)."""

    connector_id: int
    source: str | None
    amps: float | None


@dataclass(frozen=True, slots=True)
class LocalLimitsChanged:
    """The local limits that survive a restart changed: every one of them."""

    limits: tuple[LocalLimit, ...]


# --- to the person at the station ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TokenAnswered:
    """The verdict on a presented card, for a buzzer, an LED or a log line."""

    id_token: IdToken
    accepted: bool
    status: AuthorizationStatus | None
    connector_id: int | None
    info: str


# --- to the daemon -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ResetNow:
    """Every transaction is stopped: the daemon may now restart (soft) or reboot (hard)."""

    hard: bool


Effect = (
    SetContactor
    | SetPilot
    | SetPhases
    | LockCable
    | CableLockSettled
    | StatusChanged
    | FaultsChanged
    | AuthorizeRequest
    | MeterSample
    | TransactionStarted
    | TransactionAuthorized
    | TransactionDeauthorized
    | EVConnectionChanged
    | TransactionStopped
    | TokenAnswered
    | ResetNow
    | ChargingProfilesChanged
    | LocalAuthListChanged
    | ReservationsChanged
    | ReservationEnded
    | LocalLimitsChanged
    | LocalLimitInForce
    | AvailabilityChanged
)

"""The knobs of the station's behaviour.

They come from the config file and from the CSMS (OCPP configuration keys, 2.0.1 device model
variables). The core does not know those names: an adapter maps them onto these fields.
"""

from __future__ import annotations

from dataclasses import dataclass

from pievse.core.tx_points import TxPoint, TxPoints

_POWER_PATH_CLOSED = frozenset({TxPoint.POWER_PATH_CLOSED})


@dataclass(frozen=True, slots=True)
class StationSettings:
    #: Installation maximum per connector (A): the CSMS may lower what is offered, never raise it.
    max_current_a: float = 32.0
    #: Nominal phase-to-neutral voltage and the phases wired: they turn limits in watts into amps.
    nominal_voltage_v: float = 230.0
    phases: int = 3
    #: A car in state D needs ventilation; without it state D is treated as a fault.
    ventilation_available: bool = False
    #: After the PWM stops, how long to wait for the car to leave state C before opening the
    #: contactor under load anyway (IEC 61851 gives the car a few seconds).
    stop_grace_s: float = 3.0
    #: After a crash or power cut, go on with a transaction whose car is still plugged in
    #: (instead of stopping it with reason PowerLoss).
    resume_interrupted_transactions: bool = False

    # OCPP Core behaviour
    authorize_remote_tx_requests: bool = True
    connection_timeout_s: float = 60.0
    stop_transaction_on_ev_side_disconnect: bool = True
    stop_transaction_on_invalid_id: bool = True
    allow_offline_tx_for_unknown_id: bool = False
    meter_value_sample_interval_s: float = 60.0
    clock_aligned_data_interval_s: float = 0.0
    #: Upper bound of the samples a transaction keeps for the StopTransaction transactionData.
    max_transaction_samples: int = 200
    #: MaxEnergyOnInvalidId: with StopTransactionOnInvalidId false, the energy (Wh, counted from
    #: the transaction's start) a transaction whose id tag the CSMS refused may still take
    #: before the station suspends it. 0: none at all once the refusal is known.
    max_energy_on_invalid_id_wh: float = 0.0
    #: Where a transaction begins and ends (2.0.1's TxStartPoint and TxStopPoint; 1.6's are
    #: the default, see ``tx_points.py``).
    tx_start_points: frozenset[TxPoint] = _POWER_PATH_CLOSED
    tx_stop_points: frozenset[TxPoint] = _POWER_PATH_CLOSED

    # Local authorisation (OCPP 1.6 section 3.5): the names are the ones ``AuthorizationRules``
    # of ``authorization.py`` reads, so the settings are passed to its decisions as they are.
    #: LocalAuthorizeOffline: offline, a card the list or cache hold as valid starts at once.
    local_authorize_offline: bool = True
    #: LocalPreAuthorize: online, a card the list or cache hold as Accepted starts without
    #: waiting for the CSMS's Authorize answer.
    local_pre_authorize: bool = False
    #: AuthorizationCacheEnabled: keep the CSMS's verdicts on id tags (disabled: emptied).
    authorization_cache_enabled: bool = True
    #: LocalAuthListEnabled: consult the list the CSMS sends with SendLocalList.
    local_auth_list_enabled: bool = True
    #: MasterPassGroupId (2.0.1 C16): a card of this group stops every running transaction and
    #: starts none. None: no master pass.
    master_pass_group_id: str | None = None

    # Reservation profile
    #: ReserveConnectorZeroSupported: ReserveNow for connector 0 holds *some* connector free.
    reserve_connector_zero_supported: bool = True

    @property
    def tx_points(self) -> TxPoints:
        return TxPoints(self.tx_start_points, self.tx_stop_points)

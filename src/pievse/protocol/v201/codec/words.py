"""The core's words in OCPP 2.0.1's and back: id token types, authorization statuses, connector
statuses, stop reasons and the trigger reasons of transaction events, and the answers to the
CSMS's commands. The only place that knows these 2.0.1 enumerations.

2.0.1's connector status is coarser than the core's (1.6's) words: every status of a connector
in use (Preparing, Charging, SuspendedEV, SuspendedEVSE, Finishing) is Occupied, and what the car
does shows as the transaction's chargingState instead.
"""

from __future__ import annotations

from typing import Any

from pievse.core.answers import (
    AvailabilityStatus, EvseResetStatus, RemoteStartStopStatus, ResetStatus)
from pievse.core.authorization import (
    AuthorizationResult,
    AuthorizationStatus,
    IdToken,
    IdTokenType,
)
from pievse.core.vocabulary import ConnectorStatus, StopReason
from pievse.protocol.common.security_events import SecurityEvent
from pievse.protocol.common.datetimes import format_datetime, parse_datetime

__all__ = [
    "charging_state",
    "encode_availability_status",
    "connector_status",
    "decode_id_token",
    "decode_id_token_info",
    "encode_id_token",
    "encode_remote_status",
    "encode_evse_reset_status",
    "encode_reset_status",
    "security_event_notification",
    "stopped_reason",
    "stop_trigger_reason",
]

_TOKEN_TYPES = {
    IdTokenType.CENTRAL: "Central",
    IdTokenType.EMAID: "eMAID",
    IdTokenType.ISO14443: "ISO14443",
    IdTokenType.ISO15693: "ISO15693",
    IdTokenType.KEY_CODE: "KeyCode",
    IdTokenType.LOCAL: "Local",
    IdTokenType.MAC_ADDRESS: "MacAddress",
    IdTokenType.NO_AUTHORIZATION: "NoAuthorization",
}
_TOKEN_TYPES_BACK = {word: kind for kind, word in _TOKEN_TYPES.items()}

# 2.0.1 names more ways to refuse a token than the core tells apart: each of them is a refusal,
# which the core treats as Invalid.
_AUTHORIZATION = {
    "Accepted": AuthorizationStatus.ACCEPTED,
    "Blocked": AuthorizationStatus.BLOCKED,
    "ConcurrentTx": AuthorizationStatus.CONCURRENT_TX,
    "Expired": AuthorizationStatus.EXPIRED,
    "Invalid": AuthorizationStatus.INVALID,
}

_CONNECTOR_STATUS = {
    ConnectorStatus.AVAILABLE: "Available",
    ConnectorStatus.RESERVED: "Reserved",
    ConnectorStatus.UNAVAILABLE: "Unavailable",
    ConnectorStatus.FAULTED: "Faulted",
}

_CHARGING_STATE = {
    ConnectorStatus.PREPARING: "EVConnected",
    ConnectorStatus.CHARGING: "Charging",
    ConnectorStatus.SUSPENDED_EV: "SuspendedEV",
    ConnectorStatus.SUSPENDED_EVSE: "SuspendedEVSE",
    ConnectorStatus.FINISHING: "EVConnected",
}

# 2.0.1 has no reset of a kind (a Reset is Immediate or OnIdle, and only Immediate stops
# transactions) and no UnlockCommand among its stop reasons.
_STOPPED_REASON = {
    StopReason.DE_AUTHORIZED: "DeAuthorized",
    StopReason.EMERGENCY_STOP: "EmergencyStop",
    StopReason.EV_DISCONNECTED: "EVDisconnected",
    StopReason.HARD_RESET: "ImmediateReset",
    StopReason.LOCAL: "Local",
    StopReason.OTHER: "Other",
    StopReason.POWER_LOSS: "PowerLoss",
    StopReason.REBOOT: "Reboot",
    StopReason.REMOTE: "Remote",
    StopReason.SOFT_RESET: "ImmediateReset",
    StopReason.UNLOCK_COMMAND: "Other",
    StopReason.TIMEOUT: "Timeout",
    StopReason.STOPPED_BY_EV: "StoppedByEV",
    StopReason.MASTER_PASS: "MasterPass",
}

_STOP_TRIGGER = {
    StopReason.DE_AUTHORIZED: "Deauthorized",
    StopReason.EV_DISCONNECTED: "EVCommunicationLost",
    StopReason.HARD_RESET: "ResetCommand",
    StopReason.LOCAL: "StopAuthorized",
    StopReason.REMOTE: "RemoteStop",
    StopReason.SOFT_RESET: "ResetCommand",
    StopReason.UNLOCK_COMMAND: "UnlockCommand",
    StopReason.TIMEOUT: "EVConnectTimeout",
    StopReason.STOPPED_BY_EV: "ChargingStateChanged",
    StopReason.MASTER_PASS: "StopAuthorized",
}


def encode_id_token(token: IdToken) -> dict[str, str]:
    return {"idToken": token.value, "type": _TOKEN_TYPES[token.type]}


def decode_id_token(token: dict[str, Any]) -> IdToken:
    """An IdTokenType of the wire (snake_case or camelCase keys, as the RPC layer gives them)."""
    value = token.get("id_token", token.get("idToken"))
    return IdToken(value, _TOKEN_TYPES_BACK[token["type"]])


def decode_id_token_info(info: dict[str, Any]) -> AuthorizationResult:
    """An IdTokenInfoType as the core's authorization result (the schema checked its shape; an
    expiry that cannot be read costs only the expiry)."""
    status = _AUTHORIZATION.get(info["status"], AuthorizationStatus.INVALID)
    expiry = info.get("cache_expiry_date_time", info.get("cacheExpiryDateTime"))
    try:
        expires_at = parse_datetime(expiry) if expiry is not None else None
    except (ValueError, OverflowError):
        expires_at = None
    group = info.get("group_id_token", info.get("groupIdToken"))
    return AuthorizationResult(status, expires_at,
                               decode_id_token(group) if group is not None else None)


def connector_status(status: ConnectorStatus) -> str:
    """ConnectorStatusEnumType: a connector in use is Occupied."""
    return _CONNECTOR_STATUS.get(status, "Occupied")


def charging_state(status: ConnectorStatus) -> str | None:
    """ChargingStateEnumType of a connector in use (None: not in use)."""
    return _CHARGING_STATE.get(status)


def stopped_reason(reason: StopReason) -> str:
    return _STOPPED_REASON[reason]


def stop_trigger_reason(reason: StopReason) -> str:
    """The triggerReason of the Ended event: what made the transaction end."""
    return _STOP_TRIGGER.get(reason, "AbnormalCondition")


def encode_reset_status(status: ResetStatus) -> str:
    return "Accepted" if status is ResetStatus.ACCEPTED else "Rejected"


def encode_evse_reset_status(status: EvseResetStatus) -> str:
    return {EvseResetStatus.ACCEPTED: "Accepted", EvseResetStatus.SCHEDULED: "Scheduled",
            EvseResetStatus.REJECTED: "Rejected"}[status]


def encode_remote_status(status: RemoteStartStopStatus) -> str:
    return "Accepted" if status is RemoteStartStopStatus.ACCEPTED else "Rejected"


def encode_availability_status(status: AvailabilityStatus) -> str:
    return {AvailabilityStatus.ACCEPTED: "Accepted", AvailabilityStatus.REJECTED: "Rejected",
            AvailabilityStatus.SCHEDULED: "Scheduled"}[status]


# 2.0.1 says CSMS and Charging Station where the white paper said Central System and Charge
# Point; the other events keep their names.
_SECURITY_EVENTS = {
    SecurityEvent.FAILED_TO_AUTHENTICATE_AT_CENTRAL_SYSTEM: "FailedToAuthenticateAtCsms",
    SecurityEvent.CENTRAL_SYSTEM_FAILED_TO_AUTHENTICATE: "CsmsFailedToAuthenticate",
    SecurityEvent.INVALID_CENTRAL_SYSTEM_CERTIFICATE: "InvalidCsmsCertificate",
    SecurityEvent.INVALID_CHARGE_POINT_CERTIFICATE: "InvalidChargingStationCertificate",
}


def security_event_notification(event: SecurityEvent, at: float,
                                tech_info: str | None = None) -> Any:
    """The SecurityEventNotification of one event at ``at`` (epoch seconds)."""
    from ocpp.v201 import call

    return call.SecurityEventNotification(
        type=_SECURITY_EVENTS.get(event, event.value), timestamp=format_datetime(at),
        tech_info=tech_info[:255] if tech_info else None)

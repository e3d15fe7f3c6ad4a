"""What an OCPP adapter is given besides the station, whatever its version.

Both adapters are built from the same parts (who the charge point is, the clock and the outbox,
the services behind firmware, diagnostics, logs and certificates, and the callbacks its owner
hears), so the composition root and the fleet fill one object, and a part added for one version
is there for the other. A version's own options (2.0.1's boot reason, say) stay arguments of its
adapter.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pievse.aio import AsyncClock
    from pievse.protocol.common.customer_data import SessionHistory
    from pievse.protocol.common.outbox import Outbox
    from pievse.protocol.common.transport_security import SecurityState
    from pievse.services.certificates import CertificateStore, KeyType
    from pievse.services.diagnostics import DiagnosticsUploader
    from pievse.services.firmware import FirmwareUpdater
    from pievse.services.log_upload import LogUploader
    from pievse.services.network_profiles import NetworkProfiles

__all__ = ["ChargePointParts"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ChargePointParts:
    """The parts of one charge point an adapter speaks for.

    ``firmware``, ``diagnostics`` and ``logs`` are the services behind the firmware update, the
    diagnostics upload and the log upload (without them these are refused). ``certificates``
    and ``security_state`` are the link's security (profile, Basic password, certificates);
    ``organization_name`` and ``key_type`` go into the certificate signing requests.
    ``history`` is the session history (2.0.1's CustomerInformation reports and clears a
    customer's sessions in it). ``on_csms_time(t)`` hears the CSMS's time from each answer to a
    BootNotification;
    ``on_security_change(what)`` hears of a new profile, password or certificate once its
    answer is out (the owner then reconnects with it).
    """

    vendor: str
    model: str
    serial_number: str | None = None
    #: The charge point's identity on the link (the last part of the CSMS's URL).
    charge_point_id: str = ""
    #: The operator's name (1.6's CpoName, 2.0.1's OrganizationName).
    organization_name: str = ""
    #: How long a CALL waits for its answer (s), unless ``message_timeout`` says otherwise.
    response_timeout: float = 30.0
    #: The timeout of the connection in use, read as each opens, where the owner picks among
    #: connections of their own timeouts (a 2.0.1 network profile's messageTimeout).
    message_timeout: Callable[[], float] | None = None
    clock: AsyncClock | None = None
    outbox: Outbox | None = None
    firmware: FirmwareUpdater | None = None
    diagnostics: DiagnosticsUploader | None = None
    logs: LogUploader | None = None
    certificates: CertificateStore | None = None
    security_state: SecurityState | None = None
    key_type: KeyType | None = None
    #: The connections the CSMS stored (2.0.1 SetNetworkProfile); None: it may store none.
    network_profiles: NetworkProfiles | None = None
    history: SessionHistory | None = None
    on_ping_interval: Callable[[int], None] | None = None
    on_csms_time: Callable[[float], None] | None = None
    on_connection_change: Callable[[], None] | None = None
    on_security_change: Callable[[str], None] | None = None

    def timeout_in_force(self) -> float:
        """How long a CALL waits for its answer on the connection in use (s)."""
        return self.response_timeout if self.message_timeout is None else self.message_timeout()

"""A Security, as far as this slice goes: the variables of SecurityCtrlr, and a new
BasicAuthPassword set by the CSMS (A01).

The password is write-only: the CSMS may set it, never read it back, and it is never logged (the
frames that carry it are blanked in the log). A new one must be 16 to 40 printable ASCII
characters; it goes to the security state, a ReconfigurationOfSecurityParameters event is
reported, and once the answer is on the wire the owner reconnects with it (falling back to the
previous one if it cannot connect, as under 1.6). The security profile in force is the security
state's.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

from pievse.protocol.common.security_events import SecurityEvent
from pievse.protocol.common.transport_security import (
    check_authorization_key,
    redact_credentials,
)
from pievse.protocol.v201.context import Context
from pievse.protocol.v201.device_model import DataType, Mutability, SetResult, Variable

__all__ = ["PasswordRedactor", "SecurityBlock"]

RO = Mutability.READ_ONLY


class PasswordRedactor(logging.Filter):
    """Blanks every attributeValue of an OCPP frame that names BasicAuthPassword, in the frames
    logged at debug level and those quoted in warnings (the value and the name may stand in
    either order, with other variables between them)."""

    _VALUE = re.compile(r'("attributeValue"\s*:\s*")(?:[^"\\]|\\.)*("?)')

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(
                isinstance(a, str) and "BasicAuthPassword" in a for a in record.args):
            record.args = tuple(self._VALUE.sub(r"\1[redacted]\2", a) if isinstance(a, str)
                                else a for a in record.args)
        return True


PASSWORD_REDACTOR = PasswordRedactor()


class SecurityBlock:
    def __init__(self, context: Context, *, identity: str, organization_name: str,
                 on_security_change: Callable[[str], None] | None = None) -> None:
        self.context = context
        self.state = context.security_state
        self._identity = identity
        self._organization_name = organization_name
        self._on_security_change = on_security_change or (lambda what: None)
        self._changed = False
        redact_credentials(logging.getLogger("pievse.ocpp"), logging.getLogger("pievse.csms"),
                           redactor=PASSWORD_REDACTOR)

    def variables(self) -> list[Variable]:
        state, security = self.state, "SecurityCtrlr"
        shown = [
            Variable(security, "SecurityProfile", DataType.INTEGER, 0, RO, persistent=False,
                     read=lambda: int(state.profile) if state is not None else 0),
            Variable(security, "Identity", DataType.STRING, self._identity, RO),
            # The O of the certificate signing requests: 1.6's CpoName, kept under its name.
            Variable(security, "OrganizationName", DataType.STRING, self._organization_name,
                     key="CpoName"),
        ]
        if state is not None:
            shown.append(Variable(security, "BasicAuthPassword", DataType.STRING, "",
                                  Mutability.WRITE_ONLY, write=self._change_password,
                                  answered=self._announce_change))
        return shown

    def _change_password(self, value: str) -> tuple[SetResult, str]:
        wrong = check_authorization_key(value)
        if wrong:
            return SetResult.REJECTED, f"it {wrong}"
        assert self.state is not None
        self.state.change(authorization_key=value)
        assert self.context.security_events is not None
        self.context.security_events.report(SecurityEvent.RECONFIGURATION_OF_SECURITY_PARAMETERS,
                           "BasicAuthPassword changed")
        self._changed = True
        return SetResult.ACCEPTED, "changed (the value is never logged)"

    def _announce_change(self) -> None:
        if self._changed:
            self._changed = False
            self._on_security_change("authorization_key")

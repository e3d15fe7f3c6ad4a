"""The CSMS's HTTP control endpoint: steer the bench CSMS from a shell or another program.

    GET  /charge-points                        every charge point seen, connected or not
    GET  /charge-points/{id}                   one of them
    GET  /transactions                         every transaction (without its meter values)
    GET  /transactions/{transactionId}         one, with its meter values
    POST /charge-points/{id}/{command}         send a command; the body is its OCPP payload

``command`` is a short name (``remote-start``, ``remote-stop``, ``reset``, ``change-configuration``,
``get-configuration``, ``set-charging-profile``, ``clear-charging-profile``,
``get-composite-schedule``, ``trigger-message``, ``change-availability``, ``unlock-connector``,
``clear-cache``, ``data-transfer``) or any OCPP 1.6 action name (``GetDiagnostics``). The request
body is the OCPP request payload itself, in camelCase: ``{"idTag": "04A1B2C3", "connectorId": 1}``
for a remote start. The answer is the charge point's CALLRESULT payload (200); a CALLERROR comes
back as 502 with its ``errorCode``, no answer in time as 504. ``POST .../drop-connection`` closes
the charge point's websocket.

A deliberately tiny HTTP/1.1 server on ``asyncio.start_server``: one request per connection,
JSON in and out, ``Connection: close``. Enough for curl and urllib, no new dependency.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from http import HTTPStatus
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from pievse.csms.session import (
    CallErrorResponse,
    ChargePointNotConnected,
    InvalidRequest,
    InvalidResponse,
)

if TYPE_CHECKING:
    from pievse.csms.server import CentralSystem

COMMANDS = {
    "remote-start": "RemoteStartTransaction",
    "remote-stop": "RemoteStopTransaction",
    "reset": "Reset",
    "change-configuration": "ChangeConfiguration",
    "get-configuration": "GetConfiguration",
    "set-charging-profile": "SetChargingProfile",
    "clear-charging-profile": "ClearChargingProfile",
    "get-composite-schedule": "GetCompositeSchedule",
    "trigger-message": "TriggerMessage",
    "change-availability": "ChangeAvailability",
    "unlock-connector": "UnlockConnector",
    "clear-cache": "ClearCache",
    "data-transfer": "DataTransfer",
}

# The CSMS-to-charge-point actions of OCPP 1.6 (Core, firmware, local list, reservation, smart
# charging, remote trigger): the ones a command may name directly.
CSMS_ACTIONS = frozenset({
    "CancelReservation", "ChangeAvailability", "ChangeConfiguration", "ClearCache",
    "ClearChargingProfile", "DataTransfer", "GetCompositeSchedule", "GetConfiguration",
    "GetDiagnostics", "GetLocalListVersion", "RemoteStartTransaction", "RemoteStopTransaction",
    "ReserveNow", "Reset", "SendLocalList", "SetChargingProfile", "TriggerMessage",
    "UnlockConnector", "UpdateFirmware",
})

MAX_BODY = 1 << 20
READ_TIMEOUT_S = 10.0


class HttpError(Exception):
    def __init__(self, status: HTTPStatus, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"error": message, **extra}


class ControlServer:
    """Serves the control API of one CentralSystem."""

    def __init__(self, central: CentralSystem, host: str, port: int) -> None:
        self.central = central
        self.host = host
        self._requested_port = port
        self._server: asyncio.Server | None = None
        self.log = logging.getLogger("pievse.csms.control")

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, self._requested_port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 5)
            self._server = None

    @property
    def port(self) -> int:
        assert self._server is not None, "control endpoint not started"
        return self._server.sockets[0].getsockname()[1]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            try:
                method, path, body = await asyncio.wait_for(_read_request(reader),
                                                            READ_TIMEOUT_S)
                status, answer = HTTPStatus.OK, await self.route(method, path, body)
            except HttpError as error:
                status, answer = error.status, error.body
            except TimeoutError:
                status, answer = HTTPStatus.REQUEST_TIMEOUT, {"error": "request not complete"}
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
                status, answer = HTTPStatus.BAD_REQUEST, {"error": "not an HTTP/1.1 request"}
            data = json.dumps(answer, indent=2, ensure_ascii=False, default=str).encode() + b"\n"
            head = (
                f"HTTP/1.1 {status.value} {status.phrase}\r\n"
                "Content-Type: application/json; charset=utf-8\r\n"
                f"Content-Length: {len(data)}\r\n"
                "Connection: close\r\n\r\n"
            )
            writer.write(head.encode("ascii") + data)
            await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def route(self, method: str, target: str, body: bytes) -> Any:
        parts = [unquote(p) for p in urlsplit(target).path.strip("/").split("/") if p]
        central = self.central
        if method == "GET":
            if parts == ["charge-points"]:
                return {cp_id: cp.as_json() for cp_id, cp in central.charge_points.items()}
            if len(parts) == 2 and parts[0] == "charge-points":
                cp = central.charge_points.get(parts[1])
                if cp is None:
                    raise HttpError(HTTPStatus.NOT_FOUND, f"no charge point {parts[1]!r}")
                return cp.as_json()
            if parts == ["transactions"]:
                return [tx.as_json() for tx in central.transactions.values()]
            if len(parts) == 2 and parts[0] == "transactions":
                try:
                    tx = central.transactions.get(int(parts[1]))
                except ValueError:
                    tx = None
                if tx is None:
                    raise HttpError(HTTPStatus.NOT_FOUND, f"no transaction {parts[1]!r}")
                return tx.as_json(with_meter_values=True)
        elif method == "POST" and len(parts) == 3 and parts[0] == "charge-points":
            return await self._command(parts[1], parts[2], body)
        raise HttpError(HTTPStatus.NOT_FOUND, f"nothing at {method} {target}",
                        see=["GET /charge-points", "GET /transactions",
                             "POST /charge-points/{id}/{command}"])

    async def _command(self, cp_id: str, command: str, body: bytes) -> Any:
        try:
            payload = json.loads(body) if body.strip() else {}
        except ValueError as error:
            raise HttpError(HTTPStatus.BAD_REQUEST, f"the body is not JSON: {error}") from None
        if not isinstance(payload, dict):
            raise HttpError(HTTPStatus.BAD_REQUEST, "the body must be a JSON object")
        if command == "drop-connection":
            try:
                await self.central.drop_connection(cp_id, abrupt=bool(payload.get("abrupt")))
            except ChargePointNotConnected as error:
                raise HttpError(HTTPStatus.NOT_FOUND, str(error)) from None
            return {"dropped": cp_id}
        action = COMMANDS.get(command, command if command in CSMS_ACTIONS else None)
        if action is None:
            raise HttpError(HTTPStatus.NOT_FOUND, f"unknown command {command!r}",
                            commands=sorted(COMMANDS) + ["drop-connection"])
        try:
            return await self.central.call(cp_id, action, payload)
        except ChargePointNotConnected as error:
            raise HttpError(HTTPStatus.NOT_FOUND, str(error)) from None
        except InvalidRequest as error:
            raise HttpError(HTTPStatus.BAD_REQUEST, str(error)) from None
        except CallErrorResponse as error:
            raise HttpError(HTTPStatus.BAD_GATEWAY, str(error), errorCode=error.code,
                            errorDescription=error.description,
                            errorDetails=error.details) from None
        except InvalidResponse as error:
            raise HttpError(HTTPStatus.BAD_GATEWAY, str(error), answer=error.payload) from None
        except TimeoutError as error:
            raise HttpError(HTTPStatus.GATEWAY_TIMEOUT, str(error)) from None


async def _read_request(reader: asyncio.StreamReader) -> tuple[str, str, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, target, version = lines[0].split(" ")
    if not version.startswith("HTTP/1."):
        raise ValueError(version)
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    if length < 0 or length > MAX_BODY:
        raise HttpError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"body over {MAX_BODY} bytes")
    body = await reader.readexactly(length) if length else b""
    return method.upper(), target, body

"""The embedded OCPP 1.6J central system: a bench CSMS for makers, the demo and our tests.

``from pievse.csms import CentralSystem`` works, but imports the server (and the ``ocpp`` package)
only when first asked for: ``pievse.csms.cli`` is imported by every ``pievse`` command and must
stay light.

- ``server``: ``CentralSystem``, the websocket server, its ledger and its commands;
- ``session``: one charge point's connection, on the charge point's own RPC layer;
- ``ledger``: the records of frames, transactions and charge points, and waiting on them;
- ``control``: the HTTP control endpoint;
- ``cli``: ``pievse csms``.
"""

from __future__ import annotations

from typing import Any

_LAZY = {
    "CentralSystem": "pievse.csms.server",
    "CallErrorResponse": "pievse.csms.session",
    "ChargePointNotConnected": "pievse.csms.session",
    "InvalidRequest": "pievse.csms.session",
    "InvalidResponse": "pievse.csms.session",
    "Message": "pievse.csms.ledger",
    "Transaction": "pievse.csms.ledger",
    "ChargePointRecord": "pievse.csms.ledger",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)

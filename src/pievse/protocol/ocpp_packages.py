"""``ocpp``'s version packages, importable without their ``ChargePoint``.

pievse uses the ``ocpp`` package's message modules (``ocpp.v16.call``, ``call_result``,
``enums``, ``datatypes``) and its own session (:mod:`pievse.protocol.common.rpc`). But each
version package's ``__init__`` defines ``ChargePoint`` by importing ``ocpp.charge_point``, which
imports ``ocpp.messages`` and with it ``jsonschema``: 3 MiB of a running charge point's resident
memory, for a validator pievse never uses (it validates with its own compiled schemas). Python
runs a package's ``__init__`` before any of its submodules, so ``from ocpp.v16 import call``
alone pays for it.

:func:`defer_charge_points` registers each version package from its import spec *without*
running its ``__init__``: its submodules import as usual (and, read as an attribute of the
package, are imported as the ``__init__`` would have). The package gets a module ``__getattr__``
(PEP 562) that runs the real ``__init__`` the first time any other name it does not have yet is
read, such as ``ChargePoint``; from then on the package is exactly the one ``ocpp`` ships. A
package imported already is left as it is. ``pievse.protocol`` calls it on import, before any
module of ours imports ``ocpp``.
"""

from __future__ import annotations

import importlib.util
import sys
import threading
from typing import Any

__all__ = ["VERSION_PACKAGES", "defer_charge_points"]

#: The packages whose ``__init__`` only adds a ``ChargePoint`` to their message modules.
VERSION_PACKAGES = ("ocpp.v16", "ocpp.v201", "ocpp.v21")

_running_init = threading.RLock()


def defer_charge_points() -> None:
    """Register each version package not imported yet without running its ``__init__``."""
    for name in VERSION_PACKAGES:
        if name not in sys.modules:
            _register_deferred(name)


def _register_deferred(name: str) -> None:
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        return  # not in this version of ocpp: nothing to defer
    package = importlib.util.module_from_spec(spec)

    def run_init(attribute: str) -> Any:
        if attribute.isidentifier() and not attribute.startswith("__"):
            # "from ocpp.v16 import call" asks for the attribute before importing the submodule.
            if importlib.util.find_spec(f"{name}.{attribute}") is not None:
                return importlib.import_module(f"{name}.{attribute}")
        elif attribute != "__all__":
            # Dunder names are asked for by tools probing a module (copy, pickle, inspect): the
            # __init__ defines none. "from ocpp.v16 import *" asks for __all__ (which it does not
            # define either) and then takes every public name: ChargePoint must be among them.
            raise AttributeError(f"module {name!r} has no attribute {attribute!r}")
        with _running_init:
            if package.__dict__.get("__getattr__") is run_init:
                # Gone before the __init__ runs: its own "from ocpp.v16 import call" must find
                # a missing submodule missing, not come back here.
                del package.__getattr__
                try:
                    spec.loader.exec_module(package)
                except BaseException:
                    package.__getattr__ = run_init  # type: ignore[method-assign]
                    raise
        return getattr(package, attribute)

    package.__getattr__ = run_init  # type: ignore[method-assign]
    sys.modules[name] = package
    parent, _, child = name.rpartition(".")
    setattr(sys.modules[parent], child, package)

"""The parts of ``cryptography`` that pievse uses, imported at their first use.

``cryptography`` costs a charge point about 8-16 MiB of resident memory (its compiled core is
large): a station on security profiles 0-2 that never handles a certificate never loads it.
Type checkers see the real modules.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pievse.lazy import LazyModule

if TYPE_CHECKING:
    from cryptography import exceptions, x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
    from cryptography.x509 import oid, verification
else:
    exceptions = LazyModule("cryptography.exceptions")
    x509 = LazyModule("cryptography.x509")
    hashes = LazyModule("cryptography.hazmat.primitives.hashes")
    serialization = LazyModule("cryptography.hazmat.primitives.serialization")
    ec = LazyModule("cryptography.hazmat.primitives.asymmetric.ec")
    padding = LazyModule("cryptography.hazmat.primitives.asymmetric.padding")
    rsa = LazyModule("cryptography.hazmat.primitives.asymmetric.rsa")
    utils = LazyModule("cryptography.hazmat.primitives.asymmetric.utils")
    oid = LazyModule("cryptography.x509.oid")
    verification = LazyModule("cryptography.x509.verification")

__all__ = ["ec", "exceptions", "hashes", "oid", "padding", "rsa", "serialization", "utils",
           "verification", "x509"]

"""Signed firmware (OCPP 1.6 security extension, SignedUpdateFirmware): who may sign pievse,
and whether this file is what they signed.

The manufacturer (whoever builds the pievse wheels a fleet runs) keeps a root CA offline and
issues a *firmware signing certificate* under it. The CSMS installs the root on the charge point
as a ManufacturerRootCertificate (InstallCertificate) once. For each release the manufacturer
signs the wheel file, byte for byte, with the signing key; the CSMS sends SignedUpdateFirmware
with the location, the signing certificate (PEM) and the signature (base64). The charge point:

1. before answering, checks the signing certificate: it must chain to an installed
   ManufacturerRootCertificate, be valid now, not be a CA, and, where it says what its key is
   for, allow digital signatures (keyUsage) and code signing (extendedKeyUsage). Otherwise the
   answer is InvalidCertificate and a security event InvalidFirmwareSigningCertificate goes out;
2. after the download, verifies the signature over the whole file with the certificate's key:
   SHA-256 with ECDSA, or with RSA (PKCS#1 v1.5 or PSS; white paper editions name either, and
   tools such as ``openssl dgst -sha256 -sign`` make the former). A mismatch is InvalidSignature
   and a security event InvalidFirmwareSignature, and nothing is installed.

Revocation (RevokedCertificate) is not checked: there is no CRL or OCSP responder to ask.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import datetime as dt
import hashlib
from pathlib import Path

from pievse.services.certificates import chain_error
from pievse.services.cryptography_modules import (
    ec,
    exceptions,
    hashes,
    oid,
    padding,
    rsa,
    utils,
    x509,
)
from pievse.services.firmware_rollback import FirmwareError

__all__ = ["SignatureError", "check_signing_certificate", "verify_file_signature"]

UTC = dt.timezone.utc


class SignatureError(FirmwareError):
    """The firmware's signature does not verify with its signing certificate."""


def _load(pem: str) -> list[x509.Certificate]:
    try:
        return x509.load_pem_x509_certificates(pem.encode())
    except ValueError:
        return []


def check_signing_certificate(pem: str, roots: list[x509.Certificate],
                              now: dt.datetime | None = None) -> str | None:
    """Why the firmware signing certificate ``pem`` (the leaf, then any intermediate CAs) must
    be refused, or None if it chains to one of the manufacturer ``roots`` and may sign."""
    now = now or dt.datetime.now(UTC)
    chain = _load(pem)
    if not chain:
        return "not a PEM certificate"
    leaf, intermediates = chain[0], chain[1:]
    if not roots:
        return "no ManufacturerRootCertificate is installed to verify it against"
    if not leaf.not_valid_before_utc <= now < leaf.not_valid_after_utc:
        return (f"it is valid from {leaf.not_valid_before_utc:%Y-%m-%d} to "
                f"{leaf.not_valid_after_utc:%Y-%m-%d}, not now")
    with contextlib.suppress(x509.ExtensionNotFound):
        if leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca:
            return "it is a CA certificate, not a signing certificate"
    with contextlib.suppress(x509.ExtensionNotFound):
        if not leaf.extensions.get_extension_for_class(x509.KeyUsage).value.digital_signature:
            return "its keyUsage does not allow digital signatures"
    with contextlib.suppress(x509.ExtensionNotFound):
        usages = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        signing = {oid.ExtendedKeyUsageOID.CODE_SIGNING,
                   oid.ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE}
        if not signing & set(usages):
            return "its extendedKeyUsage does not allow code signing"
    if not isinstance(leaf.public_key(), rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
        return "its key is neither RSA nor EC"
    # The leaf was checked above, for what a signer needs rather than what a TLS client needs.
    error = chain_error(leaf, intermediates, list(roots), now)
    if error is not None:
        return f"it does not chain to an installed ManufacturerRootCertificate ({error})"
    return None


def _sha256(path: Path) -> bytes:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while chunk := file.read(1 << 16):
            digest.update(chunk)
    return digest.digest()


def verify_file_signature(path: Path, signature: str, signing_certificate: str) -> None:
    """Check that ``signature`` (base64) signs the file at ``path`` with the key of
    ``signing_certificate`` (PEM, leaf first); SignatureError says why not. Blocking (a wheel
    is hashed in a few tens of milliseconds on a Pi): run it in a worker thread."""
    chain = _load(signing_certificate)
    if not chain:
        raise SignatureError("the signing certificate is not a PEM certificate")
    try:
        raw = base64.b64decode("".join(signature.split()), validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError("the signature is not base64") from None
    # Hashed once, streamed: a firmware file need not fit in the Pi's memory twice.
    digest, prehashed = _sha256(path), utils.Prehashed(hashes.SHA256())
    key = chain[0].public_key()
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(raw, digest, ec.ECDSA(prehashed))
            return
        if isinstance(key, rsa.RSAPublicKey):
            try:
                key.verify(raw, digest, padding.PKCS1v15(), prehashed)
            except exceptions.InvalidSignature:
                key.verify(raw, digest, padding.PSS(mgf=padding.MGF1(hashes.SHA256()),
                                                    salt_length=padding.PSS.AUTO), prehashed)
            return
    except (exceptions.InvalidSignature, exceptions.UnsupportedAlgorithm, ValueError):
        raise SignatureError("the signature does not match the file and the signing "
                             "certificate's key (SHA-256 with RSA or ECDSA)") from None
    raise SignatureError("the signing certificate's key is neither RSA nor EC")

"""The charge point's certificates: its own key and certificate, and the roots it trusts.

In the OCPP 1.6 security extension a charge point holds two kinds of certificates:

* **root certificates** installed by the CSMS (InstallCertificate): CentralSystemRootCertificate,
  the anchor that the CSMS's TLS server certificate must chain to (security profiles 2 and 3),
  and ManufacturerRootCertificate, the anchor of signed firmware. The CSMS lists them by
  *hash data* (GetInstalledCertificateIds) and deletes them by it (DeleteCertificate): the
  SHA-256 of the issuer's distinguished name (DER) and of the issuer's public key (the
  BIT STRING of its SubjectPublicKeyInfo), and the serial number in hex, as an OCSP CertID has
  them (RFC 6960). For a root, the issuer is the root itself.
* **the charge point certificate** for mutual TLS (profile 3). Its key is born on the charge
  point and never leaves it: on the CSMS's ExtendedTriggerMessage(SignChargePointCertificate)
  the charge point makes a new key pair and a certificate signing request (CSR, PKCS#10) with
  CN = charge point id and O = CpoName, sends it in SignCertificate, and receives the signed
  certificate with its chain in CertificateSigned. The chain is checked (it certifies the key of
  the CSR, for the same subject, is not expired, and chains to an installed root) before it is
  installed; the certificate it replaces is kept so a failed switch can be rolled back.

Everything lives in one directory, readable by its owner only (0700, files 0600)::

    CentralSystemRootCertificate/<sha256 fingerprint>.pem
    ManufacturerRootCertificate/<sha256 fingerprint>.pem
    V2GRootCertificate/, MORootCertificate/   (OCPP 2.0.1, for an ISO 15118 stack)
    charge-point.pem            key + certificate + issuing CAs, as TLS loads them
    charge-point.previous.pem   the one before, for rollback
    charge-point.pending.key    the key of the CSR awaiting its certificate
    charge-point.pending.csr
    v2g.pem, v2g.*              the same for the SECC's V2G certificate (OCPP 2.0.1)

The key and its certificate are one file, so replacing it (write, fsync, rename) switches both
at once: a power cut leaves the old pair or the new pair, never a key with the wrong certificate.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import enum
import hashlib
import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pievse.services.cryptography_modules import (
    ec,
    exceptions,
    hashes,
    oid,
    rsa,
    serialization,
    verification,
    x509,
)
from pievse.services.private_files import write_private_file

__all__ = [
    "CertificateHashData",
    "CertificateStore",
    "CertificateUse",
    "KeyType",
    "Leaf",
    "Outcome",
]

log = logging.getLogger("pievse.ocpp.certificates")

UTC = dt.timezone.utc

class CertificateUse(str, enum.Enum):
    """The kinds of root certificate the CSMS installs (CertificateUseEnumType), in 1.6's words
    (2.0.1 calls the first CSMSRootCertificate). The V2G and MO roots are 2.0.1's, for an
    ISO 15118 stack: the anchors of the EV's and the contract's certificates."""

    CENTRAL_SYSTEM_ROOT = "CentralSystemRootCertificate"
    MANUFACTURER_ROOT = "ManufacturerRootCertificate"
    V2G_ROOT = "V2GRootCertificate"
    MO_ROOT = "MORootCertificate"


class Leaf(str, enum.Enum):
    """The certificates whose key is made here: the charge point's own (for mutual TLS with the
    CSMS) and, under 2.0.1, the V2G certificate of the SECC (for TLS with the car, ISO 15118)."""

    CHARGE_POINT = "charge-point"
    V2G = "v2g"

    @property
    def roots(self) -> tuple[CertificateUse, ...]:
        """The installed roots its chain must reach."""
        if self is Leaf.V2G:
            return (CertificateUse.V2G_ROOT,)
        return (CertificateUse.CENTRAL_SYSTEM_ROOT, CertificateUse.MANUFACTURER_ROOT)


class KeyType(str, enum.Enum):
    """The charge point key made for a CSR. EC P-256 is the white paper's preferred curve and
    takes milliseconds on a Pi; RSA-3072 takes seconds there (it runs in a worker thread)."""

    EC_P256 = "ec-p256"
    EC_P384 = "ec-p384"
    RSA_2048 = "rsa-2048"
    RSA_3072 = "rsa-3072"

    def generate(self) -> Any:
        if self is KeyType.EC_P256:
            return ec.generate_private_key(ec.SECP256R1())
        if self is KeyType.EC_P384:
            return ec.generate_private_key(ec.SECP384R1())
        bits = 2048 if self is KeyType.RSA_2048 else 3072
        return rsa.generate_private_key(public_exponent=65537, key_size=bits)


_HASHES = {"SHA256": hashlib.sha256, "SHA384": hashlib.sha384, "SHA512": hashlib.sha512}


def _der_element(data: bytes, offset: int) -> tuple[int, int, int]:
    """(tag, start of the value, end of the value) of the DER element at ``offset``."""
    tag, length = data[offset], data[offset + 1]
    start = offset + 2
    if length & 0x80:  # long form: the low bits count the length bytes that follow
        count = length & 0x7F
        length = int.from_bytes(data[start:start + count], "big")
        start += count
    return tag, start, start + length


def subject_public_key_bits(certificate: x509.Certificate) -> bytes:
    """The contents of the certificate's subjectPublicKey BIT STRING (what an OCSP CertID's
    issuerKeyHash hashes): SubjectPublicKeyInfo ::= SEQUENCE { algorithm, BIT STRING }."""
    spki = certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    _, body, _ = _der_element(spki, 0)
    _, _, algorithm_end = _der_element(spki, body)
    tag, start, end = _der_element(spki, algorithm_end)
    if tag != 0x03:
        raise ValueError("SubjectPublicKeyInfo without a BIT STRING")
    return spki[start + 1:end]  # the first content byte counts the unused bits (0)


@dataclass(frozen=True)
class CertificateHashData:
    """How OCPP names an installed certificate (CertificateHashDataType)."""

    hash_algorithm: str
    issuer_name_hash: str
    issuer_key_hash: str
    serial_number: str

    @classmethod
    def of(cls, certificate: x509.Certificate, issuer: x509.Certificate | None = None,
           algorithm: str = "SHA256") -> CertificateHashData:
        """The hash data of ``certificate``, whose ``issuer`` is itself when not given."""
        digest = _HASHES[algorithm]
        issuer = issuer or certificate
        return cls(
            hash_algorithm=algorithm,
            issuer_name_hash=digest(certificate.issuer.public_bytes()).hexdigest(),
            issuer_key_hash=digest(subject_public_key_bits(issuer)).hexdigest(),
            # Hex without "0x" and without leading zeros, as OCPP 2.0.1's errata spell it out.
            serial_number=f"{certificate.serial_number:x}",
        )

    @classmethod
    def from_ocpp(cls, payload: Mapping[str, Any]) -> CertificateHashData:
        """From a certificateHashData object, in camelCase or in the ``ocpp`` package's
        snake_case."""
        def pick(camel: str, snake: str) -> str:
            return str(payload[camel] if camel in payload else payload[snake])

        return cls(pick("hashAlgorithm", "hash_algorithm"),
                   pick("issuerNameHash", "issuer_name_hash"),
                   pick("issuerKeyHash", "issuer_key_hash"),
                   pick("serialNumber", "serial_number"))

    def to_ocpp(self) -> dict[str, str]:
        return {"hashAlgorithm": self.hash_algorithm, "issuerNameHash": self.issuer_name_hash,
                "issuerKeyHash": self.issuer_key_hash, "serialNumber": self.serial_number}

    def matches(self, other: CertificateHashData) -> bool:
        """Same certificate: hex compared without regard to case or a serial's leading zeros."""
        def key(h: CertificateHashData) -> tuple[str, ...]:
            return (h.hash_algorithm, h.issuer_name_hash.lower(), h.issuer_key_hash.lower(),
                    h.serial_number.lower().lstrip("0"))

        return key(self) == key(other)


@dataclass(frozen=True)
class Outcome:
    """The answer to one certificate request: the OCPP status word and why (for the log and a
    security event's techInfo; it never holds key material)."""

    status: str
    reason: str

    @property
    def accepted(self) -> bool:
        return self.status == "Accepted"


def _fingerprint(certificate: x509.Certificate) -> str:
    return certificate.fingerprint(hashes.SHA256()).hex()


def _why_not_a_root(certificate: x509.Certificate) -> str | None:
    """Why ``certificate`` is not a root CA certificate, or None."""
    try:
        constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints)
    except x509.ExtensionNotFound:
        return "it has no basicConstraints, so it is no CA certificate"
    if not constraints.value.ca:
        return "it is not a CA certificate (basicConstraints CA is false)"
    if certificate.issuer != certificate.subject:
        return "it is not a root (its issuer is not its subject)"
    try:
        certificate.verify_directly_issued_by(certificate)
    except (exceptions.InvalidSignature, ValueError, TypeError):
        return "its self-signature does not verify"
    return None


def _common_name(name: x509.Name) -> str | None:
    values = name.get_attributes_for_oid(oid.NameOID.COMMON_NAME)
    return str(values[0].value) if values else None


class CertificateStore:
    """The certificate directory of one charge point (see the module's docstring).

    ``max_certificates`` is CertificateStoreMaxLength: how many root certificates, of both
    kinds together, may be installed.
    """

    def __init__(self, directory: Path, *, max_certificates: int = 10) -> None:
        self.directory = Path(directory)
        self.max_certificates = max_certificates
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        if self.directory.stat().st_mode & 0o077:
            log.warning("%s was readable by others: made it owner-only (0700)", self.directory)
        os.chmod(self.directory, 0o700)
        for use in CertificateUse:
            (self.directory / use.value).mkdir(exist_ok=True, mode=0o700)

    # --- root certificates ---------------------------------------------------------------------

    def installed(self, use: CertificateUse) -> list[x509.Certificate]:
        return [x509.load_pem_x509_certificate(path.read_bytes())
                for path in self.root_files(use)]

    def root_files(self, use: CertificateUse) -> list[Path]:
        """The PEM files of the installed roots of one kind (for ``tls_context``)."""
        return sorted((self.directory / use.value).glob("*.pem"))

    def installed_ids(self, use: CertificateUse) -> list[CertificateHashData]:
        """GetInstalledCertificateIds: the SHA-256 hash data of each installed root."""
        return [CertificateHashData.of(c) for c in self.installed(use)]

    def install_root(self, use: CertificateUse, pem: str,
                     now: dt.datetime | None = None) -> Outcome:
        """InstallCertificate: Accepted, Rejected (not a valid root, or the store is full) or
        Failed (it could not be written). Installing a root already there is Accepted."""
        now = now or dt.datetime.now(UTC)
        try:
            certificates = x509.load_pem_x509_certificates(pem.encode())
        except ValueError:
            return Outcome("Rejected", "not a PEM certificate")
        if len(certificates) != 1:
            return Outcome("Rejected", f"{len(certificates)} certificates where one was expected")
        certificate = certificates[0]
        wrong = _why_not_a_root(certificate)
        if wrong:
            return Outcome("Rejected", wrong)
        if certificate.not_valid_after_utc <= now:
            return Outcome("Rejected", f"it expired on {certificate.not_valid_after_utc:%Y-%m-%d}")
        path = self.directory / use.value / f"{_fingerprint(certificate)}.pem"
        if path.exists():
            return Outcome("Accepted", "already installed")
        if sum(len(self.root_files(u)) for u in CertificateUse) >= self.max_certificates:
            return Outcome("Rejected", f"the certificate store is full ({self.max_certificates})")
        try:
            write_private_file(path, certificate.public_bytes(serialization.Encoding.PEM))
        except OSError as error:
            return Outcome("Failed", f"cannot write it: {error.strerror or error}")
        log.info("installed %s %s (serial %x, expires %s)", use.value,
                 certificate.subject.rfc4514_string(), certificate.serial_number,
                 f"{certificate.not_valid_after_utc:%Y-%m-%d}")
        return Outcome("Accepted", "installed")

    def delete(self, hash_data: CertificateHashData, *,
               keep_last_central_system_root: bool = False) -> Outcome:
        """DeleteCertificate: Accepted, NotFound, or Failed.

        ``keep_last_central_system_root``: refuse (Failed) to delete the only
        CentralSystemRootCertificate, which would leave a profile 2/3 charge point unable to
        ever verify its CSMS again, locked out until someone comes with a laptop.
        """
        if hash_data.hash_algorithm not in _HASHES:
            return Outcome("NotFound", f"unknown hash algorithm {hash_data.hash_algorithm}")
        own = self.leaf_hash_data(Leaf.CHARGE_POINT)
        if own is not None and own.hash_algorithm == hash_data.hash_algorithm \
                and own.matches(hash_data):
            return Outcome("Failed", "it is the charge point's own certificate, which is renewed, "
                                     "never deleted")
        for use in CertificateUse:
            files = self.root_files(use)
            for path in files:
                certificate = x509.load_pem_x509_certificate(path.read_bytes())
                if not CertificateHashData.of(certificate, algorithm=hash_data.hash_algorithm
                                              ).matches(hash_data):
                    continue
                if (use is CertificateUse.CENTRAL_SYSTEM_ROOT and keep_last_central_system_root
                        and len(files) == 1):
                    return Outcome("Failed", "it is the last CentralSystemRootCertificate and "
                                             "the connection to the CSMS depends on it")
                try:
                    path.unlink()
                except OSError as error:
                    return Outcome("Failed", f"cannot delete it: {error.strerror or error}")
                log.info("deleted %s %s (serial %x)", use.value,
                         certificate.subject.rfc4514_string(), certificate.serial_number)
                return Outcome("Accepted", "deleted")
        return Outcome("NotFound", "no installed certificate has that hash data")

    # --- the charge point certificate ----------------------------------------------------------

    @property
    def client_certificate_path(self) -> Path:
        return self.leaf_path(Leaf.CHARGE_POINT)

    def leaf_path(self, leaf: Leaf) -> Path:
        """The file of that leaf's key and chain."""
        return self.directory / f"{leaf.value}.pem"

    def _previous(self, leaf: Leaf = Leaf.CHARGE_POINT) -> Path:
        return self.directory / f"{leaf.value}.previous.pem"

    @property
    def _previous_path(self) -> Path:
        return self._previous()

    def _pending_key(self, leaf: Leaf) -> Path:
        return self.directory / f"{leaf.value}.pending.key"

    def _pending_csr(self, leaf: Leaf) -> Path:
        return self.directory / f"{leaf.value}.pending.csr"

    def pending_request(self, leaf: Leaf = Leaf.CHARGE_POINT) -> str | None:
        """The CSR (PEM) that awaits its certificate, if one does."""
        try:
            return self._pending_csr(leaf).read_text()
        except FileNotFoundError:
            return None

    def charge_point_certificate(self, previous: bool = False,
                                 leaf: Leaf = Leaf.CHARGE_POINT) -> x509.Certificate | None:
        """The installed charge point certificate (the leaf), or the one before it."""
        path = self._previous(leaf) if previous else self.leaf_path(leaf)
        try:
            pem = path.read_bytes()
        except FileNotFoundError:
            return None  # known without cryptography: profiles 0-2 never load it
        return x509.load_pem_x509_certificates(pem)[0]

    def client_certificate_file(self, now: dt.datetime | None = None) -> Path | None:
        """The file (key and chain) for the next TLS connection of profile 3: the installed
        certificate, or the previous one while the new one's validity has not begun."""
        now = now or dt.datetime.now(UTC)
        current = self.charge_point_certificate()
        if current is None:
            return None
        if current.not_valid_before_utc > now and self._previous_path.exists():
            return self._previous_path
        return self.client_certificate_path

    def leaf_hash_data(self, leaf: Leaf) -> CertificateHashData | None:
        """The hash data of an installed leaf certificate, its issuer being the next certificate
        of its chain or an installed root; None if none is installed (or its issuer is not
        known here)."""
        try:
            chain = x509.load_pem_x509_certificates(self.leaf_path(leaf).read_bytes())
        except FileNotFoundError:
            return None
        issuers = [*chain[1:], *(root for use in leaf.roots for root in self.installed(use))]
        issuer = next((c for c in issuers if c.subject == chain[0].issuer), None)
        return CertificateHashData.of(chain[0], issuer) if issuer is not None else None

    def has_valid_charge_point_certificate(self, now: dt.datetime | None = None) -> bool:
        now = now or dt.datetime.now(UTC)
        current = self.charge_point_certificate()
        return current is not None and current.not_valid_after_utc > now

    def renewal_due(self, margin: dt.timedelta = dt.timedelta(days=30),
                    now: dt.datetime | None = None) -> bool:
        """The certificate ends within ``margin``: time for the charge point to send a
        SignCertificate of its own (the white paper's use case A03)."""
        now = now or dt.datetime.now(UTC)
        current = self.charge_point_certificate()
        return current is not None and current.not_valid_after_utc - margin <= now

    def new_signing_request(self, charge_point_id: str, cpo_name: str,
                            key_type: KeyType = KeyType.EC_P256,
                            leaf: Leaf = Leaf.CHARGE_POINT) -> str:
        """Make a new key pair and its CSR (PEM) with CN = ``charge_point_id`` and O =
        ``cpo_name``. The key waits, owner-only, for its certificate; a newer request replaces
        an older one that was never answered. Slow for RSA: call it from a worker thread."""
        if not cpo_name:
            raise ValueError("the CSR needs an organization name: set CpoName first")
        key = key_type.generate()
        subject = x509.Name([x509.NameAttribute(oid.NameOID.COMMON_NAME, charge_point_id),
                             x509.NameAttribute(oid.NameOID.ORGANIZATION_NAME, cpo_name)])
        is_ec = isinstance(key, ec.EllipticCurvePrivateKey)
        builder = (
            x509.CertificateSigningRequestBuilder()
            .subject_name(subject)
            .add_extension(x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=not is_ec,
                data_encipherment=False, key_agreement=is_ec, key_cert_sign=False,
                crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        )
        if leaf is Leaf.CHARGE_POINT:
            # What the key is for, as a hint to the CA: TLS client authentication to the CSMS
            # (the SECC's V2G key serves TLS to the car, as ISO 15118's PKI says).
            builder = builder.add_extension(
                x509.ExtendedKeyUsage([oid.ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        csr = builder.sign(key, hashes.SHA256())
        write_private_file(self._pending_key(leaf), key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))
        csr_pem = csr.public_bytes(serialization.Encoding.PEM)
        write_private_file(self._pending_csr(leaf), csr_pem)
        log.info("new %s %s key and CSR for CN=%s, O=%s", leaf.value, key_type.value,
                 charge_point_id, cpo_name)
        return csr_pem.decode("ascii")

    def install_charge_point_certificate(self, chain_pem: str, now: dt.datetime | None = None,
                                         leaf_kind: Leaf = Leaf.CHARGE_POINT) -> Outcome:
        """CertificateSigned: check the chain, then switch to it (Accepted) or leave everything
        as it was (Rejected, with the reason)."""
        now = now or dt.datetime.now(UTC)
        try:
            key = serialization.load_pem_private_key(
                self._pending_key(leaf_kind).read_bytes(), None)
            csr = x509.load_pem_x509_csr(self._pending_csr(leaf_kind).read_bytes())
        except FileNotFoundError:
            return Outcome("Rejected", "no certificate signing request is waiting for it")
        try:
            chain = x509.load_pem_x509_certificates(chain_pem.encode())
        except ValueError:
            return Outcome("Rejected", "not a PEM certificate chain")
        leaf, intermediates = chain[0], chain[1:]
        wrong = (self._check_leaf(leaf, key, csr, now, leaf_kind)
                 or self._check_path(leaf, intermediates, now, leaf_kind))
        if wrong:
            return Outcome("Rejected", wrong)
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        pem += b"".join(c.public_bytes(serialization.Encoding.PEM) for c in chain)
        try:
            self._keep_previous(leaf_kind)
            write_private_file(self.leaf_path(leaf_kind), pem)
        except OSError as error:
            return Outcome("Rejected", f"cannot store it: {error.strerror or error}")
        for path in (self._pending_key(leaf_kind), self._pending_csr(leaf_kind)):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        log.info("installed the charge point certificate %s (serial %x, valid %s to %s)",
                 leaf.subject.rfc4514_string(), leaf.serial_number,
                 f"{leaf.not_valid_before_utc:%Y-%m-%d}", f"{leaf.not_valid_after_utc:%Y-%m-%d}")
        return Outcome("Accepted", "installed")

    def _check_leaf(self, leaf: x509.Certificate, key: Any, csr: x509.CertificateSigningRequest,
                    now: dt.datetime, kind: Leaf = Leaf.CHARGE_POINT) -> str | None:
        public = serialization.PublicFormat.SubjectPublicKeyInfo
        der = serialization.Encoding.DER
        if leaf.public_key().public_bytes(der, public) != key.public_key().public_bytes(der,
                                                                                        public):
            return "it does not certify the key of our signing request"
        if _common_name(leaf.subject) != _common_name(csr.subject):
            return (f"its CN {_common_name(leaf.subject)!r} is not the charge point id "
                    f"{_common_name(csr.subject)!r}")
        if leaf.not_valid_after_utc <= now:
            return f"it expired on {leaf.not_valid_after_utc:%Y-%m-%d}"
        with contextlib.suppress(x509.ExtensionNotFound):
            if leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca:
                return "it is a CA certificate, not a charge point certificate"
        with contextlib.suppress(x509.ExtensionNotFound):
            usages = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
            # The SECC's V2G certificate serves TLS to the car: client use is the CSMS link's.
            if kind is Leaf.CHARGE_POINT and oid.ExtendedKeyUsageOID.CLIENT_AUTH not in usages:
                return "its extendedKeyUsage does not allow TLS client authentication"
        return None

    def _check_path(self, leaf: x509.Certificate, intermediates: list[x509.Certificate],
                    now: dt.datetime, kind: Leaf = Leaf.CHARGE_POINT) -> str | None:
        """RFC 5280 path validation from the leaf, through the CAs sent with it, to an
        installed root of the kind the leaf needs (:attr:`Leaf.roots`)."""
        roots = [c for use in kind.roots for c in self.installed(use)]
        if not roots:
            return "no root certificate is installed to verify it against"
        # A certificate whose validity starts later is checked as of its first valid moment.
        error = chain_error(leaf, intermediates, roots, max(now, leaf.not_valid_before_utc))
        if error is not None:
            return f"it does not chain to an installed root certificate ({error})"
        return None

    def _keep_previous(self, leaf: Leaf = Leaf.CHARGE_POINT) -> None:
        """Make the installed certificate the previous one, without a moment where no
        certificate is installed (a hard link, then an atomic rename)."""
        if not self.leaf_path(leaf).exists():
            return
        link = self.directory / f".{leaf.value}.previous.tmp"
        with contextlib.suppress(FileNotFoundError):
            link.unlink()
        os.link(self.leaf_path(leaf), link)
        os.replace(link, self._previous(leaf))

    def rollback_charge_point_certificate(self) -> bool:
        """Go back to the previous charge point certificate (the new one failed to connect);
        False if there is none."""
        if not self._previous_path.exists():
            return False
        os.replace(self._previous_path, self.client_certificate_path)
        log.warning("rolled back to the previous charge point certificate")
        return True

    # --- first start ---------------------------------------------------------------------------

    def seed(self, *, central_system_roots: Iterable[Path] = (), cert_file: Path | None = None,
             key_file: Path | None = None) -> list[str]:
        """Import the certificates of the configuration file into an empty store (first start
        only: afterwards the CSMS manages them). Returns the problems found, one line each."""
        problems: list[str] = []
        if not self.root_files(CertificateUse.CENTRAL_SYSTEM_ROOT):
            for path in central_system_roots:
                try:
                    found = x509.load_pem_x509_certificates(Path(path).read_bytes())
                except (OSError, ValueError) as error:
                    problems.append(f"[ocpp] ca_file {path}: cannot read a certificate ({error})")
                    continue
                for certificate in found:
                    outcome = self.install_root(CertificateUse.CENTRAL_SYSTEM_ROOT,
                                                certificate.public_bytes(serialization.Encoding.PEM).decode())
                    if not outcome.accepted:
                        problems.append(f"[ocpp] ca_file {path}: {outcome.reason}")
        if cert_file is not None and self.charge_point_certificate() is None:
            problems += self.import_client_certificate(Path(cert_file),
                                                       Path(key_file or cert_file))
        return problems

    def import_client_certificate(self, cert_file: Path, key_file: Path) -> list[str]:
        """Install the charge point certificate and key of the configuration files, the one
        installed before kept as the previous one. Returns the problems found, one line each
        (nothing is changed then)."""
        try:
            chain = x509.load_pem_x509_certificates(cert_file.read_bytes())
            key = serialization.load_pem_private_key(key_file.read_bytes(), None)
        except (OSError, ValueError, TypeError) as error:
            # The error text of a key that fails to load never quotes the key itself.
            return [f"[ocpp] cert_file/key_file: cannot load them ({type(error).__name__})"]
        public = serialization.PublicFormat.SubjectPublicKeyInfo
        der = serialization.Encoding.DER
        if chain[0].public_key().public_bytes(der, public) != key.public_key().public_bytes(
                der, public):
            return ["[ocpp] key_file is not the key of the certificate in cert_file"]
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        self._keep_previous()
        chain_pem = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in chain)
        write_private_file(self.client_certificate_path, pem + chain_pem)
        return []


def chain_error(leaf: x509.Certificate, intermediates: list[x509.Certificate],
                roots: list[x509.Certificate], at: dt.datetime) -> str | None:
    """RFC 5280 path validation of ``leaf`` through ``intermediates`` to one of ``roots`` as of
    ``at``; what failed, or None. The CAs are held to the web PKI's rules (basicConstraints,
    keyUsage keyCertSign); the leaf's own extensions are the caller's to check, in the terms of
    what it is for (a charge point certificate, a firmware signer)."""
    verifier = (
        verification.PolicyBuilder()
        .store(verification.Store(roots))
        .time(at)
        .extension_policies(ca_policy=verification.ExtensionPolicy.webpki_defaults_ca(),
                            ee_policy=verification.ExtensionPolicy.permit_all())
        .build_client_verifier()
    )
    try:
        verifier.verify(leaf, intermediates)
    except verification.VerificationError as error:
        return str(error)
    return None

"""Figures for signed firmware and the security log. Run on demand; prints, asserts nothing.

    .venv/bin/python benchmarks/bench_security_maintenance.py [--rounds 5]

- checking a firmware signing certificate against the installed ManufacturerRootCertificate
  (what SignedUpdateFirmware costs before it is answered: the RPC layer reads nothing meanwhile);
- verifying the signature over a pievse wheel of this checkout, and over 10 MiB, with ECDSA
  P-256 and RSA-2048/3072 (SHA-256): the step between Downloaded and SignatureVerified;
- appending one security event to the security log (each one fsync'd before the CSMS hears of
  it), and exporting a full log (two 256 KiB generations) for GetLog.
"""

from __future__ import annotations

import argparse
import base64
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from cryptography.hazmat.primitives import hashes  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa  # noqa: E402

from pievse.services.firmware_signature import (  # noqa: E402
    check_signing_certificate,
    verify_file_signature,
)
from pievse.services.security_log import SecurityLog  # noqa: E402
from tests.test_firmware_update import build_wheel  # noqa: E402
from tests.test_signed_firmware import make_root, make_signer  # noqa: E402


def timed(action, rounds: int) -> float:
    """Median seconds of ``rounds`` calls."""
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        action()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def signature(key, data: bytes) -> str:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        raw = key.sign(data, ec.ECDSA(hashes.SHA256()))
    else:
        raw = key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(raw).decode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    root = make_root("Bench Manufacturer Root")
    signers = {
        "ECDSA P-256": make_signer(root),
        "RSA-2048": make_signer(root, key=rsa.generate_private_key(65537, 2048)),
        "RSA-3072": make_signer(root, key=rsa.generate_private_key(65537, 3072)),
    }
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        seconds = timed(lambda: check_signing_certificate(signers["ECDSA P-256"].pem,
                                                          [root.certificate]), args.rounds)
        print(f"signing certificate checked against the manufacturer root: {ms(seconds)}")

        wheel = build_wheel(folder, "9.0.0")
        big = folder / "ten-mib.bin"
        big.write_bytes(bytes(range(256)) * (40 << 10))
        for name, signer in signers.items():
            for file in (wheel, big):
                signed = signature(signer.key, file.read_bytes())
                seconds = timed(lambda f=file, s=signed, c=signer.pem:
                                verify_file_signature(f, s, c), args.rounds)
                print(f"signature verified, {name}, {file.stat().st_size / 1048576:.2f} MiB: "
                      f"{ms(seconds)}")

        log = SecurityLog(folder / "security-log")
        rounds = 200
        t0 = time.perf_counter()
        for n in range(rounds):
            log.record("InvalidMessages", tech_info=f"frame {n} " + "x" * 100)
        each = (time.perf_counter() - t0) / rounds
        print(f"security event appended (fsync'd): {ms(each)} each, {1 / each:,.0f} events/s")
        while not log.previous_path.exists() or log.path.stat().st_size < log.max_bytes - 300:
            log.record("InvalidMessages", tech_info="x" * 200)
        events = len(log.entries())
        seconds = timed(lambda: log.export(folder / "export.jsonl"), args.rounds)
        print(f"full security log ({events} events, 2 × {log.max_bytes >> 10} KiB) exported "
              f"for GetLog: {ms(seconds)}")


if __name__ == "__main__":
    main()

"""Verifies a Breakwater DSSE envelope with securesystemslib, an implementation Breakwater did not write.

Usage: python3 verify_dsse.py <envelope.json> <public-key.pem>
Prints one line, "verified <keyid>" (exit 0) or "rejected: <why>" (exit 1).
The keyid is computed here, independently: hex sha256 of the key's SPKI DER.
"""

import hashlib
import json
import sys

from cryptography.hazmat.primitives import serialization
from securesystemslib.dsse import Envelope
from securesystemslib.signer import SSlibKey


def main() -> int:
    envelope_path, key_path = sys.argv[1], sys.argv[2]
    with open(key_path, "rb") as f:
        public_key = serialization.load_pem_public_key(f.read())
    spki = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    keyid = hashlib.sha256(spki).hexdigest()
    key = SSlibKey.from_crypto(public_key, keyid=keyid)
    try:
        with open(envelope_path, "rb") as f:
            envelope = Envelope.from_dict(json.loads(f.read()))
        accepted = envelope.verify([key], 1)
    except Exception as err:  # any failure to parse or verify is a rejection
        print(f"rejected: {type(err).__name__}: {err}")
        return 1
    print(f"verified {','.join(accepted)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Independent AM1 known-answer generator (DESIGN §4, docs/crypto.md), written
from the specification with Python's `cryptography` module, not from the C
code. It prints the SHA-256 of each vector's ciphertext; test_am1.c commits
the same digests, so the two implementations cross-check each other.
usage: python3 tests/unit/crypto/am1_kat.py"""
import hashlib
import struct

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

S = 65536
DEK = bytes(range(0x00, 0x20))
SALT = bytes(range(0x40, 0x50))
FILE_ID = bytes(range(0x80, 0x90))
SIZES = [0, 1, 65535, 65536, 65537, 200000]


def pattern(n):
    return bytes((i * 7 + 3) % 251 for i in range(n))


def header(file_id, salt):
    h = b"AM1SEG\0\0" + bytes([1, 1, 16]) + bytes(5) + file_id + salt
    assert len(h) == 48
    return h


def encrypt(dek, file_id, salt, pt):
    h = header(file_id, salt)
    k = HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=b"am1 payload").derive(dek)
    g = AESGCM(k)
    nseg = max(1, (len(pt) + S - 1) // S)
    out = [h]
    for i in range(nseg):
        last = 1 if i == nseg - 1 else 0
        nonce = i.to_bytes(11, "big") + bytes([last])
        out.append(g.encrypt(nonce, pt[i * S:(i + 1) * S], h))
    ct = b"".join(out)
    assert len(ct) == 48 + len(pt) + 16 * nseg
    return ct


def main():
    for n in SIZES:
        ct = encrypt(DEK, FILE_ID, SALT, pattern(n))
        print(f"{n} {len(ct)} {hashlib.sha256(ct).hexdigest()}")


if __name__ == "__main__":
    main()

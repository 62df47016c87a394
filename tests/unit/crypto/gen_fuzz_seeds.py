#!/usr/bin/env python3
"""Write the seed corpora of fuzz/am1_reader.c and fuzz/key_unwrap.c from the
specification (docs/crypto.md), with Python's `cryptography` module.
usage: python3 tests/unit/crypto/gen_fuzz_seeds.py   (from the repository root)"""
import hashlib
import os
import struct
import sys

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import am1_kat  # noqa: E402

from cryptography.hazmat.primitives import hashes  # noqa: E402
from cryptography.hazmat.primitives.kdf.hkdf import HKDF  # noqa: E402


def hkdf(ikm, info, salt=None):
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(ikm)


def write(d, name, data):
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def main():
    d = "fuzz/corpus/am1_reader"
    for n, first, ln in [(0, 0, 0), (1, 0, 1), (1000, 10, 100), (65537, 65530, 20),
                         (140000, 0, 140000)]:
        ct = am1_kat.encrypt(am1_kat.DEK, am1_kat.FILE_ID, am1_kat.SALT, am1_kat.pattern(n))
        write(d, f"obj-{n}", struct.pack(">II", first, ln) + ct)
    d = "fuzz/corpus/key_unwrap"
    mk = bytes(range(0x20, 0x40))
    pk = bytes(range(0x40, 0x60))
    proj = bytes([0x11]) + bytes(15)
    file_id = bytes([0x22]) + bytes(15)
    row = bytes([0x33]) + bytes(15)
    mk_id = hashlib.sha256(b"am1-mk-id" + mk).digest()[:8]
    iv = bytes(12)
    w = b"\x01" + iv + AESGCM(mk).encrypt(iv, bytes(range(32)), b"am1-pk" + mk_id + proj)
    write(d, "pk", b"\x00" + w)
    w = b"\x01" + iv + AESGCM(pk).encrypt(iv, bytes(range(32)), b"am1-dek" + file_id + proj)
    write(d, "dek", b"\x01" + w)
    st = struct.pack(">Q", 19675) + b"\x01" + bytes(range(32)) + bytes(range(32, 64))
    w = b"\x01" + iv + AESGCM(hkdf(mk, b"ip-state")).encrypt(iv, st, b"am1-ip" + mk_id)
    write(d, "ipstate", b"\x02" + w)
    aad = struct.pack(">H", 1) + b"t" + struct.pack(">H", 1) + b"c" + row + proj
    w = b"\x01" + iv + AESGCM(pk).encrypt(iv, b"a field value", aad)
    write(d, "field", b"\x03" + w)
    write(d, "b64", b"\x04" + b"Zm9vYmFy-_8")


if __name__ == "__main__":
    main()

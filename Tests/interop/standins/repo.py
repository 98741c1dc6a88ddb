"""Signed repositories as CAR bytes, for stand-ins that play someone else's PDS and for the
benchmarks: v3 commits (https://atproto.com/specs/repository) in CAR v1, built with libipld and the
interop suite's own MST (mst.py), never with the server's code."""

import time

import libipld
import mst

from .common import sign_raw

TID_ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"


def tid(microseconds=None, clock_id=7):
    """A TID (https://atproto.com/specs/tid) for a time in microseconds (now by default)."""
    if microseconds is None:
        microseconds = int(time.time() * 1_000_000)
    value = (microseconds << 10) | clock_id
    return "".join(TID_ALPHABET[(value >> (5 * (12 - i))) & 31] for i in range(13))


def varint(n):
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _cbor_text(text):
    data = text.encode()
    if len(data) >= 256:
        raise ValueError("text too long for this small encoder")
    return (bytes([0x60 + len(data)]) if len(data) < 24 else bytes([0x78, len(data)])) + data


def _cbor_link(cid):
    return b"\xd8\x2a\x58" + bytes([len(cid) + 1]) + b"\x00" + cid


def commit_bytes(did, data_cid, rev, sig=None):
    """A v3 commit in canonical DAG-CBOR (keys by length, then bytes), written by hand so the 64-byte
    signature can never be mistaken for a link (libipld encodes CID-shaped bytes as links)."""
    fields = [("did", _cbor_text(did)), ("rev", _cbor_text(rev))]
    if sig is not None:
        fields.append(("sig", b"\x58\x40" + sig))
    fields += [("data", _cbor_link(data_cid)), ("prev", b"\xf6"), ("version", b"\x03")]
    return bytes([0xA0 + len(fields)]) + b"".join(_cbor_text(key) + value for key, value in fields)


def signed_commit(did, key, data_cid, rev):
    """(binary CID, bytes) of a commit signed with `key` (a `cryptography` EC private key)."""
    block = commit_bytes(did, data_cid, rev, sign_raw(key, commit_bytes(did, data_cid, rev)))
    return mst.cid_of(block), block


def car_bytes(root, blocks):
    """A CAR v1 with one root; `blocks` are (binary CID, bytes) pairs, written in order."""
    header = libipld.encode_dag_cbor({"roots": [root], "version": 1})
    out = bytearray(varint(len(header)) + header)
    for cid, block in blocks:
        out += varint(len(cid) + len(block)) + cid + block
    return bytes(out)


def repo_car(did, key, records, rev=None):
    """A whole repository as a CAR: `records` maps paths to record values (DAG-CBOR-encodable dicts);
    the commit first, then every MST node, then the records."""
    encoded = {path: libipld.encode_dag_cbor(value) for path, value in records.items()}
    root, nodes = mst.build({path: mst.cid_of(block) for path, block in encoded.items()})
    commit_cid, commit = signed_commit(did, key, root, rev or tid())
    return car_bytes(commit_cid, [(commit_cid, commit), *nodes.items(), *((mst.cid_of(b), b) for b in encoded.values())])

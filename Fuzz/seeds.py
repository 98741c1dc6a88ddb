#!/usr/bin/env python3
"""Seed corpora from the shared test vectors, for run-all.sh.

Usage: seeds.py VECTORS OUT. Writes OUT/<target>/<name> files (nothing is committed; the vectors
stay in ../shared). Inputs of targets that read control bytes first get those bytes prepended,
as each target's header comment describes. Writes OUT/age-identities.txt for the age target.
"""
import base64
import hashlib
import json
import os
import sys
import zlib

vectors, out = sys.argv[1], sys.argv[2]
counts = {}


def put(target, data, prefix=b""):
    directory = os.path.join(out, target)
    os.makedirs(directory, exist_ok=True)
    data = prefix + data
    name = "vec-" + hashlib.sha1(data).hexdigest()[:16]
    with open(os.path.join(directory, name), "wb") as f:
        f.write(data)
    counts[target] = counts.get(target, 0) + 1


def path(*parts):
    return os.path.join(vectors, *parts)


def load_json(*parts):
    try:
        with open(path(*parts), "rb") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def compact(value):
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def varint(data, i):
    value = shift = 0
    while True:
        byte = data[i]
        i += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, i


def car_blocks(data):
    """Block bodies of a CAR v1 (CIDv1 sha2-256 only), best effort."""
    blocks = []
    try:
        length, i = varint(data, 0)
        i += length
        while i < len(data):
            length, start = varint(data, i)
            end = start + length
            # CIDv1: version, codec, multihash code, digest length, digest.
            j = start
            for _ in range(3):
                _, j = varint(data, j)
            digest_length, j = varint(data, j)
            blocks.append(data[j + digest_length:end])
            i = end
    except IndexError:
        pass
    return blocks


# DAG-CBOR: data-model fixtures, lex-cbor vectors, record files, every CAR block.
for name in (("interop", "data-model", "data-model-fixtures.json"), ("extra", "data-model", "lex-cbor-vectors.json")):
    for case in load_json(*name) or []:
        if isinstance(case, dict) and "cbor_base64" in case:
            put("dagcbor", base64.b64decode(case["cbor_base64"] + "=" * (-len(case["cbor_base64"]) % 4)))
        if isinstance(case, dict) and "json" in case:
            put("json", compact(case["json"]))
            put("lexicon", compact(case["json"]), b"\x00\x00")
for name in ("data-model-valid.json", "data-model-invalid.json"):
    for case in load_json("interop", "data-model", name) or []:
        if isinstance(case, dict) and "json" in case:
            put("json", compact(case["json"]))

repos = path("extra", "repos")
for name in sorted(os.listdir(repos)) if os.path.isdir(repos) else []:
    with open(os.path.join(repos, name), "rb") as f:
        data = f.read()
    if name.endswith(".cbor"):
        put("dagcbor", data)
        put("lexicon", data, b"\x01\x00")
    elif name.endswith(".car") or name.endswith(".repo"):
        put("car", data, b"\x3f")
        for block in car_blocks(data)[:200]:
            put("dagcbor", block)
            if block[:3] == b"\xa2\x61\x65":  # {"e": …, "l": …}: an MST node
                put("mst", block, b"\x00")
                put("mst", block, b"\x01")
    elif name.endswith(".json"):
        put("json", data)

# JSON: every JSON vector file whole (small ones), and the values inside the test arrays.
for root, _, files in os.walk(vectors):
    for name in files:
        full = os.path.join(root, name)
        if name.endswith(".json") and os.path.getsize(full) <= 65536:
            with open(full, "rb") as f:
                put("json", f.read())

# Syntax: one value per line, not trimmed (vectors/INDEX.md).
syntax = path("interop", "syntax")
for name in sorted(os.listdir(syntax)) if os.path.isdir(syntax) else []:
    with open(os.path.join(syntax, name), "rb") as f:
        for line in f.read().split(b"\n"):
            if line and not line.startswith(b"#"):
                put("syntax", line)

# Lexicon: records of the example catalog (mode 0) and schema documents (mode 2).
for name in ("record-data-valid.json", "record-data-invalid.json"):
    for case in load_json("interop", "lexicon", name) or []:
        if isinstance(case, dict) and "data" in case:
            put("lexicon", compact(case["data"]), b"\x00\x00")
for name in ("lexicon-valid.json", "lexicon-invalid.json"):
    for case in load_json("interop", "lexicon", name) or []:
        if isinstance(case, dict) and "lexicon" in case:
            put("lexicon", compact(case["lexicon"]), b"\x02\x00")
catalog = path("interop", "lexicon", "catalog")
for name in sorted(os.listdir(catalog)) if os.path.isdir(catalog) else []:
    with open(os.path.join(catalog, name), "rb") as f:
        put("lexicon", f.read(), b"\x02\x00")

# age: the testkit files (the file follows the first blank line; some bodies are zlib) and the
# CLI files; the testkit's X25519 identities for the target to try.
identities = set()
testdata = path("age", "testkit", "testdata")
for name in sorted(os.listdir(testdata)) if os.path.isdir(testdata) else []:
    with open(os.path.join(testdata, name), "rb") as f:
        data = f.read()
    head, _, body = data.partition(b"\n\n")
    fields = dict(line.split(b": ", 1) for line in head.split(b"\n") if b": " in line)
    if fields.get(b"compressed") == b"zlib":
        try:
            body = zlib.decompress(body)
        except zlib.error:
            continue
    if fields.get(b"identity", b"").startswith(b"AGE-SECRET-KEY-1"):
        identities.add(fields[b"identity"].decode())
    put("age", body)
cli = path("age", "cli")
for name in sorted(os.listdir(cli)) if os.path.isdir(cli) else []:
    if name.endswith(".age"):
        with open(os.path.join(cli, name), "rb") as f:
            put("age", f.read())
    elif name.startswith("identit"):
        with open(os.path.join(cli, name)) as f:
            identities.update(line.strip() for line in f if line.startswith("AGE-SECRET-KEY-1"))
os.makedirs(out, exist_ok=True)
with open(os.path.join(out, "age-identities.txt"), "w") as f:
    f.write("".join(identity + "\n" for identity in sorted(identities)))

print(" ".join(f"{target}:{count}" for target, count in sorted(counts.items())))

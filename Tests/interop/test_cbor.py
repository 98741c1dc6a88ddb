"""Every record the server holds decodes with an independent DAG-CBOR/CAR decoder (libipld), has the
CID the server claims, and equals the JSON that `com.atproto.repo.getRecord` returns.

Records come out as CAR files from `com.atproto.sync.getRecord` (commit + MST proof + record) and
`com.atproto.sync.getRepo` (the whole repository).
"""

import base64
import hashlib

import libipld
import pytest

from conftest import assert_xrpc_error, unique
from repo_check import _varint

DAG_CBOR = 0x71
SHA2_256 = 0x12


# --- CAR and CID helpers (written against the CARv1 / CIDv1 specs; libipld does the decoding) ------

def car_raw_blocks(data):
    """{cid bytes: raw block bytes} by walking the CAR framing (section = varint length, CID, bytes)."""
    header_length, offset = _varint(data, 0)
    offset += header_length
    blocks = {}
    while offset < len(data):
        length, offset = _varint(data, offset)
        section = data[offset:offset + length]
        offset += length
        # CIDv1: version, codec, multihash (code, length, digest), all varints but the digest.
        version, pos = _varint(section, 0)
        assert version == 1, "CAR blocks must use CIDv1"
        _, pos = _varint(section, pos)
        _, pos = _varint(section, pos)
        digest_length, pos = _varint(section, pos)
        cid_end = pos + digest_length
        blocks[bytes(section[:cid_end])] = bytes(section[cid_end:])
    return blocks


def cid_string(cid_bytes):
    return libipld.encode_cid(cid_bytes)


def expected_cid(block):
    """The CIDv1 dag-cbor sha2-256 of `block`."""
    digest = hashlib.sha256(block).digest()
    return bytes([1, DAG_CBOR, SHA2_256, 32]) + digest


def check_blocks(car_bytes):
    """Decodes a CAR with libipld and checks every block's CID against its bytes."""
    header, decoded = libipld.decode_car(car_bytes)
    assert header["version"] == 1
    raw = car_raw_blocks(car_bytes)
    assert set(raw) == set(decoded), "libipld and the CAR framing disagree on the block set"
    for cid, block in raw.items():
        assert cid == expected_cid(block), f"block {cid_string(cid)} does not hash to its CID"
        assert libipld.decode_dag_cbor(block) == decoded[cid]
    return header, decoded, raw


def same_value(json_value, ipld_value, path="value"):
    """Compares atproto JSON with a libipld-decoded value (`$link` / `$bytes` become CIDs / bytes)."""
    if isinstance(json_value, dict) and set(json_value) == {"$link"}:
        assert isinstance(ipld_value, bytes), f"{path}: expected a CID link, got {ipld_value!r}"
        assert cid_string(ipld_value) == json_value["$link"], path
    elif isinstance(json_value, dict) and set(json_value) == {"$bytes"}:
        text = json_value["$bytes"]
        assert ipld_value == base64.b64decode(text + "=" * (-len(text) % 4)), path
    elif isinstance(json_value, dict):
        assert isinstance(ipld_value, dict), f"{path}: expected a map, got {ipld_value!r}"
        assert set(json_value) == set(ipld_value), f"{path}: keys {sorted(json_value)} != {sorted(ipld_value)}"
        for key in json_value:
            same_value(json_value[key], ipld_value[key], f"{path}.{key}")
    elif isinstance(json_value, list):
        assert isinstance(ipld_value, list) and len(json_value) == len(ipld_value), path
        for index, (a, b) in enumerate(zip(json_value, ipld_value)):
            same_value(a, b, f"{path}[{index}]")
    else:
        assert type(json_value) is type(ipld_value) and json_value == ipld_value, (
            f"{path}: JSON {json_value!r} != CBOR {ipld_value!r}")


def has_links(value):
    if isinstance(value, dict):
        return set(value) == {"$link"} or any(has_links(v) for v in value.values())
    if isinstance(value, list):
        return any(has_links(v) for v in value)
    return False


def mst_entries(blocks, root):
    """All (key, value CID) pairs of the MST rooted at `root`, in order."""
    node = blocks[root]
    entries = []
    if node["l"] is not None:
        entries += mst_entries(blocks, node["l"])
    previous = b""
    for entry in node["e"]:
        key = previous[:entry["p"]] + entry["k"]
        previous = key
        entries.append((key.decode(), entry["v"]))
        if entry["t"] is not None:
            entries += mst_entries(blocks, entry["t"])
    return entries


def mst_lookup(blocks, root, key):
    """The value CID of `key`, following only the nodes on its path (as a proof CAR holds them)."""
    node = blocks[root]
    previous = b""
    subtree = node["l"]
    for entry in node["e"]:
        entry_key = (previous[:entry["p"]] + entry["k"])
        previous = entry_key
        if entry_key.decode() == key:
            return entry["v"]
        if entry_key.decode() > key:
            break
        subtree = entry["t"]
    if subtree is None:
        return None
    return mst_lookup(blocks, subtree, key)


# --- fixtures ----------------------------------------------------------------------------------------

RICH_VALUE = {
    "text": "unicode: é 日本語 🦋 and a NUL-free \"quoted\" string",
    "integers": [0, 1, -1, 23, 24, 255, 256, 65535, 65536, -65537, 2**31, 2**53 - 1, -(2**53 - 1)],
    "flags": {"yes": True, "no": False, "nothing": None},
    "nested": {"deeper": {"deepest": [[], {}, [{"a": "b"}]]}},
    "bytes": {"$bytes": "AAECAwQFBgcICQ"},
    "emptyBytes": {"$bytes": ""},
    "link": {"$link": "bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm"},
    # key order: DAG-CBOR sorts by length, then bytes
    "b": 1, "aa": 2, "a": 3, "ab": 4, "B": 5,
    "createdAt": "2026-01-01T00:00:00.000Z",
}


@pytest.fixture(scope="module")
def rich_record(client, did):
    rkey = unique("rich")
    created = client.com.atproto.repo.create_record(
        {"repo": did, "collection": "com.example.interop.kinds", "rkey": rkey, "record": RICH_VALUE})
    return "com.example.interop.kinds", rkey, created.cid


def list_all_records(server, did):
    """(collection, rkey, cid, JSON value) of every record in the repository, via listRecords."""
    records = []
    collections = server.get("com.atproto.repo.describeRepo", {"repo": did}).json()["collections"]
    for collection in collections:
        cursor = None
        while True:
            params = {"repo": did, "collection": collection, "limit": 100}
            if cursor:
                params["cursor"] = cursor
            page = server.get("com.atproto.repo.listRecords", params).json()
            for record in page["records"]:
                records.append((collection, record["uri"].rsplit("/", 1)[1], record["cid"], record["value"]))
            cursor = page.get("cursor")
            if not cursor:
                break
    return records


@pytest.fixture(scope="module")
def populated(client, did, rich_record):
    """At least a post, a profile and the rich record exist."""
    client.com.atproto.repo.create_record({"repo": did, "collection": "app.bsky.feed.post", "record": {
        "$type": "app.bsky.feed.post", "text": f"a post for the CBOR checks {unique()}",
        "createdAt": client.get_current_time_iso()}})
    client.com.atproto.repo.put_record({"repo": did, "collection": "app.bsky.actor.profile", "rkey": "self",
                                        "record": {"displayName": "CBOR check"}})


# --- tests -------------------------------------------------------------------------------------------

def test_rich_record_round_trips(server, did, rich_record):
    collection, rkey, cid = rich_record
    fetched = server.get("com.atproto.repo.getRecord", {"repo": did, "collection": collection, "rkey": rkey}).json()
    assert fetched["cid"] == cid
    assert fetched["value"] == dict(RICH_VALUE, **{"$type": collection})

    response = server.get("com.atproto.sync.getRecord", {"did": did, "collection": collection, "rkey": rkey})
    assert response.status_code == 200, response.text
    _, blocks, raw = check_blocks(response.content)
    record_cid = libipld.decode_cid(cid)
    assert record_cid["codec"] == DAG_CBOR and record_cid["hash"]["code"] == SHA2_256
    key = bytes([1, DAG_CBOR, SHA2_256, 32]) + record_cid["hash"]["digest"]
    assert key in blocks, "the record block is missing from the CAR"
    same_value(fetched["value"], blocks[key])
    # Canonical map key order: length first, then bytewise.
    keys = list(libipld.decode_dag_cbor(raw[key]).keys())
    assert keys == sorted(keys, key=lambda k: (len(k.encode()), k.encode()))


def test_every_record_matches_its_sync_get_record_car(server, did, populated):
    all_records = list_all_records(server, did)
    assert len(all_records) >= 3
    latest = server.get("com.atproto.sync.getLatestCommit", {"did": did}).json()
    for collection, rkey, cid, value in all_records:
        response = server.get("com.atproto.sync.getRecord", {"did": did, "collection": collection, "rkey": rkey})
        assert response.status_code == 200, f"sync.getRecord {collection}/{rkey}: {response.status_code} {response.text}"
        assert response.headers["Content-Type"] == "application/vnd.ipld.car"
        header, blocks, raw = check_blocks(response.content)

        # The root is the current signed commit.
        assert len(header["roots"]) == 1
        root = header["roots"][0]
        assert cid_string(root) == latest["cid"]
        commit = blocks[root]
        assert commit["did"] == did and commit["version"] == 3 and commit["rev"] == latest["rev"]
        assert isinstance(commit["sig"], bytes) and len(commit["sig"]) == 64

        # The MST path in the proof leads to the record's CID, whose block equals the JSON.
        found = mst_lookup(blocks, commit["data"], f"{collection}/{rkey}")
        assert found is not None, f"{collection}/{rkey} not on the MST path in the proof"
        assert cid_string(found) == cid
        same_value(value, blocks[found])
        if not has_links(value):
            # Without CID links libipld's re-encoding is exact: the stored bytes are canonical.
            assert libipld.encode_dag_cbor(blocks[found]) == raw[found]


def test_get_repo_car_holds_every_record(server, did, populated):
    all_records = list_all_records(server, did)
    response = server.get("com.atproto.sync.getRepo", {"did": did})
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "application/vnd.ipld.car"
    header, blocks, _ = check_blocks(response.content)
    commit = blocks[header["roots"][0]]
    assert commit["did"] == did
    entries = dict(mst_entries(blocks, commit["data"]))
    keys = list(entries)
    assert keys == sorted(keys), "MST entries are not in key order"
    expected = {f"{collection}/{rkey}": cid for collection, rkey, cid, _ in all_records}
    assert {key: cid_string(value) for key, value in entries.items()} == expected
    for collection, rkey, cid, value in all_records:
        same_value(value, blocks[entries[f"{collection}/{rkey}"]])


def test_sync_get_record_of_missing_record(server, did):
    response = server.get("com.atproto.sync.getRecord",
                          {"did": did, "collection": "app.bsky.feed.post", "rkey": "doesnotexist"})
    assert_xrpc_error(response, 400, "RecordNotFound")

"""The `com.atproto.sync.subscribeRepos` firehose and the `getRepo` export, checked independently.

The atproto SDK's firehose client replays the stream from cursor 0 while the SDK writes records;
libipld decodes every frame's CAR slice; `repo_check` / `mst` (own code, written from the spec)
verify each commit's signature against the DID document's key, the rev / since / prevData chain, the
per-op `prev`, and apply each #commit's ops to the previous state to get the commit's MST root (and
invert them from the CAR slice alone back to `prevData`). Issue 4, points 1, 2 and 6.
"""

import random
import time

import libipld
import pytest

import mst
import repo_check
from conftest import unique

COLLECTION = "com.example.interop.firehose"
POST = "app.bsky.feed.post"
CREATE = "com.atproto.repo.applyWrites#create"
UPDATE = "com.atproto.repo.applyWrites#update"
DELETE = "com.atproto.repo.applyWrites#delete"


def _latest(server, did):
    response = server.get("com.atproto.sync.getLatestCommit", {"did": did})
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture(scope="module")
def key(server, did):
    return repo_check.account_key(server, did)


@pytest.fixture(scope="module")
def replay(server, client, did):
    """Subscribes from cursor 0 with the SDK's firehose client, writes with the SDK while subscribed,
    and waits for the last write's commit. Returns (frames, writes, latest commit)."""
    writes = []    # (rev, [(action, path, cid or None, value or None)])

    def record(rev, *ops):
        writes.append((rev, list(ops)))

    with repo_check.FirehoseRecorder(server.url, cursor=0) as recorder:
        rkeys = [unique("fh") for _ in range(6)]
        values = {}
        for index, rkey in enumerate(rkeys):
            values[rkey] = {"n": index, "text": f"firehose {rkey}"}
            out = client.com.atproto.repo.create_record(
                {"repo": did, "collection": COLLECTION, "rkey": rkey, "record": values[rkey]})
            record(out.commit.rev, ("create", f"{COLLECTION}/{rkey}", out.cid, values[rkey]))

        # An update (putRecord over an existing record) and a create through putRecord.
        changed = {"n": 100, "text": "updated"}
        out = client.com.atproto.repo.put_record(
            {"repo": did, "collection": COLLECTION, "rkey": rkeys[0], "record": changed})
        record(out.commit.rev, ("update", f"{COLLECTION}/{rkeys[0]}", out.cid, changed))
        fresh = unique("put")
        out = client.com.atproto.repo.put_record(
            {"repo": did, "collection": COLLECTION, "rkey": fresh, "record": {"n": 101}})
        record(out.commit.rev, ("create", f"{COLLECTION}/{fresh}", out.cid, {"n": 101}))

        out = client.com.atproto.repo.delete_record({"repo": did, "collection": COLLECTION, "rkey": rkeys[1]})
        record(out.commit.rev, ("delete", f"{COLLECTION}/{rkeys[1]}", None, None))

        # A big batch (enough keys for a multi-layer tree), then a mixed batch.
        batch = [unique("b") for _ in range(60)]
        out = client.com.atproto.repo.apply_writes({"repo": did, "writes": [
            {"$type": CREATE, "collection": COLLECTION, "rkey": rkey, "value": {"batch": rkey}} for rkey in batch]})
        record(out.commit.rev, *[("create", f"{COLLECTION}/{rkey}", result.cid, {"batch": rkey})
                                 for rkey, result in zip(batch, out.results)])
        mixed_new = unique("m")
        out = client.com.atproto.repo.apply_writes({"repo": did, "writes": [
            {"$type": CREATE, "collection": COLLECTION, "rkey": mixed_new, "value": {"mixed": True}},
            {"$type": UPDATE, "collection": COLLECTION, "rkey": rkeys[2], "value": {"mixed": "update"}},
            {"$type": DELETE, "collection": COLLECTION, "rkey": rkeys[3]},
            {"$type": DELETE, "collection": COLLECTION, "rkey": batch[7]},
        ]})
        record(out.commit.rev,
               ("create", f"{COLLECTION}/{mixed_new}", out.results[0].cid, {"mixed": True}),
               ("update", f"{COLLECTION}/{rkeys[2]}", out.results[1].cid, {"mixed": "update"}),
               ("delete", f"{COLLECTION}/{rkeys[3]}", None, None),
               ("delete", f"{COLLECTION}/{batch[7]}", None, None))
        # Deleting a batch of neighbours one at a time (merges in the tree).
        for rkey in random.Random(4).sample(batch[8:], 12):
            out = client.com.atproto.repo.delete_record({"repo": did, "collection": COLLECTION, "rkey": rkey})
            record(out.commit.rev, ("delete", f"{COLLECTION}/{rkey}", None, None))

        latest = _latest(server, did)
        assert latest["rev"] == writes[-1][0]
        assert recorder.wait_for_rev(latest["rev"], 30), (
            f"the last write's commit {latest['rev']} did not arrive within 30 s; "
            f"{len(recorder.frames)} frames, errors {recorder.errors}")
        time.sleep(0.5)   # a duplicate or stray frame would arrive now
    assert not recorder.errors, f"firehose client errors: {recorder.errors!r}"
    assert recorder.dials == 1, f"the firehose connection dropped ({recorder.dials} connections)"
    return recorder.snapshot(), writes, latest


# --- the helpers themselves --------------------------------------------------------------------------

KEY_HEIGHTS = {  # ATPROTO.md §4.3 (interop vectors mst/key_heights.json)
    "": 0, "asdf": 0, "blue": 1, "2653ae71": 0, "88bfafc7": 2, "2a92d355": 4, "884976f5": 6,
    "app.bsky.feed.post/454397e440ec": 4, "app.bsky.feed.post/9adeb165882c": 8,
}
LEAF = "bafyreie5cvv4h45feadgeuwhbcutmh6t2ceseocckahdoe6uat64zmz454"
KNOWN_TREES = [  # extra-vectors/mst/mst-known-trees.json
    ([], mst.EMPTY_ROOT),
    (["com.example.record/3jqfcqzm3fo2j"], "bafyreibj4lsc3aqnrvphp5xmrnfoorvru4wynt6lwidqbm2623a6tatzdu"),
    (["com.example.record/3jqfcqzm3fx2j"], "bafyreih7wfei65pxzhauoibu3ls7jgmkju4bspy4t2ha2qdjnzqvoy33ai"),
]


def test_mst_helper_matches_spec_vectors():
    for key, height in KEY_HEIGHTS.items():
        assert mst.key_height(key) == height, key
    leaf = repo_check.cid_bytes(LEAF)
    for keys, root in KNOWN_TREES:
        assert repo_check.cid_str(mst.build({k: leaf for k in keys})[0]) == root
        tree = mst.Tree.empty()
        for k in keys:
            tree.put(k, leaf)
        assert repo_check.cid_str(tree.root_cid()) == root


def test_mst_helper_incremental_tree_equals_full_rebuild():
    """The two MST implementations in mst.py agree on random inserts and deletes (incl. deep keys)."""
    rng = random.Random(7)
    state, tree, store = {}, None, {}
    tree = mst.Tree.empty(store)
    for step in range(600):
        if state and rng.random() < 0.4:
            path = rng.choice(sorted(state))
            del state[path]
            tree.delete(path)
        else:
            path = f"com.example.c{rng.randrange(3)}/{rng.randrange(10**7):07d}"
            state[path] = mst.cid_of(str(step).encode())
            tree.put(path, state[path])
        if step % 50 == 49:
            root = tree.root_cid()
            store.update(tree.new_blocks)
            expected, blocks = mst.build(state)
            assert root == expected, f"step {step}"
            assert [(k.decode(), v) for k, v in mst.walk(expected, blocks)] == sorted(state.items())
            tree = mst.Tree(root, store)


def test_signature_check_rejects_a_tampered_commit(server, did, key):
    response = server.get("com.atproto.sync.getRepo", {"did": did})
    roots, raw, _ = repo_check.read_car(response.content)
    commit = repo_check.check_commit(raw[roots[0]], did, key)
    unsigned = libipld.encode_dag_cbor({k: v for k, v in commit.items() if k != "sig"})
    assert repo_check.signature_valid(key, unsigned, commit["sig"])
    assert not repo_check.signature_valid(key, unsigned.replace(b"version\x03", b"version\x04"), commit["sig"])
    bad_sig = bytes([commit["sig"][0] ^ 1]) + commit["sig"][1:]
    assert not repo_check.signature_valid(key, unsigned, bad_sig)


# --- the stream ---------------------------------------------------------------------------------------

def test_replay_from_cursor_zero_has_every_event_once_in_order(replay):
    frames, _, _ = replay
    seqs = [body["seq"] for kind, body, _ in frames if kind != "#info"]
    assert seqs, "no events"
    assert len(seqs) == len(set(seqs)), "duplicate seq in the replay"
    assert seqs == sorted(seqs), "seq not increasing"
    # The server's log starts at 1 and has no holes (issue 4: no gap, no duplicate).
    assert seqs == list(range(1, len(seqs) + 1)), (
        f"seq values are not consecutive from 1: first {seqs[:5]}, holes "
        f"{sorted(set(range(1, seqs[-1] + 1)) - set(seqs))[:10]}")
    # Account creation: #identity, #account (active), the genesis #commit, #sync (ATPROTO.md §13.6).
    assert [kind for kind, _, _ in frames[:4]] == ["#identity", "#account", "#commit", "#sync"]
    assert frames[1][1]["active"] is True
    assert frames[2][1]["ops"] == [] and frames[2][1]["since"] is None


def test_every_commit_applies_to_the_previous_state_and_inverts(server, did, key, replay):
    frames, _, latest = replay
    checker = repo_check.StreamChecker(did, key, full_rebuild=True).check(frames)
    assert len(checker.commits) >= 20
    assert checker.rev == latest["rev"]
    assert repo_check.cid_str(checker.commits[-1]["cid"]) == latest["cid"]
    # The state the stream builds is the repository getRepo exports.
    export = repo_check.fetch_repo(server, did, key)
    assert export.commit["rev"] == latest["rev"]
    assert export.commit["data"] == checker.data
    assert checker.records == export.records


def test_writes_made_while_subscribed_arrive_as_their_ops(replay):
    frames, writes, _ = replay
    commits = {body["rev"]: body for kind, body, _ in frames if kind == "#commit"}
    previous = {}
    for rev, ops in writes:
        assert rev in commits, f"no #commit for rev {rev}"
        body = commits[rev]
        _, _, decoded = repo_check.read_car(body["blocks"])
        got = [(op["action"], op["path"], repo_check.cid_str(op["cid"])) for op in body["ops"]]
        assert sorted(got) == sorted((a, p, c) for a, p, c, _ in ops), f"ops of {rev}"
        for action, path, cid, value in ops:
            op = next(op for op in body["ops"] if op["path"] == path)
            if action == "create":
                assert "prev" not in op
            elif path in previous:
                assert repo_check.cid_str(op["prev"]) == previous[path], f"prev of {action} {path}"
            if cid is not None:
                block = decoded[repo_check.cid_bytes(cid)]
                assert {k: v for k, v in block.items() if k != "$type"} == value, path
                assert block.get("$type", COLLECTION) == COLLECTION, path
                previous[path] = cid
            else:
                previous.pop(path, None)


def test_resume_from_a_cursor_continues_live_without_gap(server, client, did, key, replay):
    frames, _, _ = replay
    last_seq = frames[-1][1]["seq"]
    with repo_check.FirehoseRecorder(server.url, cursor=last_seq) as recorder:
        time.sleep(0.3)
        out = client.com.atproto.repo.create_record(
            {"repo": did, "collection": COLLECTION, "record": {"after": last_seq}})
        assert recorder.wait_for_rev(out.commit.rev, 20), f"live commit {out.commit.rev} not delivered"
        time.sleep(0.3)
    assert not recorder.errors, recorder.errors
    assert recorder.dials == 1, f"the firehose connection dropped ({recorder.dials} connections)"
    tail = recorder.snapshot()
    assert [body["seq"] for _, body, _ in tail] == [last_seq + 1], (
        f"after cursor {last_seq} expected exactly seq {last_seq + 1}, got {[b['seq'] for _, b, _ in tail]}")
    kind, body, _ = tail[0]
    assert kind == "#commit" and body["rev"] == out.commit.rev
    assert body["prevData"] == repo_check.StreamChecker(did, key).check(frames).data


# --- getRepo ------------------------------------------------------------------------------------------

def test_get_repo_verifies_against_the_did_document(server, did, key):
    export = repo_check.fetch_repo(server, did, key)
    records, raw = export.records, export.blocks
    latest = _latest(server, did)
    assert repo_check.cid_str(export.cid) == latest["cid"], "the CAR root is not the latest commit"
    assert export.commit["rev"] == latest["rev"]
    assert len(records) >= 20
    # Every node of the tree is one layer below its parent and every key sits at its height:
    # `mst.walk` (inside fetch_repo) checks that; here, that the tree really has several layers.
    heights = {mst.key_height(path) for path in records}
    assert max(heights) >= 1, "the test repository should span more than one MST layer"
    # Every record block decodes and hashes to the CID the tree names (read_car checked the hashes).
    for path, cid in records.items():
        assert isinstance(libipld.decode_dag_cbor(raw[cid]), dict), path

"""Independent verification of a repository and of its event stream, shared by the interop tests.

  * CAR parsing (libipld, cross-checked against a walk of the CAR framing) with every block's CID
    recomputed from its bytes;
  * the account's `#atproto` key from its DID document and commit signature checks (K-256 or P-256
    ECDSA over SHA-256 of the DAG-CBOR commit without `sig`, 64-byte r||s, low-S) with `cryptography`;
  * `verify_repo_car`: a full `getRepo` export checked node by node and rebuilt with `mst.build`;
  * `FirehoseRecorder`: `com.atproto.sync.subscribeRepos` through the `atproto` SDK's firehose client;
  * `StreamChecker`: the sync 1.1 rules for every frame, with each `#commit`'s ops applied to the
    previous state (own MST) to get the new root, and inverted from the frame's CAR slice alone.

Facts: ../shared/spec/ATPROTO.md §2-4, §7-8, §12-13.
"""

import re
import threading
import time

import libipld
from atproto import CAR, FirehoseSubscribeReposClient, models, parse_subscribe_repos_message
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

import mst

MAX_COMMIT_BLOCKS_BYTES = 2_000_000
MAX_OPS = 200
TID_RE = re.compile(r"^[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}$")
PATH_RE = re.compile(r"^[A-Za-z0-9.\-]+/[A-Za-z0-9._~:\-]{1,512}$")

# Curve orders, for the low-S rule.
K256_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def cid_str(cid):
    return None if cid is None else libipld.encode_cid(cid)


def cid_bytes(text):
    """Binary form of a dag-cbor sha2-256 CIDv1 string."""
    decoded = libipld.decode_cid(text)
    assert decoded["version"] == 1 and decoded["codec"] == mst.DAG_CBOR, text
    assert decoded["hash"]["code"] == mst.SHA2_256 and decoded["hash"]["size"] == 32, text
    return mst.CID_PREFIX + decoded["hash"]["digest"]


# --- CAR ---------------------------------------------------------------------------------------------

def _varint(data, offset):
    value = shift = 0
    while True:
        byte = data[offset]
        offset += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, offset
        shift += 7


def read_car(data):
    """(roots, {CID: raw block}, {CID: decoded block}) of a CARv1, every block checked against its CID."""
    data = bytes(data)
    header, decoded = libipld.decode_car(data)
    assert header.get("version") == 1, f"CAR header {header!r}"
    roots = header.get("roots")
    assert isinstance(roots, list) and roots, f"CAR without roots: {header!r}"
    header_length, offset = _varint(data, 0)
    offset += header_length
    raw = {}
    while offset < len(data):
        length, offset = _varint(data, offset)
        section = data[offset:offset + length]
        assert len(section) == length, "truncated CAR section"
        offset += length
        version, pos = _varint(section, 0)
        assert version == 1, "CAR blocks must use CIDv1"
        _, pos = _varint(section, pos)                # codec
        _, pos = _varint(section, pos)                # multihash code
        digest_length, pos = _varint(section, pos)
        cid, block = bytes(section[:pos + digest_length]), bytes(section[pos + digest_length:])
        assert cid == mst.cid_of(block), f"CAR block {cid_str(cid)} does not hash to its CID"
        raw[cid] = block
    assert set(raw) == set(decoded), "libipld and the CAR framing disagree on the block set"
    return roots, raw, decoded


# --- keys and signatures -----------------------------------------------------------------------------

def signing_key(did_doc, did):
    """(public key, curve order) of the first `#atproto` Multikey verification method of `did_doc`."""
    assert did_doc.get("id") == did, f"DID document id {did_doc.get('id')!r} != {did}"
    for method in did_doc.get("verificationMethod", []):
        if method.get("id") in ("#atproto", f"{did}#atproto"):
            assert method.get("type") == "Multikey", method
            assert method.get("controller") == did, method
            return parse_multikey(method["publicKeyMultibase"])
    raise AssertionError(f"no #atproto verification method in {did_doc!r}")


def parse_multikey(multibase):
    base, data = libipld.decode_multibase(multibase)
    assert base == "z" and multibase.startswith("z"), f"multikey {multibase!r} is not base58btc"
    if data[:2] == b"\xe7\x01":
        curve, order = ec.SECP256K1(), K256_ORDER
    elif data[:2] == b"\x80\x24":
        curve, order = ec.SECP256R1(), P256_ORDER
    else:
        raise AssertionError(f"multikey {multibase!r} has an unknown multicodec {data[:2].hex()}")
    point = data[2:]
    assert len(point) == 33 and point[0] in (2, 3), f"multikey {multibase!r} is not a compressed point"
    return ec.EllipticCurvePublicKey.from_encoded_point(curve, point), order


def signature_valid(key, message, signature):
    """True when `signature` (64-byte r||s, low-S) signs SHA-256(`message`) under `key`."""
    public_key, order = key
    if not isinstance(signature, bytes) or len(signature) != 64:
        return False
    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    if not (0 < r < order and 0 < s <= order // 2):
        return False
    try:
        public_key.verify(encode_dss_signature(r, s), message, ec.ECDSA(hashes.SHA256()))
        return True
    except InvalidSignature:
        return False


def check_commit(block, did, key):
    """Decodes and checks a signed v3 commit block; returns the commit."""
    commit = libipld.decode_dag_cbor(block)
    assert isinstance(commit, dict), commit
    assert set(commit) == {"did", "version", "data", "rev", "prev", "sig"}, f"commit fields: {sorted(commit)}"
    assert commit["did"] == did, commit["did"]
    assert commit["version"] == 3, commit["version"]
    assert commit["prev"] is None, "v3 commits have prev = null"
    assert isinstance(commit["data"], bytes) and commit["data"][:4] == mst.CID_PREFIX, "commit data link"
    assert isinstance(commit["rev"], str) and TID_RE.match(commit["rev"]), f"rev {commit['rev']!r} is not a TID"
    # libipld encodes any byte string that parses as a CID as a link, so `sig` itself is never
    # re-encoded here; the unsigned commit holds no byte strings but the `data` link.
    unsigned = libipld.encode_dag_cbor({k: v for k, v in commit.items() if k != "sig"})
    sig = commit["sig"]
    assert isinstance(sig, bytes) and len(sig) == 64, f"signature is {len(sig)} bytes, not 64 (r||s)"
    assert int.from_bytes(sig[32:], "big") <= key[1] // 2, "signature is not low-S"
    assert signature_valid(key, unsigned, sig), f"commit {commit['rev']} signature does not verify"
    return commit


def account_key(server, did):
    """The `#atproto` key from the DID document that `com.atproto.repo.describeRepo` returns."""
    response = server.get("com.atproto.repo.describeRepo", {"repo": did})
    assert response.status_code == 200, response.text
    return signing_key(response.json()["didDoc"], did)


# --- full repository ---------------------------------------------------------------------------------

class RepoExport:
    """A verified full export: the commit's CID, the commit, {path: record CID}, {CID: raw block}."""

    def __init__(self, cid, commit, records, blocks):
        self.cid, self.commit, self.records, self.blocks = cid, commit, records, blocks


def verify_repo_car(car_bytes, did, key):
    """Checks a full `getRepo` export (see the module docstring) and returns a `RepoExport`."""
    roots, raw, _ = read_car(car_bytes)
    commit = check_commit(raw[roots[0]], did, key)
    entries = mst.walk(commit["data"], raw)   # node hashes, fields, key order, heights, layers
    for path, _ in entries:
        assert PATH_RE.match(path.decode()), f"bad repository path {path!r}"
    records = {path.decode(): value for path, value in entries}
    for path, value in records.items():
        assert value in raw, f"record block of {path} ({cid_str(value)}) is missing from the CAR"
    rebuilt, rebuilt_blocks = mst.build(entries)
    assert rebuilt == commit["data"], (
        f"MST rebuilt from the {len(entries)} records has root {cid_str(rebuilt)}, commit says "
        f"{cid_str(commit['data'])}")
    for cid, block in rebuilt_blocks.items():
        assert raw.get(cid) == block, f"MST node {cid_str(cid)} missing from the CAR or different"
    return RepoExport(roots[0], commit, records, raw)


def fetch_repo(server, did, key):
    response = server.get("com.atproto.sync.getRepo", {"did": did})
    assert response.status_code == 200, response.text[:500]
    assert response.headers["Content-Type"] == "application/vnd.ipld.car"
    return verify_repo_car(response.content, did, key)


# --- firehose ----------------------------------------------------------------------------------------

class _CountingClient(FirehoseSubscribeReposClient):
    """The SDK client, counting its connection attempts (it reconnects silently)."""

    dials = 0

    def _before_connect(self):
        self.dials += 1
        super()._before_connect()


class FirehoseRecorder:
    """Consumes subscribeRepos with the atproto SDK's (sync) firehose client on a background thread.

    Every message becomes (type, raw body as libipld decoded it, SDK model). SDK failures (a model that
    does not validate, an error frame) land in `errors`; `dials` counts connections (the SDK reconnects
    on its own, resuming after the last seq seen).
    """

    def __init__(self, http_url, cursor=None):
        base = http_url.replace("http://", "ws://").replace("https://", "wss://").rstrip("/") + "/xrpc"
        params = {"cursor": cursor} if cursor is not None else None
        self.client = _CountingClient(params=params, base_uri=base, recv_timeout=60)
        self.frames = []
        self.errors = []
        self.revs = set()
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        try:
            self.client.start(self._on_message, self._on_error)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.errors.append(exc)

    def _on_message(self, frame):
        model = parse_subscribe_repos_message(frame)
        if isinstance(frame.body.get("seq"), int):
            self.client.update_params({"cursor": frame.body["seq"]})
        with self.lock:
            self.frames.append((frame.type, frame.body, model))
            if frame.type in ("#commit", "#sync"):
                self.revs.add(frame.body.get("rev"))

    def _on_error(self, exc):
        self.errors.append(exc)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def stop(self):
        self.client.stop()
        self.thread.join(10)

    def wait_for_rev(self, rev, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if rev in self.revs:
                return True
            if self.errors or not self.thread.is_alive():
                break
            time.sleep(0.02)
        return rev in self.revs

    @property
    def dials(self):
        return self.client.dials

    def snapshot(self):
        with self.lock:
            return list(self.frames)


class StreamChecker:
    """Checks the frames of a subscribeRepos replay from cursor 0 (as `FirehoseRecorder` records them).

    Starts from an empty repository and applies each #commit: its ops must fit the current state
    (per-op `prev`), the own MST (incremental; also a full rebuild when `full_rebuild`) must give the
    commit's `data`, the CAR slice must hold the commit, the created and updated records and every new
    MST node, and the ops must invert from the slice alone to `prevData`. #sync must announce the state
    the stream has built.
    """

    def __init__(self, did, key, full_rebuild=False):
        self.did, self.key, self.full_rebuild = did, key, full_rebuild
        self.records = {}      # path -> record CID after the last commit
        self.commits = []      # {seq, rev, cid, data, ops} of every #commit
        self.seqs = []
        self.types = []
        self.nodes = {}        # MST nodes computed here, never taken from the server
        self.root = mst.Tree.empty(self.nodes).root_cid()
        self.rebuilt_nodes = {self.root} if full_rebuild else None

    @property
    def rev(self):
        return self.commits[-1]["rev"] if self.commits else None

    @property
    def data(self):
        return self.commits[-1]["data"] if self.commits else None

    def check(self, frames):
        for index, (kind, body, model) in enumerate(frames):
            self.frame(f"frame {index} ({kind}, seq {body.get('seq')})", kind, body, model)
        return self

    def frame(self, where, kind, body, model):
        if kind == "#info":
            assert isinstance(model, models.ComAtprotoSyncSubscribeRepos.Info), where
            return
        seq = body.get("seq")
        assert isinstance(seq, int) and 0 < seq < 2**53, f"{where}: bad seq"
        assert not self.seqs or seq > self.seqs[-1], f"{where}: seq {seq} after {self.seqs[-1]}"
        self.seqs.append(seq)
        self.types.append(kind)
        assert isinstance(body.get("time"), str) and body["time"].endswith("Z"), f"{where}: time {body.get('time')!r}"
        if kind == "#identity":
            assert isinstance(model, models.ComAtprotoSyncSubscribeRepos.Identity), where
            assert body["did"] == self.did, where
        elif kind == "#account":
            assert isinstance(model, models.ComAtprotoSyncSubscribeRepos.Account), where
            assert body["did"] == self.did and isinstance(body["active"], bool), where
        elif kind == "#sync":
            assert isinstance(model, models.ComAtprotoSyncSubscribeRepos.Sync), where
            self._sync(where, body)
        elif kind == "#commit":
            assert isinstance(model, models.ComAtprotoSyncSubscribeRepos.Commit), where
            self._commit(where, body, model)
        else:
            raise AssertionError(f"{where}: unexpected message type")

    def _sync(self, where, body):
        assert body["did"] == self.did, where
        roots, raw, _ = read_car(body["blocks"])
        assert list(raw) == [roots[0]], f"{where}: #sync blocks must hold only the commit"
        commit = check_commit(raw[roots[0]], self.did, self.key)
        assert commit["rev"] == body["rev"], where
        assert self.rev is None or commit["rev"] >= self.rev, f"{where}: #sync rev goes backwards"
        assert commit["data"] == self.root, (
            f"{where}: #sync announces data {cid_str(commit['data'])}, the stream so far gives {cid_str(self.root)}")

    def _commit(self, where, body, model):
        did = self.did
        required = {"seq", "rebase", "tooBig", "repo", "commit", "rev", "since", "blocks", "ops", "blobs", "time"}
        assert required <= set(body), f"{where}: missing fields {sorted(required - set(body))}"
        assert body["rebase"] is False and body["tooBig"] is False, f"{where}: rebase/tooBig must be false"
        assert body["blobs"] == [], f"{where}: blobs must be []"
        assert body["repo"] == did, where
        assert isinstance(body["blocks"], bytes) and len(body["blocks"]) <= MAX_COMMIT_BLOCKS_BYTES, where
        assert isinstance(body["ops"], list) and len(body["ops"]) <= MAX_OPS, where

        roots, raw, _ = read_car(body["blocks"])
        assert roots[0] == body["commit"], f"{where}: CAR root is not the commit"
        assert str(CAR.from_bytes(body["blocks"]).root) == str(model.commit), f"{where}: SDK CAR root != SDK commit"
        assert body["commit"] in raw, f"{where}: the commit block is not in blocks"
        commit = check_commit(raw[body["commit"]], did, self.key)
        assert commit["rev"] == body["rev"], f"{where}: rev {body['rev']} != commit rev {commit['rev']}"

        # rev / since / prevData chain
        assert self.rev is None or body["rev"] > self.rev, f"{where}: rev {body['rev']} not after {self.rev}"
        assert body["since"] == self.rev, f"{where}: since {body['since']!r}, previous commit rev {self.rev!r}"
        if self.commits:
            assert body.get("prevData") is not None, f"{where}: prevData missing"
            assert body["prevData"] == self.data, (
                f"{where}: prevData {cid_str(body['prevData'])} != previous commit data {cid_str(self.data)}")
        else:
            assert body.get("prevData") in (None, self.root), f"{where}: genesis prevData {body.get('prevData')!r}"

        # ops against the current state, applied to the own MST
        tree = mst.Tree(self.root, self.nodes)
        records = self.records
        paths = set()
        for op in body["ops"]:
            path, action = op.get("path"), op.get("action")
            assert isinstance(path, str) and PATH_RE.match(path), f"{where}: bad op path {path!r}"
            assert path not in paths, f"{where}: two ops on {path}"
            paths.add(path)
            assert "cid" in op, f"{where}: op on {path} without cid"
            if action == "create":
                assert "prev" not in op, f"{where}: create of {path} carries prev (must be omitted)"
                assert path not in records, f"{where}: create of existing {path}"
            elif action in ("update", "delete"):
                assert path in records, f"{where}: {action} of missing {path}"
                assert op.get("prev") == records[path], (
                    f"{where}: {action} of {path} has prev {cid_str(op.get('prev'))}, "
                    f"state has {cid_str(records[path])}")
            else:
                raise AssertionError(f"{where}: unknown action {action!r}")
            if action == "delete":
                assert op["cid"] is None, f"{where}: delete of {path} with a cid"
                del records[path]
                tree.delete(path)
            else:
                assert isinstance(op["cid"], bytes), f"{where}: {action} of {path} without a cid"
                assert op["cid"] in raw, f"{where}: record block of {action} {path} is not in blocks"
                records[path] = op["cid"]
                tree.put(path, op["cid"])

        new_root = tree.root_cid()
        self.nodes.update(tree.new_blocks)
        assert new_root == commit["data"], (
            f"{where}: applying the {len(body['ops'])} ops to the previous state gives MST root "
            f"{cid_str(new_root)}, the commit's data is {cid_str(commit['data'])}")
        new_nodes = set(tree.new_blocks) - tree.read
        if self.full_rebuild:
            rebuilt, rebuilt_blocks = mst.build(records)
            assert rebuilt == commit["data"], f"{where}: full rebuild gives {cid_str(rebuilt)}"
            new_nodes |= set(rebuilt_blocks) - self.rebuilt_nodes
            self.rebuilt_nodes = set(rebuilt_blocks)
        missing = sorted(cid_str(c) for c in new_nodes if c not in raw)
        assert not missing, f"{where}: new MST nodes missing from blocks: {missing}"

        # invert the ops from nothing but the CAR slice
        if body.get("prevData") is not None:
            inverse = mst.Tree(commit["data"], raw)
            try:
                for op in reversed(body["ops"]):
                    if op["action"] == "create":
                        inverse.delete(op["path"])
                    else:
                        inverse.put(op["path"], op["prev"])
                inverted = inverse.root_cid()
            except mst.MissingBlock as exc:
                raise AssertionError(f"{where}: blocks lack an MST node needed to invert the ops: {exc}") from None
            assert inverted == body["prevData"], (
                f"{where}: inverting the ops from blocks gives {cid_str(inverted)}, prevData is "
                f"{cid_str(body['prevData'])}")

        self.root = new_root
        self.commits.append({"seq": body["seq"], "rev": body["rev"], "cid": body["commit"],
                             "data": commit["data"], "ops": body["ops"]})

"""Crash durability (issue 4, point 5): `kill -9` the server again and again while a client writes as
fast as it can; no acknowledged write may be lost and the repository and the event log stay valid.

The test runs its own `pds dev` (binary: PDS_INTEROP_BIN, as `Tests/interop/run` exports it; default
`.build/debug/pds`) on a free loopback port with a temporary data directory, restarting it on the same
directory after every kill. Afterwards:

  * every createRecord the client saw answered 200 is in the repository with the CID it was given
    (getRepo CAR, and getRecord for the last write before each kill);
  * the repository verifies from its getRepo CAR (signature, MST nodes, order, heights, rebuilt root);
  * the firehose replay from cursor 0 has seq 1, 2, 3, ... with no gap and no duplicate, every #commit's
    prevData is the previous commit's data, its ops rebuild its MST root, and every acknowledged write
    is in it.

Every fourth request deletes an earlier record (issue 16: every commit deletes the blocks it
replaced, and a delete also its record's block), so kills land in commits with deletions too. Then,
with the server stopped, the blocks in pds.sqlite are exactly those of the getRepo CAR (nothing
unreachable stays, nothing reachable is missing); `pds compact` refuses while the server runs,
compacts once it is stopped, and the repository verifies again from getRepo afterwards.

Knobs: PDS_INTEROP_CRASH_KILLS (default 30), PDS_INTEROP_CRASH_SEED (default: random, printed on failure).
"""

import os
import pathlib
import random
import signal
import socket
import sqlite3
import subprocess
import threading
import time
import uuid
from collections import Counter

import libipld
import pytest
import requests

import repo_check

ROOT = pathlib.Path(__file__).resolve().parents[2]
BINARY = os.environ.get("PDS_INTEROP_BIN") or str(ROOT / ".build" / "debug" / "pds")
KILLS = int(os.environ.get("PDS_INTEROP_CRASH_KILLS", "30"))
SEED = int(os.environ.get("PDS_INTEROP_CRASH_SEED") or random.SystemRandom().randrange(2**32))
COLLECTION = "com.example.interop.crash"
HANDLE = "crash.test"
WALL_LIMIT = 75          # seconds for the kill loop; the checks after it take a few more
START_TIMEOUT = 30


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PrivateServer:
    """One `pds dev` process on 127.0.0.1, restartable on the same data directory."""

    def __init__(self, workdir):
        self.data = workdir / "data"
        self.log_path = workdir / "pds.log"
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.password = f"crash-{uuid.uuid4().hex[:12]}"
        self.process = None
        self.starts = 0
        # Only the knobs given here apply: drop every inherited PDS_* setting.
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("PDS_")}
        self.env["PDS_CRAWLERS"] = ""  # no relay is asked to crawl: nothing leaves loopback
        # Writing as fast as possible is the point here, not the reference's repoWrite budget.
        self.env["PDS_RATE_LIMITS_ENABLED"] = "false"

    def start(self):
        with open(self.log_path, "ab") as log:
            log.write(f"--- start {self.starts} ---\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                [BINARY, "dev", "--data", str(self.data), "--port", str(self.port),
                 "--handle", HANDLE, "--password", self.password],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=self.env)
        self.starts += 1
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"pds exited with {self.process.returncode} during start-up "
                                     f"#{self.starts}:\n{self.log_tail()}")
            try:
                if requests.get(f"{self.url}/xrpc/_health", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.02)
        raise AssertionError(f"pds did not become healthy in {START_TIMEOUT} s (start #{self.starts}):\n"
                             f"{self.log_tail()}")

    def kill9(self):
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)

    def log_tail(self, lines=30):
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def get(self, nsid, params):
        return requests.get(f"{self.url}/xrpc/{nsid}", params=params, timeout=30)


class Writer(threading.Thread):
    """createRecord in a loop, as fast as the server answers; logs in again after any failure."""

    def __init__(self, server, deadline):
        super().__init__(daemon=True)
        self.server = server
        self.deadline = deadline
        self.halt = threading.Event()
        self.acked = []          # (path, cid, commit rev, n) of every 200 answer to a create
        self.delete_attempts = set()   # paths a deleteRecord was sent for (answered or not)
        self.deleted = set()           # paths whose deleteRecord was answered 200
        self.rng = random.Random(SEED + 1)
        self.unexpected = []     # non-200 HTTP answers
        self.connection_errors = 0
        self.logins = 0
        self.did = None

    def run(self):
        http = requests.Session()
        url = self.server.url
        token = None
        n = 0
        while not self.halt.is_set() and time.monotonic() < self.deadline:
            try:
                if token is None:
                    response = http.post(f"{url}/xrpc/com.atproto.server.createSession",
                                         json={"identifier": HANDLE, "password": self.server.password}, timeout=10)
                    if response.status_code != 200:
                        self.unexpected.append(("createSession", response.status_code, response.text[:200]))
                        time.sleep(0.05)
                        continue
                    session = response.json()
                    token, self.did = session["accessJwt"], session["did"]
                    self.logins += 1
                n += 1
                candidates = [a for a in self.acked[-50:] if a[0] not in self.delete_attempts]
                if n % 4 == 0 and candidates:
                    path = self.rng.choice(candidates)[0]
                    self.delete_attempts.add(path)
                    collection, rkey = path.split("/")
                    response = http.post(
                        f"{url}/xrpc/com.atproto.repo.deleteRecord",
                        json={"repo": self.did, "collection": collection, "rkey": rkey},
                        headers={"Authorization": f"Bearer {token}"}, timeout=10)
                    if response.status_code == 200:
                        self.deleted.add(path)
                    else:
                        self.unexpected.append(("deleteRecord", response.status_code, response.text[:200]))
                        token = None
                        time.sleep(0.02)
                    continue
                response = http.post(
                    f"{url}/xrpc/com.atproto.repo.createRecord",
                    json={"repo": self.did, "collection": COLLECTION,
                          "record": {"n": n, "createdAt": "2026-01-01T00:00:00.000Z"}},
                    headers={"Authorization": f"Bearer {token}"}, timeout=10)
                if response.status_code == 200:
                    body = response.json()
                    assert body["uri"].startswith(f"at://{self.did}/{COLLECTION}/"), body
                    path = body["uri"].split("/", 3)[3]
                    self.acked.append((path, body["cid"], body["commit"]["rev"], n))
                else:
                    self.unexpected.append(("createRecord", response.status_code, response.text[:200]))
                    token = None
                    time.sleep(0.02)
            except requests.RequestException:
                self.connection_errors += 1
                token = None
                time.sleep(0.01)


@pytest.fixture()
def private_server(tmp_path):
    if not os.access(BINARY, os.X_OK):
        pytest.skip(f"no pds binary at {BINARY} (set PDS_INTEROP_BIN)")
    server = PrivateServer(tmp_path)
    yield server
    server.stop()


def test_acknowledged_writes_survive_kill_9(private_server):
    server = private_server
    rng = random.Random(SEED)
    ctx = f"[seed {SEED}, PDS_INTEROP_CRASH_SEED={SEED} repeats the kill schedule]"
    started = time.monotonic()
    server.start()
    writer = Writer(server, deadline=started + WALL_LIMIT + 5)
    writer.start()
    last_before_kill = []        # the last acknowledged write before each kill
    try:
        for kill in range(KILLS):
            assert time.monotonic() - started < WALL_LIMIT, f"{ctx} only {kill} kills in {WALL_LIMIT} s"
            if rng.random() < 0.2:
                # Right after start-up, whether or not a write got through yet.
                time.sleep(rng.uniform(0, 0.05))
            else:
                # Mid-stream: once this incarnation has acknowledged a write, at a random moment.
                before = len(writer.acked)
                deadline = time.monotonic() + 10
                while len(writer.acked) == before and time.monotonic() < deadline and writer.is_alive():
                    time.sleep(0.005)
                assert len(writer.acked) > before, (
                    f"{ctx} no write acknowledged within 10 s after restart #{server.starts - 1}; "
                    f"unexpected answers {writer.unexpected[-3:]}\n{server.log_tail()}")
                time.sleep(rng.uniform(0, 0.3))
            server.kill9()
            if writer.acked:
                last_before_kill.append(writer.acked[-1])
            server.start()
        # One more stretch of writes on the last incarnation, then stop writing.
        before = len(writer.acked)
        deadline = time.monotonic() + 10
        while len(writer.acked) < before + 5 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        writer.halt.set()
        writer.join(15)
    assert not writer.is_alive(), "the writer thread did not stop"
    assert server.starts == KILLS + 1
    acked = list(writer.acked)
    assert len(acked) >= KILLS, f"{ctx} only {len(acked)} writes acknowledged over {KILLS} kills"
    assert not writer.unexpected, f"{ctx} non-200 answers to the writer: {writer.unexpected[:5]}"
    did = writer.did

    # The repository: every acknowledged write, with its CID and content, and it verifies. A
    # record a delete was sent for may be gone (it must be if the delete was answered).
    key = repo_check.account_key(server, did)
    export = repo_check.fetch_repo(server, did, key)
    kept = [a for a in acked if a[0] not in writer.delete_attempts]
    lost = [(path, cid) for path, cid, _, _ in kept if path not in export.records]
    assert not lost, f"{ctx} {len(lost)} acknowledged writes lost, e.g. {lost[:5]}"
    resurrected = sorted(writer.deleted & set(export.records))
    assert not resurrected, f"{ctx} acknowledged deletes undone: {resurrected[:5]}"
    assert writer.deleted, f"{ctx} no delete was acknowledged"
    changed = [(path, cid, repo_check.cid_str(export.records[path])) for path, cid, _, _ in acked
               if path in export.records and repo_check.cid_str(export.records[path]) != cid]
    assert not changed, f"{ctx} acknowledged writes with another CID now: {changed[:5]}"
    for path, cid, _, n in kept:
        value = libipld.decode_dag_cbor(export.blocks[repo_check.cid_bytes(cid)])
        assert value["n"] == n, f"{ctx} {path} holds {value!r}, the client wrote n={n}"
    assert len(export.records) >= len(kept)
    for path, cid, _, _ in last_before_kill:
        if path in writer.delete_attempts:
            continue
        collection, rkey = path.split("/")
        response = server.get("com.atproto.repo.getRecord", {"repo": did, "collection": collection, "rkey": rkey})
        assert response.status_code == 200, f"{ctx} getRecord {path}: {response.status_code} {response.text}"
        assert response.json()["cid"] == cid, f"{ctx} getRecord {path}"
    latest = server.get("com.atproto.sync.getLatestCommit", {"did": did}).json()
    assert latest["cid"] == repo_check.cid_str(export.cid) and latest["rev"] == export.commit["rev"]

    # The event log: a replay from cursor 0 holds every commit, once, in order, chained.
    with repo_check.FirehoseRecorder(server.url, cursor=0) as recorder:
        assert recorder.wait_for_rev(latest["rev"], 60), (
            f"{ctx} the replay did not reach the latest commit {latest['rev']} in 60 s "
            f"({len(recorder.frames)} frames, errors {recorder.errors})")
        time.sleep(0.5)
    assert not recorder.errors, f"{ctx} firehose client errors: {recorder.errors!r}"
    assert recorder.dials == 1, f"{ctx} the firehose connection dropped ({recorder.dials} connections)"
    frames = recorder.snapshot()
    seqs = [body["seq"] for kind, body, _ in frames if kind != "#info"]
    duplicates = sorted(s for s, count in Counter(seqs).items() if count > 1)
    assert not duplicates, f"{ctx} duplicate seq values in the replay: {duplicates[:10]}"
    holes = sorted(set(range(1, max(seqs) + 1)) - set(seqs))
    assert not holes, f"{ctx} seq gaps in the replay: missing {holes[:10]} ({len(holes)} in all)"
    assert seqs == list(range(1, len(seqs) + 1)), f"{ctx} seq not strictly increasing from 1"
    assert [kind for kind, _, _ in frames[:4]] == ["#identity", "#account", "#commit", "#sync"], ctx

    checker = repo_check.StreamChecker(did, key).check(frames)   # prevData chain, ops -> MST root
    assert checker.rev == latest["rev"] and checker.data == export.commit["data"], ctx
    assert checker.records == export.records, f"{ctx} the stream's state differs from getRepo"
    by_rev = {commit["rev"]: commit for commit in checker.commits}
    for path, cid, rev, _ in acked:
        commit = by_rev.get(rev)
        assert commit is not None, f"{ctx} no #commit for the acknowledged write {path} (rev {rev})"
        assert [(op["action"], op["path"], repo_check.cid_str(op["cid"])) for op in commit["ops"]] == [
            ("create", path, cid)], f"{ctx} #commit {rev} does not carry the create of {path}"
    # Storage follows the live repository: with the server stopped, pds.sqlite holds exactly the
    # blocks of the getRepo CAR (docs/ARCHITECTURE.md, "Blocks": nothing else is kept).
    refused = subprocess.run([BINARY, "compact", "--data", str(server.data)], capture_output=True, text=True, timeout=60)
    assert refused.returncode == 1 and "in use by a running pds" in refused.stderr, (refused.returncode, refused.stderr)
    server.stop()
    stored = _stored_blocks(server.data / "pds.sqlite")
    car_blocks = set(export.blocks)
    unreachable, missing = stored - car_blocks, car_blocks - stored
    assert not missing, f"{ctx} {len(missing)} blocks of the repository are not stored"
    assert not unreachable, f"{ctx} {len(unreachable)} stored blocks the current commit does not reach"
    # No dangling reference: the record index names exactly the repository's records, each with a
    # stored block.
    index = _record_index(server.data / "pds.sqlite")
    expected = {path: repo_check.cid_bytes(repo_check.cid_str(cid)) for path, cid in export.records.items()}
    assert index == expected, (f"{ctx} the record index differs from the repository: "
                               f"{len(set(index) ^ set(expected))} paths, {sum(index.get(p) != c for p, c in expected.items())} CIDs")
    assert set(index.values()) <= stored, f"{ctx} the record index names blocks that are not stored"

    # `pds compact` on the stopped server, then the repository verifies again.
    compacted = subprocess.run([BINARY, "compact", "--data", str(server.data)], capture_output=True, text=True, timeout=300)
    assert compacted.returncode == 0, f"pds compact failed: {compacted.stdout}\n{compacted.stderr}"
    assert "integrity ok" in compacted.stdout and "Litestream" in compacted.stdout, compacted.stdout
    assert not (server.data / "pds.sqlite.compact").exists()
    server.start()
    after = repo_check.fetch_repo(server, did, key)
    assert after.records == export.records and after.cid == export.cid, f"{ctx} the repository changed in compaction"
    assert _stored_blocks(server.data / "pds.sqlite") == car_blocks

    print(f"crash test {ctx}: {KILLS} kills, {len(acked)} acknowledged writes, {len(writer.deleted)} deletes, {len(export.records)} records, "
          f"{len(seqs)} events, {writer.connection_errors} connection errors, {writer.logins} logins, "
          f"{time.monotonic() - started:.1f} s")
    assert time.monotonic() - started < WALL_LIMIT + 30, "the crash test ran too long"


def _stored_blocks(path):
    """The binary CIDs in `repo_block` (read-only; the server is stopped)."""
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return {bytes(row[0]) for row in connection.execute("SELECT cid FROM repo_block")}
    finally:
        connection.close()


def _record_index(path):
    """The record index, path -> binary CID (read-only; the server is stopped)."""
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return {f"{row[0]}/{row[1]}": bytes(row[2]) for row in connection.execute("SELECT collection, rkey, cid FROM record")}
    finally:
        connection.close()

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

Knobs: PDS_INTEROP_CRASH_KILLS (default 30), PDS_INTEROP_CRASH_SEED (default: random, printed on failure).
"""

import os
import pathlib
import random
import signal
import socket
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
        self.acked = []          # (path, cid, commit rev, n) of every 200 answer
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

    # The repository: every acknowledged write, with its CID and content, and it verifies.
    key = repo_check.account_key(server, did)
    export = repo_check.fetch_repo(server, did, key)
    lost = [(path, cid) for path, cid, _, _ in acked if path not in export.records]
    assert not lost, f"{ctx} {len(lost)} acknowledged writes lost, e.g. {lost[:5]}"
    changed = [(path, cid, repo_check.cid_str(export.records[path])) for path, cid, _, _ in acked
               if repo_check.cid_str(export.records[path]) != cid]
    assert not changed, f"{ctx} acknowledged writes with another CID now: {changed[:5]}"
    for path, cid, _, n in acked:
        value = libipld.decode_dag_cbor(export.blocks[repo_check.cid_bytes(cid)])
        assert value["n"] == n, f"{ctx} {path} holds {value!r}, the client wrote n={n}"
    assert len(export.records) >= len(acked)
    for path, cid, _, _ in last_before_kill:
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
    print(f"crash test {ctx}: {KILLS} kills, {len(acked)} acknowledged writes, {len(export.records)} records, "
          f"{len(seqs)} events, {writer.connection_errors} connection errors, {writer.logins} logins, "
          f"{time.monotonic() - started:.1f} s")
    assert time.monotonic() - started < WALL_LIMIT + 30, "the crash test ran too long"

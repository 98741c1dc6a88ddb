"""Disk full (issue 11, point 7): a write that meets ENOSPC fails with 507 `InsufficientStorage`, leaves
the database and the blob store exactly as they were, the server stays up, and writes work again once
space is freed.

The test mounts a small tmpfs of its own (`mount -t tmpfs -o size=…`, so it needs root: CI runs as
root), runs a `pds dev` (PDS_INTEROP_BIN) with its data directory there (its log stays outside),
fills the filesystem with a ballast file and then:

  * writes records until one is refused (SQLite may still fit a commit into WAL space it already has),
    and checks the refused one left no trace: latest commit, record list and firehose unchanged;
  * uploads a blob, which must be refused, and checks no blob file and nothing in blobs/tmp remains;
  * checks the repository still verifies from its getRepo CAR;
  * deletes the ballast and checks that a record and a blob can be written again.

Without permission to mount (not root, or a container without CAP_SYS_ADMIN) the test is skipped
with that reason, unless CI is set, where it fails instead.
"""

import errno
import os
import pathlib
import subprocess
import uuid

import pytest

import repo_check
from network_server import PDS_BIN, PdsProcess, free_port, stop, wait_healthy

SIZE = "24m"
HANDLE = "full.test"
COLLECTION = "com.example.interop.full"


def _mount_tmpfs(target):
    """Mounts a tmpfs of SIZE at `target`; returns None, or the reason it could not."""
    if os.geteuid() != 0:
        return "not root: mounting a tmpfs needs CAP_SYS_ADMIN"
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={SIZE},mode=0700", "tmpfs", str(target)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        return f"mount -t tmpfs failed: {result.stderr.strip() or result.returncode}"
    return None


@pytest.fixture()
def small_disk(tmp_path):
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    reason = _mount_tmpfs(mount_point)
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"disk-full test cannot run under CI: {reason}")
        pytest.skip(reason)
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], capture_output=True)


@pytest.fixture()
def full_server(small_disk, tmp_path):
    port = free_port()
    password = f"full-{uuid.uuid4().hex[:12]}"
    data = small_disk / "data"
    log_path = tmp_path / "pds.log"     # outside the small disk: the log must not fill it
    env = {k: v for k, v in os.environ.items() if not k.startswith("PDS_")}
    env.update(PDS_CRAWLERS="", PDS_BSKY_APP_VIEW_URL="")
    with open(log_path, "wb") as log:
        process = subprocess.Popen([PDS_BIN, "dev", "--data", str(data), "--port", str(port), "--handle", HANDLE,
                                    "--password", password], stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, env=env)
    server = PdsProcess(f"http://127.0.0.1:{port}", port, HANDLE, password, data, log_path, process)
    try:
        wait_healthy(process, server.http, server.url, server.log_tail, "pds dev")
        server.did = server.create_session()["did"]
        yield server
    finally:
        stop(process)


def _fill(directory):
    """Writes ballast files into `directory` until the filesystem refuses another byte."""
    ballast = directory / "ballast"
    with open(ballast, "wb", buffering=0) as file:
        for chunk in (1 << 20, 64 << 10, 4 << 10, 512, 1):
            block = b"\0" * chunk
            while True:
                try:
                    file.write(block)
                except OSError as error:
                    assert error.errno in (errno.ENOSPC, errno.EDQUOT), error
                    break
    return ballast


def _state(server, token):
    """What a refused write must not change: head, records, blob files, temporary files."""
    head = server.get("com.atproto.sync.getLatestCommit", {"did": server.did}).json()
    records = server.get("com.atproto.repo.listRecords",
                         {"repo": server.did, "collection": COLLECTION, "limit": "100"}).json()["records"]
    blobs_dir = pathlib.Path(server.data_dir) / "blobs"
    blob_files = sorted(p.name for p in blobs_dir.iterdir() if p.is_file())
    temporary = sorted(p.name for p in (blobs_dir / "tmp").iterdir())
    return {"head": head, "records": [(r["uri"], r["cid"]) for r in records], "blobs": blob_files,
            "tmp": temporary}


def _create(server, token, text):
    return server.post("com.atproto.repo.createRecord", {
        "repo": server.did, "collection": COLLECTION,
        "record": {"$type": COLLECTION, "text": text, "pad": "p" * 2000}}, token=token)


def _upload(server, token, size):
    return server.post("com.atproto.repo.uploadBlob", data=os.urandom(size), token=token,
                       headers={"Content-Type": "application/octet-stream"})


def _assert_disk_full(response):
    assert response.status_code == 507, f"expected 507, got {response.status_code}: {response.text[:300]}"
    body = response.json()
    assert body["error"] == "InsufficientStorage" and body["message"], body


def test_disk_full_refuses_writes_cleanly_and_recovers(full_server):
    server = full_server
    token = server.create_session()["accessJwt"]
    for i in range(3):
        assert _create(server, token, f"before {i}").status_code == 200
    assert _upload(server, token, 50_000).status_code == 200
    key = repo_check.account_key(server, server.did)

    ballast = _fill(pathlib.Path(server.data_dir))

    # Records: SQLite may still fit a few commits into WAL space it already owns; keep writing until
    # one is refused. Every accepted write stays; the refused one leaves nothing.
    accepted = 0
    for attempt in range(300):
        before = _state(server, token)
        response = _create(server, token, f"full {attempt}")
        if response.status_code == 200:
            accepted += 1
            continue
        _assert_disk_full(response)
        assert _state(server, token) == before, "a refused commit changed the repository"
        break
    else:
        pytest.fail(f"300 record writes on a full disk were all accepted ({accepted})")

    print(f"disk full: {accepted} record writes accepted before the refusal")

    # A blob larger than anything left: refused, no file kept, nothing left in blobs/tmp.
    before = _state(server, token)
    _assert_disk_full(_upload(server, token, 300_000))
    after = _state(server, token)
    assert after == before, "a refused upload changed the blob store"
    assert after["tmp"] == [], f"temporary upload files left behind: {after['tmp']}"

    # Still up, still serving, the repository intact.
    assert server.process.poll() is None, "the server exited on a full disk"
    assert server.http.get(f"{server.url}/xrpc/_health", timeout=10).status_code == 200
    export = repo_check.fetch_repo(server, server.did, key)
    assert sum(1 for path in export.records if path.startswith(COLLECTION + "/")) == 3 + accepted

    # Space again: writes work.
    ballast.unlink()
    response = _create(server, token, "after")
    assert response.status_code == 200, response.text
    uploaded = _upload(server, token, 300_000)
    assert uploaded.status_code == 200, uploaded.text
    cid = uploaded.json()["blob"]["ref"]["$link"]
    fetched = server.get("com.atproto.sync.getBlob", {"did": server.did, "cid": cid})
    assert fetched.status_code == 200 and len(fetched.content) == 300_000
    export = repo_check.fetch_repo(server, server.did, key)
    assert sum(1 for path in export.records if path.startswith(COLLECTION + "/")) == 4 + accepted
    assert _state(server, token)["tmp"] == []

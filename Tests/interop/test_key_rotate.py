"""`pds key rotate` (issue 15, point 2) against the PLC stand-in, which checks every operation it
receives (signature by a current rotation key, chaining, shape):

  * refused while the server runs (one clear line): the running server keeps the old key;
  * with the server stopped: a new signing key as an age file (0600), a PLC operation signed with
    the rotation key that makes it the document's #atproto key, the old key file kept;
  * after restart: the firehose carries #identity after the last commit of the old key, and new
    commits verify against the new key from the directory's document (and no longer the old).
"""

import os
import pathlib
import stat
import subprocess

import pytest
import requests

from network_server import PDS_BIN, TIMEOUT, assert_ok, start_pds, wait_for
import libipld

from repo_check import FirehoseRecorder, fetch_repo, parse_multikey, signature_valid
from standins import Network

HANDLE = "rotate.test"


@pytest.fixture(scope="module")
def net():
    with Network() as network:
        yield network


def env(net):
    """The stand-ins, without the relay: these tests stop servers right after writes, and an
    in-flight requestCrawl cut short is not what they check."""
    return {**net.env(), "PDS_CRAWLERS": ""}


def run_rotate(data_dir, env, *extra):
    process_env = {name: value for name, value in os.environ.items() if not name.startswith("PDS_")}
    process_env.update(env)
    process_env["PDS_OUTBOUND_ALLOW_PRIVATE"] = "1"
    return subprocess.run([PDS_BIN, "key", "rotate", "--data", str(data_dir), "--wait", "30", *extra],
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL, env=process_env)


def plc_key(net, did):
    """The `#atproto` key's multibase in the PLC stand-in's document of `did`."""
    document = requests.get(f"{net.plc.url}/{did}", timeout=TIMEOUT).json()
    assert document["id"] == did
    return next(method["publicKeyMultibase"] for method in document["verificationMethod"]
                if method["id"] in ("#atproto", did + "#atproto"))


def post(pds, token, text):
    return assert_ok(pds.post("com.atproto.repo.createRecord", {"repo": pds.did, "collection": "app.bsky.feed.post", "record": {
        "$type": "app.bsky.feed.post", "text": text, "createdAt": "2026-01-01T00:00:00.000Z"}}, token=token), "createRecord")


def test_key_rotate_publishes_keeps_the_old_key_and_switches(net, tmp_path):
    work = tmp_path / "pds"
    work.mkdir()
    keys = work / "data" / "keys"
    with start_pds(work, HANDLE, env=env(net)) as pds:
        did = pds.did
        old_key = plc_key(net, did)
        post(pds, pds.create_session()["accessJwt"], "before")
        running = run_rotate(pds.data_dir, env(net))
        assert running.returncode != 0
        lines = [line for line in running.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and "stop it first" in lines[0], running.stderr
        assert plc_key(net, did) == old_key, "a refused rotation changed the DID document"
        old_file = (keys / "signing.age").read_bytes()
        data_dir = pds.data_dir

    operations_before = len(requests.get(f"{net.plc.url}/{did}/log/audit", timeout=TIMEOUT).json())
    rotated = run_rotate(data_dir, env(net))
    assert rotated.returncode == 0, rotated.stderr
    new_did_key = rotated.stdout.split("rotated to ")[1].split(";")[0]
    audit = requests.get(f"{net.plc.url}/{did}/log/audit", timeout=TIMEOUT).json()
    assert len(audit) == operations_before + 1
    assert audit[-1]["operation"]["verificationMethods"]["atproto"] == new_did_key
    new_key = plc_key(net, did)
    assert "did:key:" + new_key == new_did_key and new_key != old_key
    assert net.failures() == [], net.failures()
    # The new key is an age file like the others (0600); the old one is kept, unchanged.
    assert (keys / "signing.age").read_bytes().startswith(b"-----BEGIN AGE ENCRYPTED FILE-----")
    assert stat.S_IMODE((keys / "signing.age").stat().st_mode) == 0o600
    retired = list(keys.glob("signing-retired-*.age"))
    assert len(retired) == 1 and retired[0].read_bytes() == old_file
    assert stat.S_IMODE(retired[0].stat().st_mode) == 0o600
    assert not (keys / "signing-next.age").exists()
    assert b"PRIVATE" not in (keys / "signing.age").read_bytes()

    with start_pds(work, HANDLE, env=env(net)) as pds:
        token = pds.create_session()["accessJwt"]
        with FirehoseRecorder(pds.url, cursor=0) as firehose:
            created = post(pds, token, "after")
            rkey = created["uri"].split("/")[-1]
            wait_for(lambda: any(kind == "#commit" and any(op["path"].endswith(rkey) for op in body.get("ops") or [])
                                 for kind, body, _ in firehose.snapshot()), 30, "the new commit on the firehose")
            frames = firehose.snapshot()
        kinds = [kind for kind, _, _ in frames]
        assert "#identity" in kinds, kinds
        identity_at = max(index for index, kind in enumerate(kinds) if kind == "#identity")
        commits = [index for index, kind in enumerate(kinds) if kind == "#commit"]
        assert commits[-1] > identity_at, "the new key's commit is not after #identity"
        assert frames[identity_at][1]["did"] == did
        # The repository's head commit verifies against the directory's new key, not the old one.
        export = fetch_repo(pds, did, parse_multikey(new_key))
        unsigned = dict(export.commit)
        signature = unsigned.pop("sig")
        assert not signature_valid(parse_multikey(old_key), libipld.encode_dag_cbor(unsigned), signature)


def test_the_old_key_signs_until_the_directory_shows_the_new_one(net, tmp_path):
    """The directory's reads lag (the stand-in keeps serving the old document): the command says
    so and leaves the new key pending; the server started then keeps signing with the old key
    (commits verify against what the directory shows), and switches while running as soon as the
    document shows the new key: #identity on the live firehose, then commits under the new key."""
    work = tmp_path / "pds"
    work.mkdir()
    keys = work / "data" / "keys"
    watching = {**env(net), "PDS_KEY_ROTATION_CHECK_SECONDS": "1"}
    with start_pds(work, "lagging.test", env=watching) as pds:
        did, data_dir = pds.did, pds.data_dir
        old_key = plc_key(net, did)
        old_file = (keys / "signing.age").read_bytes()
    net.plc.freeze(did)
    try:
        pending = run_rotate(data_dir, env(net), "--wait", "2")
        assert pending.returncode == 0, pending.stderr
        assert "does not show it yet" in pending.stdout and "old key stays in use" in pending.stdout, pending.stdout
        new_did_key = pending.stdout.split("published ")[1].split(",")[0]
        audit = requests.get(f"{net.plc.url}/{did}/log/audit", timeout=TIMEOUT).json()
        assert audit[-1]["operation"]["verificationMethods"]["atproto"] == new_did_key
        assert (keys / "signing.age").read_bytes() == old_file
        assert (keys / "signing-next.age").exists() and stat.S_IMODE((keys / "signing-next.age").stat().st_mode) == 0o600
        assert not list(keys.glob("signing-retired-*.age"))

        with start_pds(work, "lagging.test", env=watching) as pds:
            token = pds.create_session()["accessJwt"]
            post(pds, token, "still the old key")
            fetch_repo(pds, did, parse_multikey(old_key))
            status = pds.run_cli("status", "--offline", "--data", str(pds.data_dir))
            assert status.returncode == 1 and "rotation pending" in status.stdout, status.stdout + status.stderr
            assert (keys / "signing.age").read_bytes() == old_file

            with FirehoseRecorder(pds.url) as firehose:
                net.plc.unfreeze(did)
                wait_for(lambda: not (keys / "signing-next.age").exists(), 30, "the running server to finish the switch")
                wait_for(lambda: any(kind == "#identity" for kind, _, _ in firehose.snapshot()), 30, "#identity on the live firehose")
                created = post(pds, token, "now the new key")
                rkey = created["uri"].split("/")[-1]
                wait_for(lambda: any(kind == "#commit" and any(op["path"].endswith(rkey) for op in body.get("ops") or [])
                                     for kind, body, _ in firehose.snapshot()), 30, "the new commit on the firehose")
                assert firehose.errors == []
            assert "did:key:" + plc_key(net, did) == new_did_key
            fetch_repo(pds, did, parse_multikey(plc_key(net, did)))
            assert [path.read_bytes() for path in keys.glob("signing-retired-*.age")] == [old_file]
    finally:
        net.plc.unfreeze(did)

    # After a restart the new key is the key file's.
    with start_pds(work, "lagging.test", env=env(net)) as pds:
        post(pds, pds.create_session()["accessJwt"], "after restart")
        fetch_repo(pds, did, parse_multikey(plc_key(net, did)))
    assert net.failures() == [], net.failures()

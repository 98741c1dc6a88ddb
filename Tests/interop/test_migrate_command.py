"""`pds migrate` (issue 12 point 3) between two real `pds dev` servers and the PLC stand-in:

  * `--dry-run` checks the way and changes nothing on either server;
  * a move killed with SIGKILL right after each phase (the test switch PDS_MIGRATE_CRASH_AFTER makes the
    process kill -9 itself once the phase is recorded) continues on the next run, phase by phase, and
    ends with the account active here, deactivated there, its records, blobs and preferences here;
  * without the PLC token the run pauses at the signing step (exit 1, one line naming --plc-token) and
    continues when it is given;
  * the old server signs exactly one PLC operation for the move (the stand-in's log: genesis + 1).

This module starts its own servers (binary: $PDS_INTEROP_BIN, default .build/debug/pds)."""

import os
import subprocess

import pytest

from network_server import PDS_BIN, assert_ok, start_pds
from standins import Network

HANDLE = "alice.test"
COLLECTION = "com.example.migrate.item"
PHASES = ["account", "repo", "blobs", "preferences", "sign", "submit", "activate", "deactivate-old"]


@pytest.fixture(scope="module")
def net():
    with Network() as network:
        yield network


@pytest.fixture(scope="module")
def old(net, tmp_path_factory):
    with start_pds(tmp_path_factory.mktemp("migrate-old"), HANDLE, env=net.env()) as server:
        yield server


@pytest.fixture(scope="module")
def new(net, tmp_path_factory):
    with start_pds(tmp_path_factory.mktemp("migrate-new"), HANDLE, env=net.env(), extra_args=["--no-account"]) as server:
        yield server


def migrate(net, old, new, *extra, crash_after=None, plc_token=None):
    env = {name: value for name, value in os.environ.items() if not name.startswith("PDS_")}
    env.update(net.env())
    env["PDS_OUTBOUND_ALLOW_PRIVATE"] = "1"
    if crash_after:
        env["PDS_MIGRATE_CRASH_AFTER"] = crash_after
    args = [PDS_BIN, "migrate", "--data", str(new.data_dir), "--server", new.url, "--old", old.did,
            "--old-password", old.password, *extra]
    if plc_token:
        args += ["--plc-token", plc_token]
    return subprocess.run(args, capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL, env=env)


def plc_token(old):
    result = old.run_cli("account", "plc-token", "--data", str(old.data_dir))
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_dry_run_changes_nothing(net, old, new):
    client = old.sdk()
    blob = client.upload_blob(b"GIF89a" + bytes(range(200))).blob
    for index in range(20):
        client.com.atproto.repo.create_record({"repo": old.did, "collection": COLLECTION, "record": {"n": index}})
    client.com.atproto.repo.create_record({"repo": old.did, "collection": COLLECTION, "record": {"n": 99, "file": blob}})
    client.app.bsky.actor.put_preferences({"preferences": [{"$type": "app.bsky.actor.defs#adultContentPref", "enabled": True}]})
    result = migrate(net, old, new, "--dry-run")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "[dry run] blobs: 1; preferences: 1" in result.stdout, result.stdout
    assert not (new.data_dir / "migrate-state.json").exists()
    refused = new.post("com.atproto.server.createSession", {"identifier": old.did, "password": old.password})
    assert refused.status_code == 401, refused.text
    assert len(net.plc.audit_log(old.did)) == 1


def test_killed_after_every_phase_the_move_resumes_and_completes(net, old, new):
    token = plc_token(old)
    for index, phase in enumerate(PHASES[:-1]):
        result = migrate(net, old, new, crash_after=phase, plc_token=token)
        assert result.returncode == -9, f"{phase}: expected SIGKILL, got {result.returncode}\n{result.stdout}\n{result.stderr}"
        assert f"[{index + 1}/8] {phase}: " in result.stdout and "…" in result.stdout, result.stdout
        if phase == "blobs":
            assert "  blobs [####################] 1/1, " in result.stdout, f"no progress bar for the blobs:\n{result.stdout}"
        for earlier in PHASES[:index]:
            assert f"{earlier}: done earlier" in result.stdout, (phase, result.stdout)
    result = migrate(net, old, new, plc_token=token)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "[8/8] deactivate-old: deactivated" in result.stdout, result.stdout
    assert "records: 21" in result.stdout and "blobs:   1" in result.stdout, result.stdout

    # One PLC operation for the move: the genesis and the one the old server signed.
    log = net.plc.audit_log(old.did)
    assert len(log) == 2, log
    assert log[1]["operation"]["services"]["atproto_pds"]["endpoint"] == new.url
    session = new.create_session(identifier=old.did, password=old.password)
    assert session["active"] is True
    status = assert_ok(new.get("com.atproto.server.checkAccountStatus", token=session["accessJwt"]), "checkAccountStatus")
    assert status["activated"] and status["validDid"] and status["indexedRecords"] == 21, status
    assert status["expectedBlobs"] == status["importedBlobs"] == 1, status
    old_session = old.create_session(identifier=old.did)
    assert old_session["active"] is False and old_session["status"] == "deactivated"

    # Running it again changes nothing.
    again = migrate(net, old, new, plc_token=token)
    assert again.returncode == 0 and "already complete" in again.stdout, again.stdout + again.stderr
    assert len(net.plc.audit_log(old.did)) == 2


def test_without_the_plc_token_the_move_pauses(net, tmp_path):
    (tmp_path / "old2").mkdir()
    (tmp_path / "new2").mkdir()
    with start_pds(tmp_path / "old2", "bob.test", env=net.env()) as old, \
            start_pds(tmp_path / "new2", "bob.test", env=net.env(), extra_args=["--no-account"]) as new:
        paused = migrate(net, old, new)
        assert paused.returncode == 1, paused.stdout + paused.stderr
        assert "--plc-token" in paused.stderr and len(paused.stderr.strip().splitlines()) == 1, paused.stderr
        assert "[4/8] preferences: " in paused.stdout and "[5/8] sign: …" in paused.stdout
        assert len(net.plc.audit_log(old.did)) == 1
        resumed = migrate(net, old, new, plc_token=plc_token(old))
        assert resumed.returncode == 0, resumed.stdout + resumed.stderr
        assert "[1/8] account: done earlier" in resumed.stdout
        assert len(net.plc.audit_log(old.did)) == 2

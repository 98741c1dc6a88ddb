"""The account's life cycle on the box and over XRPC (issue 12 point 4), against real `pds dev` processes:

  * `pds account password` (beside the running server): the new password signs in, the old one does not,
    and every refresh token is revoked;
  * requestPasswordReset / resetPassword with the token `pds account token reset-password` prints;
  * `pds account deactivate|activate|delete` refuse while the server runs (it holds the data directory),
    and with it stopped change the status; the next start serves the result (`RepoDeactivated`, the
    repository again, `RepoNotFound`) and its firehose carries the `#account` events;
  * deactivateAccount over XRPC: writes refused with `AccountDeactivated`, public reads `RepoDeactivated`.

This module starts its own servers (binary: $PDS_INTEROP_BIN, default .build/debug/pds)."""

import os
import subprocess

import pytest

from conftest import assert_xrpc_error
from network_server import PDS_BIN, assert_ok, start_pds, wait_for
from repo_check import FirehoseRecorder
from standins import Network

HANDLE = "alice.test"
COLLECTION = "com.example.lifecycle.item"


@pytest.fixture(scope="module")
def net():
    with Network() as network:
        yield network


def cli(net, *args):
    env = {name: value for name, value in os.environ.items() if not name.startswith("PDS_")}
    env.update(net.env())
    env["PDS_OUTBOUND_ALLOW_PRIVATE"] = "1"
    return subprocess.run([PDS_BIN, *map(str, args)], capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL, env=env)


def account_events(server, did, count):
    with FirehoseRecorder(server.url, cursor=0) as recorder:
        def ready():
            with recorder.lock:
                found = [(body["active"], body.get("status")) for kind, body, _ in recorder.frames
                         if kind == "#account" and body.get("did") == did]
            return found if len(found) >= count else None
        return wait_for(ready, 30, f"{count} #account events")


def test_password_command_signs_everyone_out(net, tmp_path):
    with start_pds(tmp_path, HANDLE, env=net.env()) as server:
        before = server.create_session()
        password_file = tmp_path / "new-password"
        password_file.write_text("a-brand-new-password\n")
        password_file.chmod(0o600)
        result = cli(net, "account", "password", "--data", server.data_dir, "--password-file", password_file)
        assert result.returncode == 0, result.stderr
        assert server.post("com.atproto.server.createSession",
                           {"identifier": HANDLE, "password": server.password}).status_code == 401
        assert server.create_session(password="a-brand-new-password")["did"] == server.did
        refreshed = server.post("com.atproto.server.refreshSession", token=before["refreshJwt"])
        assert_xrpc_error(refreshed, 400, "ExpiredToken")


def test_reset_password_with_the_cli_token(net, tmp_path):
    with start_pds(tmp_path, HANDLE, env=net.env()) as server:
        before = server.create_session()
        assert_ok(server.post("com.atproto.server.requestPasswordReset", {"email": "nobody@example.com"}), "requestPasswordReset")
        wrong = server.post("com.atproto.server.resetPassword", {"token": "AAAAA-AAAAA", "password": "reset-password-1"})
        assert_xrpc_error(wrong, 400, "InvalidToken")
        token = cli(net, "account", "token", "reset-password", "--data", server.data_dir)
        assert token.returncode == 0, token.stderr
        assert_ok(server.post("com.atproto.server.resetPassword", {"token": token.stdout.strip(), "password": "reset-password-1"}),
                  "resetPassword")
        assert server.create_session(password="reset-password-1")["did"] == server.did
        assert_xrpc_error(server.post("com.atproto.server.refreshSession", token=before["refreshJwt"]), 400, "ExpiredToken")
        # One use only.
        again = server.post("com.atproto.server.resetPassword", {"token": token.stdout.strip(), "password": "reset-password-2"})
        assert_xrpc_error(again, 400, "InvalidToken")


def test_deactivate_over_xrpc(net, tmp_path):
    with start_pds(tmp_path, HANDLE, env=net.env()) as server:
        token = server.create_session()["accessJwt"]
        assert_ok(server.post("com.atproto.server.deactivateAccount", {"deleteAfter": "2030-01-01T00:00:00.000Z"}, token=token),
                  "deactivateAccount")
        write = server.post("com.atproto.repo.createRecord", {"repo": server.did, "collection": COLLECTION, "record": {"n": 1}},
                            token=token)
        assert_xrpc_error(write, 401, "AccountDeactivated")
        assert_xrpc_error(server.get("com.atproto.sync.getRepo", {"did": server.did}), 400, "RepoDeactivated")
        assert_xrpc_error(server.get("com.atproto.sync.getLatestCommit", {"did": server.did}), 400, "RepoDeactivated")
        session = server.create_session()
        assert session["active"] is False and session["status"] == "deactivated"
        assert account_events(server, server.did, 2)[-1] == (False, "deactivated")
        assert_ok(server.post("com.atproto.server.activateAccount", {}, token=session["accessJwt"]), "activateAccount")
        assert account_events(server, server.did, 3)[-1] == (True, None)
        assert server.get("com.atproto.sync.getRepo", {"did": server.did}).status_code == 200


def test_status_commands_with_the_server_stopped(net, tmp_path):
    with start_pds(tmp_path, HANDLE, env=net.env()) as server:
        did, data, port = server.did, server.data_dir, server.port
        client = server.sdk()
        blob = client.upload_blob(b"GIF89a" + bytes(range(100))).blob
        client.com.atproto.repo.create_record({"repo": did, "collection": COLLECTION, "record": {"n": 1, "file": blob}})
        assert any((data / "blobs").glob("baf*")), "the blob file is where the test expects it"
        running = cli(net, "account", "deactivate", "--data", data)
        assert running.returncode != 0 and "stop the server first" in running.stderr, running.stderr
    result = cli(net, "account", "deactivate", "--data", data)
    assert result.returncode == 0, result.stderr
    with start_pds(tmp_path, HANDLE, env=net.env()) as server:
        assert_xrpc_error(server.get("com.atproto.sync.getRepo", {"did": did}), 400, "RepoDeactivated")
        assert account_events(server, did, 2)[-1] == (False, "deactivated")
    # The DID document names the first start's URL (a dev server's port is part of it).
    result = cli(net, "account", "activate", "--data", data, "--port", port)
    assert result.returncode == 0, result.stderr
    with start_pds(tmp_path, HANDLE, env=net.env()) as server:
        assert server.get("com.atproto.sync.getRepo", {"did": did}).status_code == 200
        assert account_events(server, did, 3)[-1] == (True, None)
    refused = cli(net, "account", "delete", "--data", data, "--confirm", "did:plc:notthisaccount00000000000")
    assert refused.returncode != 0 and "--confirm" in refused.stderr, refused.stderr
    result = cli(net, "account", "delete", "--data", data, "--confirm", did)
    assert result.returncode == 0, result.stderr
    assert not any((data / "blobs").glob("baf*")), "blob files remain after the deletion"
    with start_pds(tmp_path, HANDLE, env=net.env(), extra_args=["--no-account"]) as server:
        assert_xrpc_error(server.get("com.atproto.sync.getRepo", {"did": did}), 400, "RepoNotFound")
        assert account_events(server, did, 1) == [(False, "deleted")]

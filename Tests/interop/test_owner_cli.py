"""The owner's everyday commands on the box (issue 15, point 2), against a running `pds dev`:

  * `pds app-password list|create|revoke`: the same app passwords as `com.atproto.server.*AppPassword`
    (one made on the box signs in over XRPC; one made over XRPC is listed; a revoked one no longer
    signs in and its sessions no longer refresh);
  * `pds export`: the repository CAR and every blob to a directory or a `.tar`, written next to the
    running server; the CAR checked independently (libipld, the commit signature against the DID
    document, the MST rebuilt), the tar read by the system's `tar`, the blobs byte for byte, and
    `pds export --verify` refusing a tampered export.

Every refusal is one clear line on standard error and a non-zero exit."""

import os
import pathlib
import shutil
import subprocess
import tarfile

import pytest

from network_server import TIMEOUT, assert_ok, start_pds
from repo_check import account_key, verify_repo_car
from standins import Network

HANDLE = "owner.test"
COLLECTION = "com.example.attachment"   # no Lexicon: the blob field is accepted as is


@pytest.fixture(scope="module")
def net():
    with Network() as network:
        yield network


@pytest.fixture(scope="module")
def pds(net, tmp_path_factory):
    with start_pds(tmp_path_factory.mktemp("pds-owner"), HANDLE, env=net.env()) as server:
        yield server


def cli(pds, *args):
    return pds.run_cli(*args, "--data", str(pds.data_dir))


def assert_refused(result, *needles):
    assert result.returncode != 0, f"exit 0: {result.stdout!r}"
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("pds: "), f"not one clear line: {result.stderr!r}"
    for needle in needles:
        assert needle in lines[0], f"{needle!r} not in {lines[0]!r}"


def full_token(pds):
    return pds.create_session()["accessJwt"]


# --- app passwords ---------------------------------------------------------------------------------

def test_app_password_made_on_the_box_signs_in_and_is_listed_over_xrpc(pds):
    made = cli(pds, "app-password", "create", "phone")
    assert made.returncode == 0, made.stderr
    password = made.stdout.strip()
    assert len(password) == 19 and password.count("-") == 3, f"printed {made.stdout!r}"
    session = pds.create_session(password=password)
    assert session["did"] == pds.did
    listed = assert_ok(pds.get("com.atproto.server.listAppPasswords", token=full_token(pds)), "listAppPasswords")
    assert [p["name"] for p in listed["passwords"]] == ["phone"]
    assert listed["passwords"][0]["privileged"] is False


def test_app_password_made_over_xrpc_is_listed_on_the_box(pds):
    assert_ok(pds.post("com.atproto.server.createAppPassword", {"name": "chat app", "privileged": True},
                       token=full_token(pds)), "createAppPassword")
    listed = cli(pds, "app-password", "list")
    assert listed.returncode == 0, listed.stderr
    rows = [line.split("\t") for line in listed.stdout.splitlines()]
    assert sorted(row[0] for row in rows) == ["chat app", "phone"], listed.stdout
    assert any(row[0] == "chat app" and "privileged" in row[-1] for row in rows), listed.stdout


def test_revoked_app_password_no_longer_signs_in_or_refreshes(pds):
    made = cli(pds, "app-password", "create", "tablet")
    password = made.stdout.strip()
    session = pds.create_session(password=password)
    revoked = cli(pds, "app-password", "revoke", "tablet")
    assert revoked.returncode == 0 and "revoked" in revoked.stdout, revoked.stderr
    refused = pds.post("com.atproto.server.createSession", {"identifier": HANDLE, "password": password})
    assert refused.status_code == 401 and refused.json()["error"] == "AuthenticationRequired", refused.text
    refresh = pds.post("com.atproto.server.refreshSession", token=session["refreshJwt"])
    assert refresh.status_code in (400, 401) and refresh.json()["error"] in ("ExpiredToken", "InvalidToken"), refresh.text


def test_app_password_refusals_are_one_clear_line(pds, tmp_path):
    assert_refused(cli(pds, "app-password", "revoke", "no-such-app"), "no app password named", "no-such-app")
    assert_refused(cli(pds, "app-password", "create", "phone"), "exists")
    assert_refused(cli(pds, "app-password", "create", "  "), "needs a name")
    empty = tmp_path / "empty"
    empty.mkdir()
    result = pds.run_cli("app-password", "list", "--data", str(empty))
    assert_refused(result, "no initialised server")
    assert list(empty.iterdir()) == [], "the refused command created files"


# --- export ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def content(pds):
    """Twelve posts and a record holding an uploaded blob; returns (blob cid, blob bytes)."""
    token = full_token(pds)
    for i in range(12):
        assert_ok(pds.post("com.atproto.repo.createRecord", {
            "repo": pds.did, "collection": "app.bsky.feed.post",
            "record": {"$type": "app.bsky.feed.post", "text": f"post {i}", "createdAt": "2026-12-07T00:00:00.000Z"},
        }, token=token), "createRecord")
    data = os.urandom(70_000)
    blob = assert_ok(pds.post("com.atproto.repo.uploadBlob", data=data, token=token,
                              headers={"Content-Type": "application/octet-stream"}), "uploadBlob")["blob"]
    assert_ok(pds.post("com.atproto.repo.createRecord", {
        "repo": pds.did, "collection": COLLECTION, "record": {"$type": COLLECTION, "file": blob},
    }, token=token), "createRecord with a blob")
    return blob["ref"]["$link"], data


def check_export(pds, car, blobs, content):
    export = verify_repo_car(car, pds.did, account_key(pds, pds.did))
    listed = assert_ok(pds.get("com.atproto.repo.listRecords", {"repo": pds.did, "collection": "app.bsky.feed.post",
                                                                "limit": 100}), "listRecords")
    posts = [path for path in export.records if path.startswith("app.bsky.feed.post/")]
    assert len(posts) == len(listed["records"]) == 12
    cid, data = content
    assert blobs == {cid: data}, f"exported blobs {sorted(blobs)} != {[cid]}"


def test_export_to_a_directory_next_to_the_running_server(pds, content, tmp_path):
    out = tmp_path / "export"
    result = cli(pds, "export", "--to", str(out))
    assert result.returncode == 0, result.stderr
    assert f"exported {pds.did}" in result.stdout and "signature checked" in result.stdout, result.stdout
    blobs = {p.name: p.read_bytes() for p in (out / "blobs").iterdir()}
    check_export(pds, (out / "repo.car").read_bytes(), blobs, content)
    assert pds.get("_health").status_code == 200, "the server stopped answering during the export"


def test_export_to_a_tar_that_tar_reads(pds, content, tmp_path):
    out = tmp_path / "owner.tar"
    result = cli(pds, "export", "--to", str(out))
    assert result.returncode == 0, result.stderr
    listing = subprocess.run(["tar", "-tvf", str(out)], capture_output=True, text=True, timeout=TIMEOUT)
    assert listing.returncode == 0, listing.stderr
    names = [line.split()[-1] for line in listing.stdout.splitlines()]
    assert names[0] == "repo.car" and names[1:] == [f"blobs/{content[0]}"], names
    with tarfile.open(out) as archive:
        files = {member.name: archive.extractfile(member).read() for member in archive.getmembers()}
    blobs = {name.removeprefix("blobs/"): data for name, data in files.items() if name.startswith("blobs/")}
    check_export(pds, files["repo.car"], blobs, content)
    assert not list(tmp_path.glob("*.partial")), "a partial file was left behind"
    verified = pds.run_cli("export", "--verify", str(out), "--data", str(pds.data_dir))
    assert verified.returncode == 0 and f"verified {pds.did}" in verified.stdout, verified.stderr


def test_verify_refuses_a_tampered_or_incomplete_export(pds, content, tmp_path):
    out = tmp_path / "export"
    assert cli(pds, "export", "--to", str(out)).returncode == 0
    blob = out / "blobs" / content[0]
    original = blob.read_bytes()
    blob.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))
    assert_refused(pds.run_cli("export", "--verify", str(out)), "does not hash to its CID")
    blob.unlink()
    assert_refused(pds.run_cli("export", "--verify", str(out)), "referenced by a record but not in the export")
    blob.write_bytes(original)
    car = out / "repo.car"
    data = bytearray(car.read_bytes())
    data[-10] ^= 0xFF   # inside the last block
    car.write_bytes(bytes(data))
    assert_refused(pds.run_cli("export", "--verify", str(out)), "repo.car")


def test_export_refusals(pds, content, tmp_path):
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "keep.txt").write_text("mine")
    assert_refused(cli(pds, "export", "--to", str(taken)), "not empty")
    assert (taken / "keep.txt").read_text() == "mine"
    assert_refused(cli(pds, "export"), "--to")
    missing = tmp_path / "nothing-here"
    assert_refused(pds.run_cli("export", "--data", str(missing), "--to", str(tmp_path / "x.tar")), "no initialised server")
    assert not (tmp_path / "x.tar").exists() and not (tmp_path / "x.tar.partial").exists()


# --- status ----------------------------------------------------------------------------------------

def status_lines(result):
    return {line[2:].split()[0]: line for line in result.stdout.splitlines() if line[:2] in ("  ", "! ") and line[2:3] != " "}


def test_status_of_the_running_server(pds, content):
    result = cli(pds, "status")
    assert result.returncode == 0, f"exit {result.returncode}:\n{result.stdout}{result.stderr}"
    lines = status_lines(result)
    assert lines["server"].startswith("  ") and "running (pid" in lines["server"], result.stdout
    assert pds.did in lines["account"] and HANDLE in lines["account"] and "active" in lines["account"]
    records = assert_ok(pds.get("com.atproto.repo.describeRepo", {"repo": pds.did}), "describeRepo")["collections"]
    assert "app.bsky.feed.post 12" in lines["records"] and f"in {len(records)} collections" in lines["records"], lines["records"]
    assert lines["blobs"].split()[1] == "1,", lines["blobs"]
    for topic in ("database", "disk", "events", "backup", "tls"):
        assert topic in lines, f"no {topic} line:\n{result.stdout}"


def test_status_of_a_stopped_copy_needs_attention(pds, content, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(pds.data_dir, copy, ignore=shutil.ignore_patterns("pds.lock"))
    result = pds.run_cli("status", "--data", str(copy))
    assert result.returncode == 1, f"exit {result.returncode}:\n{result.stdout}{result.stderr}"
    lines = status_lines(result)
    assert lines["server"].startswith("! ") and "not running" in lines["server"], result.stdout
    assert "→ start it" in result.stdout
    assert_refused(pds.run_cli("status", "--data", str(tmp_path / "none")), "no initialised server")

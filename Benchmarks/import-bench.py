#!/usr/bin/env python3
"""importRepo benchmark: how fast a real `pds dev` imports a large repository, and what it costs in memory.

Builds a signed repository CAR of N records (default 100,000 `app.bsky.feed.post` records) for an
identity this script registers in the loopback PLC stand-in (Tests/interop/standins), starts the
release binary without an account (`pds dev --no-account`), creates the account as a move here
(createAccount with a service-auth token signed by the identity's key, the invite from
`pds account token invite`), then POSTs the CAR to com.atproto.repo.importRepo and reports:

- seconds for the import (client-observed, request sent to answer received) and records/s;
- server CPU seconds for it (utime+stime from /proc/<pid>/stat), and the time its threads were
  runnable but waiting for a CPU (/proc/<pid>/task/*/schedstat), which tells a loaded machine
  from slow code;
- peak RSS growth: the peak resident set during the import (VmHWM, reset to the current RSS
  just before through /proc/<pid>/clear_refs) minus the RSS before it.

Usage: Benchmarks/import-bench.py [--binary .build-release/release/pds] [--records 100000]
Run it with the test tools' Python: "$(Tests/tools/venv)/bin/python" Benchmarks/import-bench.py
Prints figures; asserts nothing about speed.
"""
import argparse, http.client, json, os, pathlib, shutil, socket, subprocess, sys, tempfile, time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "Tests" / "interop"))

import libipld  # noqa: E402
import mst  # noqa: E402
from standins.common import make_service_jwt, new_private_key  # noqa: E402
from standins.plc import PlcDirectory, make_genesis  # noqa: E402
from standins.repo import car_bytes, signed_commit, tid  # noqa: E402
from procstat import clock_cpu_seconds, status_kib  # noqa: E402


def build_car(did, key, count):
    start = time.time()
    base = int(time.time() * 1_000_000) - count * 1000
    records = {}
    items = []
    for index in range(count):
        block = libipld.encode_dag_cbor({"$type": "app.bsky.feed.post", "createdAt": "2026-11-22T12:00:00.000Z",
                                         "langs": ["en"], "text": f"Imported post number {index}: moving house with my data."})
        cid = mst.cid_of(block)
        records[cid] = block
        items.append((f"app.bsky.feed.post/{tid(base + index * 1000)}", cid))
    root, nodes = mst.build(items)
    commit_cid, commit = signed_commit(did, key, root, tid(base + count * 1000 + 1))
    out = car_bytes(commit_cid, [(commit_cid, commit), *nodes.items(), *records.items()])
    print(f"  built the CAR: {count} records, {len(nodes)} MST nodes, {len(out) / 1e6:.1f} MB in {time.time() - start:.1f} s")
    return bytes(out)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_runqueue_wait_seconds(pid):
    """Time the server's threads spent runnable but waiting for a CPU (/proc/<pid>/task/*/schedstat)."""
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            total += int(open(f"/proc/{pid}/task/{task}/schedstat").read().split()[1])
        except (OSError, IndexError, ValueError):
            pass
    return total / 1e9


def call(port, method, path, body=None, token=None, raw=None, content_type="application/json", timeout=600):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    headers = {}
    if token:
        headers["authorization"] = "Bearer " + token
    payload = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    if payload is not None:
        headers["content-type"] = content_type
    conn.request(method, path, body=payload, headers=headers)
    response = conn.getresponse()
    data = response.read()
    if response.status != 200:
        raise SystemExit(f"{method} {path} -> {response.status} {data[:300]!r}")
    return json.loads(data) if data else None


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default=str(ROOT / ".build-release" / "release" / "pds"))
    parser.add_argument("--records", type=int, default=100_000)
    args = parser.parse_args()
    if not os.path.exists(args.binary):
        sys.exit(f"{args.binary} not found: build with `swift build -c release --scratch-path .build-release --product pds`")

    plc = PlcDirectory()
    plc.start()
    data = tempfile.mkdtemp(prefix="pds-import-bench-")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PDS_")}
    env.update({"PDS_DID_PLC_URL": plc.url, "PDS_OUTBOUND_ALLOW_PRIVATE": "1", "PDS_CRAWLERS": "",
                "PDS_LOG_LEVEL": "warning"})
    server = subprocess.Popen([args.binary, "dev", "--data", data, "--port", str(port), "--no-account"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        rotation, signing = new_private_key(), new_private_key()
        did, genesis = make_genesis(rotation, signing, "mover.test", f"http://127.0.0.1:{port}")
        plc.submit(did, genesis, time.time())
        car = build_car(did, signing, args.records)
        for _ in range(300):
            try:
                call(port, "GET", "/xrpc/_health", timeout=2)
                break
            except OSError:
                time.sleep(0.1)
        invite = subprocess.run([args.binary, "account", "token", "invite", "--data", data], capture_output=True,
                                text=True, env=env, check=True).stdout.strip()
        audience = call(port, "GET", "/xrpc/com.atproto.server.describeServer")["did"]
        service = make_service_jwt(signing, did, audience, lxm="com.atproto.server.createAccount")
        token = call(port, "POST", "/xrpc/com.atproto.server.createAccount",
                     {"did": did, "handle": "mover.test", "password": "bench-password", "inviteCode": invite},
                     token=service)["accessJwt"]
        time.sleep(1.0)  # let start-up allocations settle
        with open(f"/proc/{server.pid}/clear_refs", "w") as refs:
            refs.write("5")  # VmHWM := current RSS
        rss_before = status_kib(server.pid, "VmRSS")
        cpu_before = clock_cpu_seconds(server.pid)
        wait_before = proc_runqueue_wait_seconds(server.pid)
        start = time.perf_counter()
        call(port, "POST", "/xrpc/com.atproto.repo.importRepo", raw=car, token=token, content_type="application/vnd.ipld.car")
        seconds = time.perf_counter() - start
        cpu = clock_cpu_seconds(server.pid) - cpu_before
        waited = proc_runqueue_wait_seconds(server.pid) - wait_before
        peak = status_kib(server.pid, "VmHWM")
        status = call(port, "GET", "/xrpc/com.atproto.server.checkAccountStatus", token=token)
        if status["indexedRecords"] != args.records:
            raise SystemExit(f"imported {status['indexedRecords']} records, expected {args.records}")
        print(f"importRepo benchmark ({args.records} records, {len(car) / 1e6:.1f} MB CAR, loopback, {os.cpu_count()} cores)")
        print(f"  import time:           {seconds:.2f} s  ({args.records / seconds:,.0f} records/s)")
        print(f"  server CPU:            {cpu:.2f} s  ({args.records / cpu:,.0f} records per CPU-second)")
        print(f"  waiting for a CPU:     {waited:.2f} s  (runnable threads on a busy machine; load {os.getloadavg()[0]:.1f})")
        print(f"  RSS before:            {rss_before / 1024:.1f} MiB")
        print(f"  peak RSS growth:       {(peak - rss_before) / 1024:.1f} MiB  (VmHWM {peak / 1024:.1f} MiB)")
        print(f"  repo blocks stored:    {status['repoBlocks']}")
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
        plc.stop()
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()

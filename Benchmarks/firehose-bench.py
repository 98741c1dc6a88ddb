#!/usr/bin/env python3
"""Federation data-path benchmark on a real release `pds dev`.

Measures (printed; nothing is asserted):
- replay rate: one subscriber from cursor 0 over the whole event log (events/s), three runs each
  with a raw-socket consumer (closest to the server's rate) and with the `websockets` library;
- live fan-out lag: with N subscribers connected, time from a commit's response to each
  subscriber receiving its frame (p50/p99 over all deliveries);
- getRepo: wall time and server RSS growth while streaming the full CAR of a large repository.

Run it with the tools venv's Python (it needs `websockets` and `libipld`):
  $(Tests/tools/venv)/bin/python Benchmarks/firehose-bench.py [--events 50000] [--records 100000]
"""
import argparse, asyncio, base64, http.client, json, os, shutil, socket, statistics, struct, subprocess, sys, tempfile, threading, time
import libipld, websockets
from procstat import clock_cpu_seconds, rss_mib

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0)); return s.getsockname()[1]

def percentile(values, fraction):
    ordered = sorted(values); return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]

class Client:
    def __init__(self, port):
        self.port = port; self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60); self.token = None
    def call(self, method, path, body=None):
        headers = {"content-type": "application/json"} if body is not None else {}
        if self.token: headers["authorization"] = "Bearer " + self.token
        self.conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
        response = self.conn.getresponse(); payload = response.read()
        if response.status != 200: raise SystemExit(f"{method} {path} -> {response.status} {payload[:300]!r}")
        return json.loads(payload) if payload else None

def frame_seq(message):
    header, body = libipld.decode_dag_cbor_multi(message)
    return header, body

def replay(port, expected):
    """One subscriber from cursor 0: WebSocket framing parsed by hand over a plain socket, and
    every frame decoded with libipld (a real DAG-CBOR decoder) to check its seq.

    This loop costs a few µs per frame, less than the `websockets` library's per-message
    overhead, so its figure is closer to the server's own replay rate; `replay_websockets`
    below gives the library's figure too (a typical relay-side consumer)."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall((f"GET /xrpc/com.atproto.sync.subscribeRepos?cursor=0 HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                  f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                  "Sec-WebSocket-Version: 13\r\n\r\n").encode())
    buffer = bytearray()
    while b"\r\n\r\n" not in buffer: buffer += sock.recv(65536)
    head, _, rest = bytes(buffer).partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 101"): raise SystemExit(f"no WebSocket upgrade: {head[:120]!r}")
    start = time.perf_counter()
    buffer = bytearray(rest); pos = 0; count = 0; last = 0
    while True:
        while len(buffer) - pos >= 2:  # every complete frame in the buffer (server frames are unmasked)
            first, length = buffer[pos], buffer[pos + 1] & 0x7F; header_size = 2
            if length == 126:
                if len(buffer) - pos < 4: break
                length = struct.unpack_from(">H", buffer, pos + 2)[0]; header_size = 4
            elif length == 127:
                if len(buffer) - pos < 10: break
                length = struct.unpack_from(">Q", buffer, pos + 2)[0]; header_size = 10
            if len(buffer) - pos < header_size + length: break
            if first != 0x82: raise SystemExit(f"unexpected WebSocket frame 0x{first:02x} during replay")
            header, body = libipld.decode_dag_cbor_multi(bytes(buffer[pos + header_size:pos + header_size + length]))
            pos += header_size + length
            if header.get("op") != 1: raise SystemExit(f"error frame during replay: {body}")
            if "seq" in body:
                if body["seq"] <= last: raise SystemExit("seq went backwards")
                last = body["seq"]; count += 1
        if count >= expected: break
        if pos > 1 << 20: del buffer[:pos]; pos = 0
        chunk = sock.recv(1 << 20)
        if not chunk: raise SystemExit(f"stream closed after {count} of {expected} events")
        buffer += chunk
    elapsed = time.perf_counter() - start
    sock.close()
    return count, elapsed

async def replay_websockets(port, expected):
    """The same replay through the `websockets` client library."""
    start = time.perf_counter(); count = 0; last = 0
    async with websockets.connect(f"ws://127.0.0.1:{port}/xrpc/com.atproto.sync.subscribeRepos?cursor=0", max_size=None) as ws:
        while count < expected:
            header, body = frame_seq(await ws.recv())
            if header.get("op") != 1: raise SystemExit(f"error frame during replay: {body}")
            if "seq" in body:
                if body["seq"] <= last: raise SystemExit("seq went backwards")
                last = body["seq"]; count += 1
    return count, time.perf_counter() - start

async def fanout(port, client, did, subscribers, commits):
    sent_at = {}; lags = []; done = asyncio.Event(); remaining = [subscribers * commits]
    async def subscribe(ready):
        async with websockets.connect(f"ws://127.0.0.1:{port}/xrpc/com.atproto.sync.subscribeRepos", max_size=None) as ws:
            ready.set()
            got = 0
            while got < commits:
                message = await ws.recv(); now = time.perf_counter()
                header, body = frame_seq(message)
                if header.get("t") != "#commit": continue
                rev = body["rev"]
                while rev not in sent_at: await asyncio.sleep(0)  # response may be parsed after delivery
                lags.append(now - sent_at[rev]); got += 1
    readies = [asyncio.Event() for _ in range(subscribers)]
    tasks = [asyncio.create_task(subscribe(r)) for r in readies]
    for r in readies: await r.wait()
    await asyncio.sleep(0.5)
    loop = asyncio.get_running_loop()
    for i in range(commits):
        before = time.perf_counter()
        result = await loop.run_in_executor(None, lambda: client.call("POST", "/xrpc/com.atproto.repo.createRecord",
            {"repo": did, "collection": "app.bsky.feed.like", "record": {"subject": {"uri": f"at://{did}/app.bsky.feed.post/x{i}", "cid": "bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm"}, "createdAt": "2026-11-22T00:00:00Z"}}))
        # Lag is measured from the moment the request was sent: the event is published when the
        # commit is durable, which is before the response.
        sent_at[result["commit"]["rev"]] = before
        await asyncio.sleep(0.02)
    await asyncio.gather(*tasks)
    return lags

def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default=".build-release/release/pds")
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--subscribers", type=int, default=100)
    parser.add_argument("--commits", type=int, default=100)
    args = parser.parse_args()
    if not os.path.exists(args.binary):
        sys.exit(f"{args.binary} not found: build with `swift build -c release --static-swift-stdlib --scratch-path .build-release --product pds`")
    data = tempfile.mkdtemp(prefix="pds-fh-bench-"); port = free_port()
    server = subprocess.Popen([args.binary, "dev", "--data", data, "--port", str(port), "--password", "bench-password"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        client = Client(port)
        for _ in range(400):
            try: client.call("GET", "/xrpc/_health"); break
            except OSError: time.sleep(0.05); client = Client(port)
        session = client.call("POST", "/xrpc/com.atproto.server.createSession", {"identifier": "alice.test", "password": "bench-password"})
        client.token = session["accessJwt"]; did = session["did"]
        post = {"$type": "app.bsky.feed.post", "text": "x" * 200, "createdAt": "2026-11-22T00:00:00.000Z"}

        # Build the repository: `records` posts in batches of 200, then single commits up to `events`.
        start = time.perf_counter(); written = 0
        while written < args.records:
            batch = min(200, args.records - written)
            client.call("POST", "/xrpc/com.atproto.repo.applyWrites", {"repo": did, "writes": [
                {"$type": "com.atproto.repo.applyWrites#create", "collection": "app.bsky.feed.post", "value": post} for _ in range(batch)]})
            written += batch
        batches = (args.records + 199) // 200
        singles = max(0, args.events - batches - 4)
        # The remaining events rewrite one profile record, so the repository getRepo exports below
        # holds `records` posts (+1 profile) however many events the replay needs.
        for i in range(singles):
            client.call("POST", "/xrpc/com.atproto.repo.putRecord", {"repo": did, "collection": "app.bsky.actor.profile",
                        "rkey": "self", "record": {"$type": "app.bsky.actor.profile", "displayName": f"bench {i}"}})
        setup = time.perf_counter() - start
        total_events = 4 + batches + singles
        repo_records = args.records + (1 if singles else 0)
        print(f"setup: {repo_records} records in {batches + singles} commits, {total_events} events, {setup:.1f} s")

        # Server CPU per event shows whether the server or the Python client is the bottleneck.
        for name, run in (("raw-socket consumer", lambda: replay(port, total_events)),
                          ("websockets library ", lambda: asyncio.run(replay_websockets(port, total_events)))):
            rates = []
            for _ in range(3):
                cpu_before = clock_cpu_seconds(server.pid)
                count, elapsed = run()
                server_cpu = clock_cpu_seconds(server.pid) - cpu_before
                rates.append(count / elapsed)
            print(f"replay from cursor 0, {name}: {count} events, best of 3 {max(rates):,.0f} events/s "
                  f"(runs {', '.join(f'{r:,.0f}' for r in rates)}; last run's server CPU {server_cpu:.2f} s = "
                  f"{count / max(server_cpu, 1e-9):,.0f} events per server CPU second)")

        lags = asyncio.run(fanout(port, client, did, args.subscribers, args.commits))
        print(f"live fan-out, {args.subscribers} subscribers x {args.commits} commits: lag p50 {percentile(lags, .5) * 1000:.1f} ms, "
              f"p99 {percentile(lags, .99) * 1000:.1f} ms, max {max(lags) * 1000:.1f} ms ({len(lags)} deliveries)")

        before = rss_mib(server.pid); peak = [before]; stop = threading.Event()
        def sample():
            while not stop.is_set(): peak[0] = max(peak[0], rss_mib(server.pid)); time.sleep(0.01)
        sampler = threading.Thread(target=sample); sampler.start()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        start = time.perf_counter()
        conn.request("GET", f"/xrpc/com.atproto.sync.getRepo?did={did}")
        response = conn.getresponse(); size = 0
        while chunk := response.read(1 << 16): size += len(chunk)
        elapsed = time.perf_counter() - start; stop.set(); sampler.join()
        print(f"getRepo ({repo_records} records): {size / 1e6:.1f} MB in {elapsed:.2f} s = {size / 1e6 / elapsed:.1f} MB/s; "
              f"server RSS {before:.1f} -> peak {peak[0]:.1f} MiB (growth {peak[0] - before:.1f} MiB)")
    finally:
        server.terminate()
        try: server.wait(timeout=10)
        except subprocess.TimeoutExpired: server.kill()
        shutil.rmtree(data, ignore_errors=True)

if __name__ == "__main__":
    main()

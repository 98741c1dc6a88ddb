#!/usr/bin/env python3
"""Server benchmark: CPU time and latency of repository writes and reads on a real `pds dev`.

Starts the release binary on a free loopback port with a fresh data directory, then measures:
- idle RSS after start-up;
- server CPU time per createRecord over N sequential writes (utime+stime from /proc/<pid>/stat
  before and after, so client time is excluded);
- client-observed p50/p99 latency of createRecord and getRecord (keep-alive connection);
- RSS after the writes.

Usage: Benchmarks/server-bench.py [--binary .build-release/release/pds] [--writes 2000]
Prints figures; asserts nothing about speed.
"""
import argparse, http.client, json, os, shutil, socket, statistics, subprocess, sys, tempfile, time

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

def proc_cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks  # utime + stime

def proc_rss_mib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")

def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]

def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default=".build-release/release/pds")
    parser.add_argument("--writes", type=int, default=2000)
    args = parser.parse_args()
    if not os.path.exists(args.binary):
        sys.exit(f"{args.binary} not found: build with `swift build -c release --static-swift-stdlib --scratch-path .build-release --product pds`")

    data = tempfile.mkdtemp(prefix="pds-bench-")
    port = free_port()
    server = subprocess.Popen([args.binary, "dev", "--data", data, "--port", str(port), "--password", "bench-password"],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        for _ in range(200):
            try:
                conn.request("GET", "/xrpc/_health"); conn.getresponse().read(); break
            except OSError:
                time.sleep(0.05); conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        time.sleep(1.0)  # let start-up allocations settle before reading idle RSS
        idle_rss = proc_rss_mib(server.pid)

        def call(method, path, body=None, token=None):
            headers = {"content-type": "application/json"} if body is not None else {}
            if token: headers["authorization"] = "Bearer " + token
            start = time.perf_counter()
            conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
            response = conn.getresponse(); payload = response.read()
            elapsed = time.perf_counter() - start
            if response.status != 200:
                raise SystemExit(f"{method} {path} -> {response.status} {payload[:200]!r}")
            return json.loads(payload), elapsed

        session, _ = call("POST", "/xrpc/com.atproto.server.createSession",
                          {"identifier": "alice.test", "password": "bench-password"})
        token, did = session["accessJwt"], session["did"]
        record = {"$type": "app.bsky.feed.post", "createdAt": "2026-11-22T12:00:00.000Z", "langs": ["en"],
                  "text": "Benchmarking a personal data server: one signed commit per post, written to SQLite. " * 2}

        cpu_before = proc_cpu_seconds(server.pid)
        wall_start = time.perf_counter()
        write_latencies, uris = [], []
        for i in range(args.writes):
            result, elapsed = call("POST", "/xrpc/com.atproto.repo.createRecord",
                                   {"repo": did, "collection": "app.bsky.feed.post", "record": record}, token)
            write_latencies.append(elapsed); uris.append(result["uri"])
        wall = time.perf_counter() - wall_start
        cpu_writes = proc_cpu_seconds(server.pid) - cpu_before

        read_latencies = []
        cpu_before = proc_cpu_seconds(server.pid)
        for uri in uris:
            rkey = uri.rsplit("/", 1)[1]
            _, elapsed = call("GET", f"/xrpc/com.atproto.repo.getRecord?repo={did}&collection=app.bsky.feed.post&rkey={rkey}")
            read_latencies.append(elapsed)
        cpu_reads = proc_cpu_seconds(server.pid) - cpu_before
        after_rss = proc_rss_mib(server.pid)

        ms = lambda seconds: f"{seconds * 1000:.3f} ms"
        print(f"pds server benchmark ({args.writes} sequential requests each, keep-alive, loopback, {os.cpu_count()} cores)")
        print(f"  idle RSS after start:            {idle_rss:.1f} MiB")
        print(f"  createRecord server CPU / write: {ms(cpu_writes / args.writes)}  (total {cpu_writes:.2f} s CPU over {wall:.2f} s wall)")
        print(f"  createRecord latency p50 / p99:  {ms(percentile(write_latencies, .5))} / {ms(percentile(write_latencies, .99))}")
        print(f"  getRecord server CPU / read:     {ms(cpu_reads / args.writes)}")
        print(f"  getRecord latency p50 / p99:     {ms(percentile(read_latencies, .5))} / {ms(percentile(read_latencies, .99))}")
        print(f"  RSS after writes and reads:      {after_rss:.1f} MiB")
    finally:
        server.terminate()
        try: server.wait(timeout=10)
        except subprocess.TimeoutExpired: server.kill()
        shutil.rmtree(data, ignore_errors=True)

if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Soak test: bounded mixed load on one `pds dev` for a while, watching its memory and descriptors.

    $(Tests/tools/venv)/bin/python Benchmarks/soak.py .build/debug/pds --minutes 20

Starts the given `pds dev` binary on 127.0.0.1 with a fresh data directory, pointed at the loopback
stand-ins of the interop suite (PLC directory, AppView, relay, DNS: Tests/interop/standins), and
drives, all at once and at bounded rates:

  * writes      createRecord / putRecord / deleteRecord on a bounded set of record keys (the live
                repository stays ≤ --records records, so its size does not grow), uploadBlob
  * reads       getRecord, listRecords, describeRepo, sync.getLatestCommit, sync.getRecord,
                sync.getRepo (whole CAR), sync.getBlob, describeServer
  * firehose    subscribeRepos WebSocket subscribers joining (live or with a recent cursor),
                reading for a few seconds and leaving
  * proxied     app.bsky.actor.getProfile through the AppView stand-in (atproto-proxy header)
  * logins      createSession, refreshSession, getSession, deleteSession
  * refusals    a few intentionally bad requests (their 4xx answers are "intended")

Every --sample seconds it reads VmRSS and the open descriptors of the server from /proc/<pid>, prints
per-minute figures, and ends with a verdict: after --warmup minutes every minute's median RSS is
within ±5 MB (--rss-tolerance) of the first post-warm-up minute's and every minute's median descriptor
count within ±10 (--fd-tolerance) of that first minute's, and no request got an answer other than the intended ones. Exit status 0
when the verdict holds, 1 otherwise. Nothing leaves loopback.

Each minute also prints where memory is: the server's anonymous RSS (/proc) and, from its /metrics
(enabled for the soak), SQLite's memory, malloc's bytes in use and the free bytes malloc keeps. A
rise in bytes in use is something held (a leak); a rise in kept-free bytes is fragmentation.
"""

import argparse
import collections
import os
import pathlib
import random
import statistics
import sys
import tempfile
import threading
import time
import uuid

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "Tests" / "interop"))

import requests  # noqa: E402
from websockets.sync.client import connect  # noqa: E402

from network_server import start_pds  # noqa: E402
from procstat import status_kib  # noqa: E402
from standins import Network  # noqa: E402

HANDLE = "soak.test"
COLLECTION = "com.example.soak.item"
APPVIEW_DID = "did:web:appview.test"
TIMEOUT = 30


class Stats:
    """Request outcomes, shared by the workers."""

    def __init__(self):
        self.lock = threading.Lock()
        self.counts = collections.Counter()          # (kind, "ok" | "intended" | "error")
        self.minute = collections.Counter()
        self.errors = []                             # first few unexpected answers
        self.latencies = collections.defaultdict(list)

    def record(self, kind, outcome, detail=None, seconds=None):
        with self.lock:
            self.counts[(kind, outcome)] += 1
            self.minute[outcome] += 1
            if seconds is not None and len(self.latencies[kind]) < 100_000:
                self.latencies[kind].append(seconds)
            if outcome == "error" and len(self.errors) < 20:
                self.errors.append(f"{kind}: {detail}")

    def take_minute(self):
        with self.lock:
            figures, self.minute = self.minute, collections.Counter()
        return figures


class Soak:
    def __init__(self, pds, stats, stop, records):
        self.pds = pds
        self.stats = stats
        self.stop = stop
        self.records = records
        self.session = pds.create_session()
        self.token_lock = threading.Lock()
        self.blobs = []          # CIDs uploaded (bounded)
        self.firehose_joins = 0

    # --- helpers ---------------------------------------------------------------------------------

    def token(self):
        with self.token_lock:
            return self.session["accessJwt"]

    def call(self, kind, method, nsid, *, params=None, body=None, data=None, headers=None, token=True,
             expect=(200,), intended=(), http=None):
        """One request; 2xx in `expect` is ok, a status in `intended` is an intended refusal."""
        merged = dict(headers or {})
        if token:
            merged["Authorization"] = f"Bearer {self.token()}"
        http = http or self.pds.http
        started = time.monotonic()
        try:
            response = http.request(method, self.pds.xrpc(nsid), params=params, json=body, data=data,
                                    headers=merged, timeout=TIMEOUT)
        except requests.RequestException as error:
            self.stats.record(kind, "error", f"{nsid}: {error!r}")
            return None
        elapsed = time.monotonic() - started
        if response.status_code in expect:
            self.stats.record(kind, "ok", seconds=elapsed)
        elif response.status_code in intended:
            self.stats.record(kind, "intended", seconds=elapsed)
        else:
            self.stats.record(kind, "error", f"{nsid} {response.status_code} {response.text[:200]}")
        return response

    def pace(self, seconds):
        self.stop.wait(seconds * random.uniform(0.7, 1.3))

    def run(self, name, body, interval):
        def loop():
            http = requests.Session()
            http.trust_env = False
            while not self.stop.is_set():
                try:
                    body(http)
                except Exception as error:  # a worker bug must not end the soak silently
                    self.stats.record(name, "error", f"worker exception {error!r}")
                self.pace(interval)
            http.close()
        thread = threading.Thread(target=loop, name=name, daemon=True)
        thread.start()
        return thread

    # --- workers ---------------------------------------------------------------------------------

    def write(self, http):
        did = self.pds.did
        rkey = f"k{random.randrange(self.records)}"
        value = {"$type": COLLECTION, "n": random.randrange(1 << 30), "text": uuid.uuid4().hex * 4}
        choice = random.random()
        if choice < 0.5:
            self.call("write", "POST", "com.atproto.repo.putRecord", http=http,
                      body={"repo": did, "collection": COLLECTION, "rkey": rkey, "record": value})
        elif choice < 0.8:
            # May exist already: 400 "Record already exists" is an intended refusal.
            self.call("write", "POST", "com.atproto.repo.createRecord", http=http, intended=(400,),
                      body={"repo": did, "collection": COLLECTION, "rkey": rkey, "record": value})
        else:
            self.call("write", "POST", "com.atproto.repo.deleteRecord", http=http,
                      body={"repo": did, "collection": COLLECTION, "rkey": rkey})

    def upload(self, http):
        data = os.urandom(random.randrange(1_000, 64_000))
        response = self.call("blob", "POST", "com.atproto.repo.uploadBlob", http=http, data=data,
                             headers={"Content-Type": "application/octet-stream"})
        if response is not None and response.status_code == 200:
            cid = response.json()["blob"]["ref"]["$link"]
            self.blobs.append(cid)
            del self.blobs[:-50]

    def read(self, http):
        did = self.pds.did
        rkey = f"k{random.randrange(self.records)}"
        choice = random.randrange(8)
        if choice == 0:
            # The record may have been deleted: 400 RecordNotFound is intended.
            self.call("read", "GET", "com.atproto.repo.getRecord", http=http, token=False, intended=(400,),
                      params={"repo": did, "collection": COLLECTION, "rkey": rkey})
        elif choice == 1:
            self.call("read", "GET", "com.atproto.repo.listRecords", http=http, token=False,
                      params={"repo": did, "collection": COLLECTION, "limit": "50"})
        elif choice == 2:
            self.call("read", "GET", "com.atproto.repo.describeRepo", http=http, token=False, params={"repo": did})
        elif choice == 3:
            self.call("read", "GET", "com.atproto.sync.getLatestCommit", http=http, token=False, params={"did": did})
        elif choice == 4:
            self.call("read", "GET", "com.atproto.sync.getRecord", http=http, token=False, intended=(400,),
                      params={"did": did, "collection": COLLECTION, "rkey": rkey})
        elif choice == 5:
            self.call("read", "GET", "com.atproto.sync.getRepo", http=http, token=False, params={"did": did})
        elif choice == 6 and self.blobs:
            self.call("read", "GET", "com.atproto.sync.getBlob", http=http, token=False,
                      params={"did": did, "cid": random.choice(self.blobs[-50:])})
        else:
            self.call("read", "GET", "com.atproto.server.describeServer", http=http, token=False)

    def proxied(self, http):
        self.call("proxied", "GET", "app.bsky.actor.getProfile", http=http, params={"actor": self.pds.did},
                  headers={"atproto-proxy": f"{APPVIEW_DID}#bsky_appview"})

    def login(self, http):
        response = self.call("login", "POST", "com.atproto.server.createSession", http=http, token=False,
                             body={"identifier": HANDLE, "password": self.pds.password})
        if response is None or response.status_code != 200:
            return
        session = response.json()
        refreshed = self.call("login", "POST", "com.atproto.server.refreshSession", http=http, token=False,
                              headers={"Authorization": f"Bearer {session['refreshJwt']}"})
        if refreshed is None or refreshed.status_code != 200:
            return
        session = refreshed.json()
        self.call("login", "GET", "com.atproto.server.getSession", http=http, token=False,
                  headers={"Authorization": f"Bearer {session['accessJwt']}"})
        # Half the sessions become the workers' token, the rest are logged out at once.
        if random.random() < 0.5:
            with self.token_lock:
                old, self.session = self.session, session
            session = old
        self.call("login", "POST", "com.atproto.server.deleteSession", http=http, token=False,
                  headers={"Authorization": f"Bearer {session['refreshJwt']}"})

    def refusals(self, http):
        did = self.pds.did
        bad = random.randrange(4)
        if bad == 0:
            self.call("refusal", "POST", "com.atproto.repo.createRecord", http=http, expect=(), intended=(400,),
                      body={"repo": did, "collection": "not an nsid", "record": {}})
        elif bad == 1:
            self.call("refusal", "GET", "com.atproto.sync.getRepo", http=http, token=False, expect=(), intended=(400,),
                      params={"did": did, "since": "nope"})
        elif bad == 2:
            self.call("refusal", "GET", "com.atproto.server.getSession", http=http, token=False, expect=(),
                      intended=(401,), headers={"Authorization": "Bearer not.a.token"})
        else:
            self.call("refusal", "POST", "com.atproto.server.createSession", http=http, token=False, expect=(),
                      intended=(401,), body={"identifier": HANDLE, "password": "wrong-password"})

    def subscriber(self, _http):
        """Joins the firehose (live, or from a recent cursor), reads for a few seconds, leaves."""
        url = self.pds.url.replace("http://", "ws://") + "/xrpc/com.atproto.sync.subscribeRepos"
        if random.random() < 0.5 and Soak.seq_hint > 0:
            # A cursor a little in the past: replay, then live.
            url += f"?cursor={max(0, Soak.seq_hint - random.randrange(1, 200))}"
        frames = 0
        started = time.monotonic()
        try:
            with connect(url, open_timeout=TIMEOUT, close_timeout=5, max_size=8 << 20) as socket:
                deadline = time.monotonic() + random.uniform(2, 10)
                while time.monotonic() < deadline and not self.stop.is_set():
                    try:
                        socket.recv(timeout=max(0.05, deadline - time.monotonic()))
                        frames += 1
                    except TimeoutError:
                        break
        except Exception as error:
            self.stats.record("firehose", "error", repr(error))
            return
        self.firehose_joins += 1
        self.stats.record("firehose", "ok", seconds=time.monotonic() - started)

    seq_hint = 0   # a recent firehose seq (track_seq keeps it)


MEMORY_GAUGES = {"sqlite": "pds_sqlite_memory_bytes", "malloc": "process_malloc_in_use_bytes",
                 "kept": "process_malloc_free_bytes"}


def memory_gauges(pds):
    """The server's memory gauges from /metrics in MB: SQLite's memory, malloc's bytes in use and
    the free bytes malloc keeps in its arenas (NaN where absent)."""
    found = dict.fromkeys(MEMORY_GAUGES, float("nan"))
    try:
        values = dict(line.split(" ", 1) for line in pds.http.get(f"{pds.url}/metrics", timeout=10).text.splitlines()
                      if line and not line.startswith("#"))
        for key, name in MEMORY_GAUGES.items():
            if name in values:
                found[key] = float(values[name]) / 1e6
    except Exception:
        pass
    return found


def sample(pid):
    """(RSS in bytes, open descriptors) of `pid`."""
    return status_kib(pid, "VmRSS") * 1024, len(os.listdir(f"/proc/{pid}/fd"))


def track_seq(soak, stop):
    """Keeps a recent firehose seq for the subscribers' cursors (from a live subscription)."""
    import libipld
    url = soak.pds.url.replace("http://", "ws://") + "/xrpc/com.atproto.sync.subscribeRepos"
    while not stop.is_set():
        try:
            with connect(url, open_timeout=TIMEOUT, max_size=8 << 20) as socket:
                while not stop.is_set():
                    try:
                        frame = socket.recv(timeout=1)
                    except TimeoutError:
                        continue
                    header, body = libipld.decode_dag_cbor_multi(frame)[:2]
                    if isinstance(body, dict) and "seq" in body:
                        Soak.seq_hint = body["seq"]
        except Exception:
            stop.wait(1)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("binary", help="the pds binary (release or debug)")
    parser.add_argument("--minutes", type=float, default=20)
    parser.add_argument("--warmup", type=float, default=4, help="minutes before the flatness check starts")
    parser.add_argument("--sample", type=float, default=5, help="seconds between /proc samples")
    parser.add_argument("--records", type=int, default=300, help="record keys in the working set")
    parser.add_argument("--subscribers", type=int, default=3, help="concurrent joining/leaving subscribers")
    parser.add_argument("--rss-tolerance", type=float, default=5, help="MB")
    parser.add_argument("--fd-tolerance", type=int, default=10)
    parser.add_argument("--only", default="", help="comma-separated load kinds to run (write, blob, read, proxied, "
                        "login, refusal, firehose); all by default. For finding which one moves RSS")
    args = parser.parse_args()
    os.environ["PDS_INTEROP_BIN"] = os.path.abspath(args.binary)
    import network_server
    network_server.PDS_BIN = os.path.abspath(args.binary)

    stats = Stats()
    stop = threading.Event()
    with tempfile.TemporaryDirectory(prefix="pds-soak-") as work, Network(appview_did=APPVIEW_DID) as net:
        with start_pds(work, HANDLE, env=dict(net.env(), PDS_LOG_LEVEL="warning", PDS_METRICS_ENABLED="true")) as pds:
            pid = pds.process.pid
            print(f"soak: pds pid {pid} at {pds.url}, binary {args.binary}, {args.minutes:g} min "
                  f"(warm-up {args.warmup:g}), working set {args.records} records", flush=True)
            soak = Soak(pds, stats, stop, args.records)
            threads = [threading.Thread(target=track_seq, args=(soak, stop), daemon=True)]
            threads[0].start()
            workers = [("write", soak.write, 0.1), ("write", soak.write, 0.1), ("blob", soak.upload, 1.0),
                       ("read", soak.read, 0.05), ("read", soak.read, 0.05), ("proxied", soak.proxied, 0.5),
                       ("login", soak.login, 3.0), ("refusal", soak.refusals, 1.0)]
            workers += [("firehose", soak.subscriber, 0.5)] * args.subscribers
            only = set(filter(None, args.only.split(",")))
            threads += [soak.run(f"{kind}{i}", body, interval) for i, (kind, body, interval) in enumerate(workers)
                        if not only or kind in only]

            samples = []       # (seconds since start, rss, fds)
            minutes = []       # per-minute summaries
            started = time.monotonic()
            end = started + args.minutes * 60
            next_minute = started + 60
            minute_samples = []
            print(f"{'min':>4} {'ok':>7} {'intended':>8} {'errors':>6} {'rss MB (median, min-max)':>26} "
                  f"{'fds (min-max)':>14} {'joins':>6} {'anon MB':>8} {'sqlite MB':>9} {'malloc MB':>9} "
                  f"{'kept free':>9}", flush=True)
            while time.monotonic() < end:
                if pds.process.poll() is not None:
                    print(f"soak: the server exited with {pds.process.returncode}:\n{pds.log_tail()}")
                    stop.set()
                    return 1
                rss, fds = sample(pid)
                now = time.monotonic() - started
                samples.append((now, rss, fds))
                minute_samples.append((rss, fds))
                if time.monotonic() >= next_minute:
                    figures = stats.take_minute()
                    rsses = [s[0] / 1e6 for s in minute_samples]
                    fdss = [s[1] for s in minute_samples]
                    summary = {"minute": len(minutes) + 1, "ok": figures["ok"], "intended": figures["intended"],
                               "errors": figures["error"], "rss_median": statistics.median(rsses),
                               "rss_min": min(rsses), "rss_max": max(rsses), "fd_min": min(fdss),
                               "fd_max": max(fdss), "fds": fdss, "joins": soak.firehose_joins,
                               "anon": status_kib(pid, "RssAnon") * 1024 / 1e6, **memory_gauges(pds)}
                    minutes.append(summary)
                    print(f"{summary['minute']:>4} {summary['ok']:>7} {summary['intended']:>8} {summary['errors']:>6} "
                          f"{summary['rss_median']:>9.1f} ({summary['rss_min']:.1f}-{summary['rss_max']:.1f})"
                          f"{'':>3} {summary['fd_min']:>6}-{summary['fd_max']:<6} {summary['joins']:>6}"
                          f" {summary['anon']:>8.1f} {summary['sqlite']:>9.1f} {summary['malloc']:>9.1f}"
                          f" {summary['kept']:>9.1f}", flush=True)
                    minute_samples = []
                    next_minute += 60
                stop.wait(min(args.sample, max(0.1, end - time.monotonic())))
            stop.set()
            for thread in threads:
                thread.join(timeout=TIMEOUT + 5)
            final_rss, final_fds = sample(pid)
            alive = pds.process.poll() is None and pds.http.get(f"{pds.url}/xrpc/_health", timeout=10).ok
    return verdict(args, stats, minutes, final_rss, final_fds, alive)


def verdict(args, stats, minutes, final_rss, final_fds, alive):
    print()
    totals = collections.Counter()
    for (kind, outcome), count in sorted(stats.counts.items()):
        totals[outcome] += count
    kinds = sorted({kind for kind, _ in stats.counts})
    for kind in kinds:
        latencies = sorted(stats.latencies.get(kind, []))
        p50 = latencies[len(latencies) // 2] * 1000 if latencies else 0
        p99 = latencies[int(len(latencies) * 0.99)] * 1000 if latencies else 0
        print(f"  {kind:<9} ok {stats.counts[(kind, 'ok')]:>7}  intended {stats.counts[(kind, 'intended')]:>6}  "
              f"errors {stats.counts[(kind, 'error')]:>4}  p50 {p50:7.1f} ms  p99 {p99:7.1f} ms")
    print(f"  total     ok {totals['ok']}, intended refusals {totals['intended']}, errors {totals['error']}")
    for line in stats.errors:
        print(f"  error: {line}")
    warm = [m for m in minutes if m["minute"] > args.warmup]
    failures = []
    if not alive:
        failures.append("the server is not healthy at the end")
    if totals["error"]:
        failures.append(f"{totals['error']} unexpected answers")
    if len(warm) < 2:
        failures.append("too few minutes after warm-up to judge flatness")
    else:
        base = warm[0]
        rss_dev = max(abs(m["rss_median"] - base["rss_median"]) for m in warm)
        # Descriptors come and go with connections (subscribers joining and leaving, keep-alive
        # pools): each minute's median is compared, as for RSS; the full range is printed per minute.
        fd_base = statistics.median(base["fds"])
        fd_dev = max(abs(statistics.median(m["fds"]) - fd_base) for m in warm)
        print(f"  after warm-up (minutes {warm[0]['minute']}-{warm[-1]['minute']}): RSS median "
              f"{base['rss_median']:.1f} MB at first, largest deviation of a minute's median {rss_dev:.1f} MB "
              f"(limit ±{args.rss_tolerance:g}); fds {fd_base:g} at first, largest deviation {fd_dev:g} "
              f"(limit ±{args.fd_tolerance}); RSS at the end {final_rss / 1e6:.1f} MB, fds {final_fds}")
        slope = (warm[-1]["rss_median"] - base["rss_median"]) / max(1, len(warm) - 1)
        span = max(1, len(warm) - 1)
        print(f"  RSS trend after warm-up: {slope:+.2f} MB/min; anonymous memory "
              f"{(warm[-1]['anon'] - base['anon']) / span:+.2f} MB/min; malloc in use "
              f"{(warm[-1]['malloc'] - base['malloc']) / span:+.2f} MB/min (SQLite's part "
              f"{(warm[-1]['sqlite'] - base['sqlite']) / span:+.2f}), free kept in its arenas "
              f"{(warm[-1]['kept'] - base['kept']) / span:+.2f} MB/min")
        if rss_dev > args.rss_tolerance:
            failures.append(f"RSS moved {rss_dev:.1f} MB after warm-up")
        if fd_dev > args.fd_tolerance:
            failures.append(f"open descriptors moved by {fd_dev:g} after warm-up")
    print("VERDICT: " + ("PASS" if not failures else "FAIL — " + "; ".join(failures)))
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())

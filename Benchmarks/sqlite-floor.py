#!/usr/bin/env python3
"""The floor under createRecord's storage cost: the statements one commit runs, in the sqlite3
shell (C, no Swift, no GRDB), with the server's durability settings (WAL, synchronous=FULL).

    Benchmarks/sqlite-floor.py [--commits 2000] [--prefill 0,1000000]

For each prefill size it creates a database with the server's four repository tables, fills it
with that many records and blocks (one transaction, not measured), then runs N commits shaped like
a createRecord commit: 5 blocks inserted (a record, 3 MST nodes, the commit; random 36-byte CIDs),
the record row, 4 blocks deleted (the previous commit's nodes and commit), the root upserted and a
~1.8 KB event appended, each commit its own transaction. Prints the sqlite3 process's CPU
(user + system, from getrusage) per commit. Needs the sqlite3 command-line shell.
"""
import argparse, os, random, resource, shutil, subprocess, tempfile, time

SCHEMA = """
PRAGMA journal_mode=WAL;
CREATE TABLE repo_block (id INTEGER PRIMARY KEY, cid BLOB NOT NULL UNIQUE, repo_rev TEXT NOT NULL,
    size INTEGER NOT NULL, content BLOB NOT NULL, refs INTEGER);
CREATE INDEX repo_block_rev ON repo_block(repo_rev);
CREATE TABLE record (collection TEXT NOT NULL, rkey TEXT NOT NULL, cid TEXT NOT NULL, repo_rev TEXT NOT NULL,
    indexed_at TEXT NOT NULL, PRIMARY KEY (collection, rkey)) WITHOUT ROWID;
CREATE INDEX record_rev ON record(repo_rev);
CREATE TABLE repo_root (did TEXT PRIMARY KEY NOT NULL, cid TEXT NOT NULL, rev TEXT NOT NULL, indexed_at TEXT NOT NULL);
CREATE TABLE repo_seq (seq INTEGER PRIMARY KEY AUTOINCREMENT, event_type TEXT NOT NULL, event BLOB NOT NULL,
    sequenced_at TEXT NOT NULL);
CREATE INDEX repo_seq_time ON repo_seq(sequenced_at);
"""


def prefill_sql(count):
    # Records and their blocks in key order, as a grown repository holds them (TID keys), plus a
    # third as many MST node blocks.
    return f"""
BEGIN;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {count})
INSERT INTO repo_block (cid, repo_rev, size, content, refs) SELECT randomblob(36), printf('2a%011d', i), 250, randomblob(250), 1 FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {count // 3})
INSERT INTO repo_block (cid, repo_rev, size, content) SELECT randomblob(36), printf('2a%011d', i), 400, randomblob(400) FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {count})
INSERT INTO record SELECT 'app.bsky.feed.like', printf('2a%011d', i), 'bafyrei' || hex(randomblob(26)), printf('2a%011d', i), '2026-01-01T00:00:00Z' FROM n;
COMMIT;
"""


def commits_sql(count, rng):
    hexbytes = lambda n: "X'" + rng.randbytes(n).hex() + "'"
    lines = ["PRAGMA synchronous=FULL;"]
    previous = []
    for i in range(count):
        rev = f"3z{i:011d}"
        blocks = [(hexbytes(36), size) for size in (250, 320, 600, 900, 260)]
        lines.append("BEGIN;")
        for cid, size in blocks:
            lines.append(f"INSERT OR IGNORE INTO repo_block (cid, repo_rev, size, content) VALUES ({cid}, '{rev}', {size}, randomblob({size}));")
        lines.append(f"INSERT INTO record VALUES ('app.bsky.feed.post', '{rev}', 'bafyrei{rng.randbytes(26).hex()}', '{rev}', '2026-01-01T00:00:00Z') "
                     "ON CONFLICT (collection, rkey) DO UPDATE SET cid = excluded.cid;")
        for cid in previous:
            lines.append(f"DELETE FROM repo_block WHERE cid = {cid};")
        lines.append(f"INSERT INTO repo_root VALUES ('did:plc:x', 'bafyrei{rng.randbytes(26).hex()}', '{rev}', '2026') "
                     "ON CONFLICT (did) DO UPDATE SET cid = excluded.cid, rev = excluded.rev, indexed_at = excluded.indexed_at;")
        lines.append(f"INSERT INTO repo_seq (event_type, event, sequenced_at) VALUES ('commit', randomblob(1800), '2026-01-01T00:00:00Z');")
        lines.append("COMMIT;")
        previous = [cid for cid, _ in blocks[1:]]  # nodes and commit go with the next commit
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--commits", type=int, default=2000)
    parser.add_argument("--prefill", default="0,1000000", help="comma-separated record counts")
    args = parser.parse_args()
    if not shutil.which("sqlite3"):
        raise SystemExit("the sqlite3 shell is not installed")
    rng = random.Random(14)
    print(f"sqlite3 floor: {args.commits} createRecord-shaped commits, WAL, synchronous=FULL")
    for prefill in (int(text) for text in args.prefill.split(",")):
        directory = tempfile.mkdtemp(prefix="sqlite-floor-")
        try:
            path = os.path.join(directory, "floor.sqlite")
            setup = SCHEMA + (prefill_sql(prefill) if prefill else "")
            subprocess.run(["sqlite3", path], input=setup, text=True, check=True, capture_output=True)
            script = commits_sql(args.commits, rng)
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            subprocess.run(["sqlite3", path], input=script, text=True, check=True, capture_output=True)
            wall = time.perf_counter() - start
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            user, system = after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime
            per = lambda seconds: f"{seconds / args.commits * 1000:.3f} ms"
            print(f"  {prefill:>9,} records: CPU per commit {per(user + system)} (user {per(user)}, system {per(system)}), "
                  f"wall {per(wall)}")
        finally:
            shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()

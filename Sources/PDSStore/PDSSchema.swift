/// The SQL schema, one constant per migration.
///
/// Conventions: times are ISO 8601 UTC text (sortable, readable in `sqlite3`); CIDs inside
/// `repo_block` and the record index are binary (they are hashed, joined and compared, and the
/// record index is as large as the repository: `storageRecordIndex`); elsewhere CIDs are their
/// string form because they go straight into API responses. Secrets (password and token material)
/// are stored only as scrypt or SHA-256 digests.
enum PDSSchema {
    static let v1 = """
        -- The one account this server hosts (a table rather than config so the store is self-describing
        -- and migration-in can create it like any other row).
        CREATE TABLE account (
            did TEXT PRIMARY KEY NOT NULL,
            handle TEXT NOT NULL,
            email TEXT,
            email_confirmed_at TEXT,
            password_hash TEXT NOT NULL,
            created_at TEXT NOT NULL,
            deactivated_at TEXT,
            takedown_ref TEXT
        );

        -- App passwords: scrypt with a per-account salt so a presented password can be found by hash.
        CREATE TABLE app_password (
            name TEXT PRIMARY KEY NOT NULL,
            password_hash TEXT NOT NULL UNIQUE,
            privileged INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL
        );

        -- Refresh tokens, by SHA-256 of their jti. `next_id` links a rotated token to its successor
        -- (the rotation grace period lets the old one keep working briefly).
        CREATE TABLE refresh_token (
            id TEXT PRIMARY KEY NOT NULL,
            expires_at INTEGER NOT NULL,
            app_password_name TEXT REFERENCES app_password(name) ON DELETE CASCADE,
            next_id TEXT
        );

        -- The current commit of the repository.
        CREATE TABLE repo_root (
            did TEXT PRIMARY KEY NOT NULL,
            cid TEXT NOT NULL,
            rev TEXT NOT NULL,
            indexed_at TEXT NOT NULL
        );

        -- Every block (commits, MST nodes, records) by binary CID, tagged with the rev that added it
        -- so `getRepo?since=` can stream a diff.
        CREATE TABLE repo_block (
            cid BLOB PRIMARY KEY NOT NULL,
            repo_rev TEXT NOT NULL,
            size INTEGER NOT NULL,
            content BLOB NOT NULL
        ) WITHOUT ROWID;
        CREATE INDEX repo_block_rev ON repo_block(repo_rev);

        -- The record index: what the MST holds, for listRecords without walking the tree.
        CREATE TABLE record (
            collection TEXT NOT NULL,
            rkey TEXT NOT NULL,
            cid TEXT NOT NULL,
            repo_rev TEXT NOT NULL,
            indexed_at TEXT NOT NULL,
            PRIMARY KEY (collection, rkey)
        ) WITHOUT ROWID;
        CREATE INDEX record_rev ON record(repo_rev);

        -- Blob metadata; bytes live in blobs/<cid>. temp_key is set until a record references it.
        CREATE TABLE blob (
            cid TEXT PRIMARY KEY NOT NULL,
            mime_type TEXT NOT NULL,
            size INTEGER NOT NULL,
            temp_key TEXT,
            created_at TEXT NOT NULL
        );

        -- Which records reference which blobs (a blob is deleted with its last reference).
        CREATE TABLE record_blob (
            blob_cid TEXT NOT NULL,
            collection TEXT NOT NULL,
            rkey TEXT NOT NULL,
            PRIMARY KEY (blob_cid, collection, rkey)
        ) WITHOUT ROWID;
        CREATE INDEX record_blob_record ON record_blob(collection, rkey);

        -- The firehose event log. AUTOINCREMENT: a seq is never reused, even after the newest rows
        -- are deleted, because relays keep per-host cursors (the reference PDS).
        CREATE TABLE repo_seq (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            event_type TEXT NOT NULL,
            event BLOB NOT NULL,
            sequenced_at TEXT NOT NULL
        );
        CREATE INDEX repo_seq_time ON repo_seq(sequenced_at);

        -- did:plc operations this server created or submitted (the directory holds the truth; this
        -- is the local record, and for dev accounts the only copy).
        CREATE TABLE plc_operation (
            cid TEXT PRIMARY KEY NOT NULL,
            operation TEXT NOT NULL,
            published INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL
        );

        -- app.bsky.actor preferences, one row per preference object, in order.
        CREATE TABLE account_pref (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            name TEXT NOT NULL,
            value_json TEXT NOT NULL
        );
        """

    static let v2 = """
        -- One-time confirmation tokens (e.g. purpose 'plc_operation' for signPlcOperation), stored as
        -- SHA-256 of the token; one live token per purpose.
        CREATE TABLE email_token (
            purpose TEXT PRIMARY KEY NOT NULL,
            token_hash TEXT NOT NULL,
            expires_at INTEGER NOT NULL
        );
        """

    /// The blob mirror's durable work queue (docs/BACKUP.md). Triggers on `blob` fill it inside
    /// the very transaction that makes a blob permanent (a record references it: `temp_key` goes
    /// NULL, or the row is inserted already permanent) or deletes a permanent blob, so no code path
    /// that changes `blob` can forget to enqueue. Temporary uploads are never mirrored.
    ///
    /// One row per CID holding the latest wanted operation; `version` grows with every enqueue so a
    /// mirror that finished an older operation cannot remove a newer one. Rows stay until the
    /// remote operation succeeded, so a pending upload survives restarts and crashes. Times are Unix
    /// milliseconds (they are compared with arithmetic, never shown).
    static let v3 = """
        CREATE TABLE blob_mirror_queue (
            cid TEXT PRIMARY KEY NOT NULL,
            operation TEXT NOT NULL CHECK (operation IN ('put', 'delete')),
            version INTEGER NOT NULL DEFAULT 1,
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            enqueued_at INTEGER NOT NULL
        ) WITHOUT ROWID;
        CREATE INDEX blob_mirror_queue_due ON blob_mirror_queue(next_attempt_at);

        CREATE TRIGGER blob_mirror_on_insert AFTER INSERT ON blob WHEN NEW.temp_key IS NULL
        BEGIN
            INSERT INTO blob_mirror_queue (cid, operation, enqueued_at)
            VALUES (NEW.cid, 'put', CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER))
            ON CONFLICT (cid) DO UPDATE SET operation = 'put', version = version + 1, attempts = 0,
                next_attempt_at = 0, last_error = NULL, enqueued_at = excluded.enqueued_at;
        END;

        CREATE TRIGGER blob_mirror_on_permanent AFTER UPDATE OF temp_key ON blob
        WHEN OLD.temp_key IS NOT NULL AND NEW.temp_key IS NULL
        BEGIN
            INSERT INTO blob_mirror_queue (cid, operation, enqueued_at)
            VALUES (NEW.cid, 'put', CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER))
            ON CONFLICT (cid) DO UPDATE SET operation = 'put', version = version + 1, attempts = 0,
                next_attempt_at = 0, last_error = NULL, enqueued_at = excluded.enqueued_at;
        END;

        CREATE TRIGGER blob_mirror_on_delete AFTER DELETE ON blob WHEN OLD.temp_key IS NULL
        BEGIN
            INSERT INTO blob_mirror_queue (cid, operation, enqueued_at)
            VALUES (OLD.cid, 'delete', CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER))
            ON CONFLICT (cid) DO UPDATE SET operation = 'delete', version = version + 1, attempts = 0,
                next_attempt_at = 0, last_error = NULL, enqueued_at = excluded.enqueued_at;
        END;

        -- Blobs made permanent before this migration are mirrored too.
        INSERT INTO blob_mirror_queue (cid, operation, enqueued_at)
        SELECT cid, 'put', CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) FROM blob WHERE temp_key IS NULL;
        """

    /// `repo_block` becomes a rowid table with a UNIQUE index on the CID. As a WITHOUT ROWID table
    /// keyed by a random CID, every new block (a commit writes five or so) landed on a random leaf
    /// holding whole block contents, splitting pages and spilling to overflow pages: 14 of the ~25
    /// WAL pages a commit wrote. Rowid order is insertion order, so contents now append to the
    /// table's last pages and only the small CID index takes random inserts (~10 pages in all;
    /// Benchmarks/server-bench.py). Readers are unchanged: they look blocks up by `cid`.
    static let v4 = """
        CREATE TABLE repo_block_v4 (
            id INTEGER PRIMARY KEY,
            cid BLOB NOT NULL UNIQUE,
            repo_rev TEXT NOT NULL,
            size INTEGER NOT NULL,
            content BLOB NOT NULL
        );
        INSERT INTO repo_block_v4 (cid, repo_rev, size, content)
        SELECT cid, repo_rev, size, content FROM repo_block ORDER BY repo_rev, cid;
        DROP TABLE repo_block;
        ALTER TABLE repo_block_v4 RENAME TO repo_block;
        CREATE INDEX repo_block_rev ON repo_block(repo_rev);
        """

    /// Failed logins, counted across restarts (one row: the server hosts one account, and the
    /// defence counts failures, not addresses; `PDS_LOGIN_FAILURE_LIMIT`). Times are Unix seconds.
    /// A successful login or `pds account unlock-logins` deletes the row.
    static let v5 = """
        CREATE TABLE login_failure (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            failures INTEGER NOT NULL,
            first_failure_at INTEGER NOT NULL,
            last_failure_at INTEGER NOT NULL
        );
        """

    /// `repo_block.refs`: for record blocks, how many paths of the repository hold the record
    /// (identical records under several paths share one block). A commit deletes a record block
    /// when its count reaches 0 (docs/ARCHITECTURE.md, "Blocks"). NULL for MST nodes and commits,
    /// and for blocks no path held when the migration ran (`PDSDatabase.countRecordReferences`
    /// fills in the rest). Adding a column with no default rewrites nothing.
    static let v6 = """
        ALTER TABLE repo_block ADD COLUMN refs INTEGER;
        """

    /// The record index, smaller (issue 16: the database near the size of what it serves). The
    /// CID is stored as its bytes (36) rather than its base32 string (59), like `repo_block`'s,
    /// so a record's block is found by joining on it; `indexed_at` is gone because the record's
    /// rev is a TID, whose timestamp is the commit's time (https://atproto.com/specs/tid), so the
    /// read-after-write view takes its `indexedAt` from there. The rows are copied by
    /// `PDSDatabase.compactRecordIndex` (the CIDs are decoded in Swift) in key order, so the new
    /// table's pages are full.
    static let storageRecordIndex = """
        CREATE TABLE record_compact (
            collection TEXT NOT NULL,
            rkey TEXT NOT NULL,
            cid BLOB NOT NULL,
            repo_rev TEXT NOT NULL,
            PRIMARY KEY (collection, rkey)
        ) WITHOUT ROWID;
        """

    static let storageRecordIndexSwap = """
        DROP TABLE record;
        ALTER TABLE record_compact RENAME TO record;
        CREATE INDEX record_rev ON record(repo_rev);
        """

    /// dashboard-v1: the blob mirror's last successful upload, which the queue cannot tell (its
    /// rows are deleted when done). One row, updated per upload.
    static let dashboardV1 = """
        CREATE TABLE blob_mirror_state (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            last_upload_at INTEGER NOT NULL,
            uploads INTEGER NOT NULL DEFAULT 0
        );
        """

    /// block-export-v1: whether `repo_block` is known to hold exactly the blocks the current commit
    /// reaches, so a full `getRepo` may stream the table in storage order instead of walking the
    /// MST (docs/ARCHITECTURE.md, "Reads"). True for a database with no block yet (every commit
    /// since v6 deletes what it replaced); a database written before that keeps stale blocks
    /// (deleted records among them) until `pds compact` sweeps them or an import replaces them,
    /// and both set it then. Once true, commits keep it true.
    static let blockExportV1 = """
        CREATE TABLE repo_block_state (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            exact INTEGER NOT NULL
        );
        INSERT INTO repo_block_state (id, exact) VALUES (1, NOT EXISTS (SELECT 1 FROM repo_block));
        """
}

/// OAuth tables (migration "oauth-v1"). Every token, code and request URI is stored only as the
/// hex SHA-256 of its value: a copy of the database does not let anyone act as a client.
/// Times are Unix seconds; every row with a lifetime has `expires_at` for `OAuthStore.sweep`.
enum OAuthSchema {
    static let v1 = """
        -- Pushed authorization requests (RFC 9126), then the code issued for them.
        CREATE TABLE oauth_request (
            id TEXT PRIMARY KEY,              -- sha256(request_uri)
            client_id TEXT NOT NULL,
            parameters TEXT NOT NULL,         -- the authorization request as JSON
            dpop_jkt TEXT,
            client_key TEXT,                  -- thumbprint of the confidential client's key
            expires_at INTEGER NOT NULL,
            did TEXT,                         -- set when the owner approves
            code_hash TEXT UNIQUE,
            session_id TEXT                   -- set when the code is exchanged
        );
        -- Granted sessions: one row per token family (code → access/refresh → rotated pairs).
        CREATE TABLE oauth_session (
            id TEXT PRIMARY KEY,
            did TEXT NOT NULL,
            client_id TEXT NOT NULL,
            scope TEXT NOT NULL,
            dpop_jkt TEXT NOT NULL,
            client_auth TEXT NOT NULL,        -- 'none' or 'private_key_jwt'
            client_key TEXT,                  -- 'kid thumbprint' the session is bound to
            created_at INTEGER NOT NULL,
            expires_at INTEGER NOT NULL,      -- end of the session, whatever the refreshes
            access_hash TEXT NOT NULL UNIQUE,
            access_expires_at INTEGER NOT NULL,
            refresh_hash TEXT UNIQUE,
            refresh_expires_at INTEGER,
            previous_refresh_hash TEXT,       -- the token just rotated away: its reuse revokes the session
            last_used_at INTEGER NOT NULL
        );
        CREATE INDEX oauth_session_did ON oauth_session (did, client_id);
        -- Values that must never be accepted twice while they could still be valid: DPoP proof
        -- jti, client assertion jti, PKCE challenges (24 h).
        CREATE TABLE oauth_replay (
            key TEXT PRIMARY KEY,
            expires_at INTEGER NOT NULL
        ) WITHOUT ROWID;
        -- Remembered consent: the scope the owner approved for a client.
        CREATE TABLE oauth_approval (
            did TEXT NOT NULL,
            client_id TEXT NOT NULL,
            scope TEXT NOT NULL,
            approved_at INTEGER NOT NULL,
            PRIMARY KEY (did, client_id)
        );
        -- Browser sign-ins on the server's own pages (authorize, /account): cookie hash.
        CREATE TABLE oauth_page_session (
            id TEXT PRIMARY KEY,
            did TEXT NOT NULL,
            csrf TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            expires_at INTEGER NOT NULL
        );
        """

    /// Migration "oauth-v2": the scope a session was granted when its `include:` permission sets
    /// were expanded (NULL when the requested scope had none: then `scope` is what was granted).
    static let v2 = """
        ALTER TABLE oauth_session ADD COLUMN granted_scope TEXT;
        """
}

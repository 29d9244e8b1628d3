-- Web dashboard accounts, sessions and one-time login links (version 2).
-- Times are Unix epoch milliseconds (UTC). Secrets are never stored as
-- given: passwords as argon2id PHC strings, session and link tokens as the
-- hex SHA-256 of the token the browser holds.

CREATE TABLE web_users (
    id            INTEGER PRIMARY KEY,
    name          TEXT    NOT NULL UNIQUE,
    level         TEXT    NOT NULL CHECK (level IN ('viewer', 'operator', 'admin')),
    password_hash TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);

-- One row per logged-in browser. `identity` is the audit name
-- (`web:NAME`, or `discord:ID` for a session opened by a /dashboard link);
-- `user_id` ties a password session to its account, so removing the
-- account or changing its password ends its sessions.
CREATE TABLE web_sessions (
    token_sha256 TEXT    PRIMARY KEY,
    identity     TEXT    NOT NULL,
    level        TEXT    NOT NULL CHECK (level IN ('viewer', 'operator', 'admin')),
    user_id      INTEGER REFERENCES web_users(id) ON DELETE CASCADE,
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL             -- absolute end, whatever the activity
);

CREATE INDEX web_sessions_by_expiry ON web_sessions(expires_at);

-- Single-use login links handed out by Discord's /dashboard.
CREATE TABLE web_login_links (
    token_sha256 TEXT    PRIMARY KEY,
    identity     TEXT    NOT NULL,
    level        TEXT    NOT NULL CHECK (level IN ('viewer', 'operator', 'admin')),
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL
);

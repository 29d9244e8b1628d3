-- drover schema, version 1.
-- Times are Unix epoch milliseconds (UTC). Run history copies names and script
-- bodies (by content hash) so that later edits or deletions of inventory never
-- break it.

CREATE TABLE hosts (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL UNIQUE,
    address     TEXT    NOT NULL,
    port        INTEGER NOT NULL DEFAULT 22 CHECK (port BETWEEN 1 AND 65535),
    user        TEXT,                       -- NULL: the configured default user
    description TEXT    NOT NULL DEFAULT '',
    host_key    TEXT,                       -- pinned key, OpenSSH public-key format
    use_sudo    INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

CREATE TABLE server_groups (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL UNIQUE,
    description TEXT    NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL
);

CREATE TABLE server_group_members (
    group_id INTEGER NOT NULL REFERENCES server_groups(id) ON DELETE CASCADE,
    host_id  INTEGER NOT NULL REFERENCES hosts(id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, host_id)
);

-- Content-addressed script bodies; never deleted, so runs keep what they ran.
CREATE TABLE script_bodies (
    sha256 TEXT PRIMARY KEY,
    body   TEXT NOT NULL
);

CREATE TABLE scripts (
    id              INTEGER PRIMARY KEY,
    name            TEXT    NOT NULL UNIQUE,
    description     TEXT    NOT NULL DEFAULT '',
    timeout_secs    INTEGER,                -- NULL: no per-script timeout
    current_version INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);

CREATE TABLE script_versions (
    script_id  INTEGER NOT NULL REFERENCES scripts(id) ON DELETE CASCADE,
    version    INTEGER NOT NULL,
    body_sha   TEXT    NOT NULL REFERENCES script_bodies(sha256),
    created_at INTEGER NOT NULL,
    created_by TEXT    NOT NULL,
    PRIMARY KEY (script_id, version)
);

CREATE TABLE script_groups (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL UNIQUE,
    description TEXT    NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL
);

CREATE TABLE script_group_entries (
    group_id  INTEGER NOT NULL REFERENCES script_groups(id) ON DELETE CASCADE,
    position  INTEGER NOT NULL,             -- 1-based, dense
    script_id INTEGER NOT NULL REFERENCES scripts(id),
    PRIMARY KEY (group_id, position),
    UNIQUE (group_id, script_id)
);

CREATE TABLE tasks (
    id               INTEGER PRIMARY KEY,
    name             TEXT    NOT NULL UNIQUE,
    script_group_id  INTEGER NOT NULL REFERENCES script_groups(id),
    server_group_id  INTEGER NOT NULL REFERENCES server_groups(id),
    parallel         INTEGER NOT NULL CHECK (parallel >= 1),
    on_failure       TEXT    NOT NULL CHECK (on_failure IN ('stop', 'continue')),
    max_failed_hosts INTEGER CHECK (max_failed_hosts IS NULL OR max_failed_hosts >= 1),
    use_sudo         INTEGER NOT NULL DEFAULT 0,
    description      TEXT    NOT NULL DEFAULT '',
    created_at       INTEGER NOT NULL
);

CREATE TABLE runs (
    id               INTEGER PRIMARY KEY,
    task_name        TEXT,
    script_group     TEXT    NOT NULL,
    server_group     TEXT    NOT NULL,
    started_by       TEXT    NOT NULL,
    state            TEXT    NOT NULL,
    parallel         INTEGER NOT NULL,
    on_failure       TEXT    NOT NULL,
    max_failed_hosts INTEGER,
    use_sudo         INTEGER NOT NULL DEFAULT 0,
    env              TEXT    NOT NULL DEFAULT '[]',   -- JSON [[KEY, VALUE]...] for resume and rerun; shown by name only
    nonce            TEXT    NOT NULL DEFAULT '',     -- frames the remote output markers
    identities       TEXT    NOT NULL DEFAULT '[]',   -- JSON list of key file paths (never key material)
    created_at       INTEGER NOT NULL,
    finished_at      INTEGER,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    lease_owner      TEXT,
    lease_expires_at INTEGER
);

CREATE TABLE run_scripts (
    run_id         INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    step           INTEGER NOT NULL,        -- 1-based
    script_name    TEXT    NOT NULL,
    script_version INTEGER NOT NULL,
    body_sha       TEXT    NOT NULL REFERENCES script_bodies(sha256),
    timeout_secs   INTEGER,
    PRIMARY KEY (run_id, step)
);

CREATE TABLE run_hosts (
    id           INTEGER PRIMARY KEY,
    run_id       INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    position     INTEGER NOT NULL,
    host_name    TEXT    NOT NULL,
    address      TEXT    NOT NULL,
    port         INTEGER NOT NULL,
    user         TEXT    NOT NULL,
    use_sudo     INTEGER NOT NULL DEFAULT 0,
    state        TEXT    NOT NULL,
    current_step INTEGER,
    exit_code    INTEGER,
    signal       TEXT,
    reason       TEXT,
    remote_dir   TEXT,
    started_at   INTEGER,
    finished_at  INTEGER,
    UNIQUE (run_id, host_name)
);

CREATE TABLE run_steps (
    run_host_id  INTEGER NOT NULL REFERENCES run_hosts(id) ON DELETE CASCADE,
    step         INTEGER NOT NULL,
    state        TEXT    NOT NULL,
    exit_code    INTEGER,
    signal       TEXT,
    started_at   INTEGER,
    finished_at  INTEGER,
    log_bytes    INTEGER NOT NULL DEFAULT 0,   -- bytes received from the host
    log_offset   INTEGER NOT NULL DEFAULT 0,   -- offset in the remote output where the step's output starts
    end_offset   INTEGER,                      -- offset just after the step's end marker
    log_excerpt  TEXT    NOT NULL DEFAULT '',
    PRIMARY KEY (run_host_id, step)
);

CREATE TABLE audit (
    id      INTEGER PRIMARY KEY,
    at      INTEGER NOT NULL,
    actor   TEXT    NOT NULL,
    action  TEXT    NOT NULL,
    target  TEXT    NOT NULL,
    detail  TEXT    NOT NULL DEFAULT '',
    outcome TEXT    NOT NULL DEFAULT 'ok'
);

CREATE INDEX run_hosts_by_run ON run_hosts(run_id, position);
CREATE INDEX audit_by_time ON audit(at);

-- Where a front end shows a run's progress (e.g. a Discord channel message),
-- so that a restarted bot goes on editing it.
CREATE TABLE run_messages (
    run_id     INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    channel_id TEXT    NOT NULL,
    message_id TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (run_id, message_id)
);

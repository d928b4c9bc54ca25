"""The embedded SQLite store's schema, in steps (the PostgreSQL store's are the .sql files
beside this module)."""

from __future__ import annotations

# Versioned by PRAGMA user_version: step N brings a file from version N-1 to N. Step 1 is the
# schema files were created with before versions existed (hence IF NOT EXISTS).
STEPS = [
    """
    CREATE TABLE IF NOT EXISTS jobs (
        id TEXT PRIMARY KEY,
        work_key TEXT NOT NULL,
        state TEXT NOT NULL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        data TEXT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS jobs_state ON jobs(state);
    CREATE INDEX IF NOT EXISTS jobs_created ON jobs(created_at);
    CREATE TABLE IF NOT EXISTS work_keys (
        work_key TEXT PRIMARY KEY,
        job_id TEXT NOT NULL,
        created_at REAL NOT NULL
    );
    CREATE TABLE IF NOT EXISTS events (
        event_id TEXT PRIMARY KEY,
        seen_at REAL NOT NULL
    );
    CREATE TABLE IF NOT EXISTS cache (
        video_key TEXT NOT NULL,
        types TEXT NOT NULL,
        gist TEXT NOT NULL,
        created_at REAL NOT NULL,
        PRIMARY KEY (video_key, types)
    );
    CREATE TABLE IF NOT EXISTS usage (
        job_id TEXT PRIMARY KEY,
        team_id TEXT NOT NULL,
        user_id TEXT NOT NULL,
        day TEXT NOT NULL,
        video_seconds REAL NOT NULL,
        tokens INTEGER NOT NULL
    );
    CREATE INDEX IF NOT EXISTS usage_day ON usage(day, team_id, user_id)
    """,
    """
    ALTER TABLE jobs ADD COLUMN lease_owner TEXT;
    ALTER TABLE jobs ADD COLUMN lease_until REAL;
    CREATE INDEX jobs_lease_owner ON jobs(lease_owner)
    """,
    # Search: where each indexed video was shared; jobs by asset and by channel (expression
    # indexes on the job document, so rows written by an older release are covered too).
    """
    CREATE TABLE indexed_videos (
        indexed_asset_id TEXT PRIMARY KEY,
        index_id TEXT NOT NULL,
        asset_id TEXT NOT NULL,
        job_id TEXT,
        team_id TEXT NOT NULL,
        channel TEXT NOT NULL,
        message_ts TEXT,
        created_at REAL NOT NULL
    );
    CREATE INDEX indexed_videos_team ON indexed_videos(team_id, created_at);
    CREATE INDEX indexed_videos_asset ON indexed_videos(asset_id);
    CREATE INDEX jobs_asset ON jobs(json_extract(data, '$.asset_id'));
    CREATE INDEX jobs_channel ON jobs(json_extract(data, '$.slack.channel'), updated_at)
    """,
    """
    CREATE TABLE flights (
        key TEXT PRIMARY KEY,
        job_id TEXT NOT NULL,
        started_at REAL NOT NULL
    )
    """,
]

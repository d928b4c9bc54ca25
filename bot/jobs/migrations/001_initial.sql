-- gistbot's PostgreSQL schema, version 1. Applied once, in one transaction, under an advisory
-- lock (bot/jobs/migrations/__init__.py). Never edit an applied file: add 002_….sql instead.
-- Times are Unix seconds (double precision) as in the SQLite store, except lease_until, which
-- is the server's clock: replicas compare leases against one clock, whatever their own say.

CREATE TABLE jobs (
    id text PRIMARY KEY,
    work_key text NOT NULL,
    state text NOT NULL,
    created_at double precision NOT NULL,
    updated_at double precision NOT NULL,
    data jsonb NOT NULL,           -- the Job model: every durable step's result
    lease_owner text,              -- the replica working on it; NULL: nobody
    lease_until timestamptz        -- after this, any replica may take the job over
);
CREATE INDEX jobs_state ON jobs (state);
CREATE INDEX jobs_unfinished ON jobs (created_at) WHERE state IN ('queued', 'running');
CREATE INDEX jobs_lease_owner ON jobs (lease_owner) WHERE lease_owner IS NOT NULL;

-- One row per piece of work: the same video in the same message is accepted once.
CREATE TABLE work_keys (
    work_key text PRIMARY KEY,
    job_id text NOT NULL,
    created_at double precision NOT NULL
);
CREATE INDEX work_keys_created ON work_keys (created_at);

-- Slack event ids already accepted: a retry delivered to another replica adds nothing.
CREATE TABLE events (
    event_id text PRIMARY KEY,
    seen_at double precision NOT NULL
);
CREATE INDEX events_seen ON events (seen_at);

CREATE TABLE cache (
    video_key text NOT NULL,
    types text NOT NULL,
    gist text NOT NULL,
    created_at double precision NOT NULL,
    PRIMARY KEY (video_key, types)
);

-- Keyed by job: a job's usage counts once whichever replica (or how many) records it.
CREATE TABLE usage (
    job_id text PRIMARY KEY,
    team_id text NOT NULL,
    user_id text NOT NULL,
    day date NOT NULL,
    video_seconds double precision NOT NULL,
    tokens bigint NOT NULL
);
CREATE INDEX usage_day ON usage (day, team_id, user_id);

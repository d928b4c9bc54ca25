-- Search (version 2): where each indexed video was shared, and look-ups of jobs by asset and by
-- channel. The job look-ups are expression indexes on the job document, so rows written by a
-- replica still on version 1 are found too (rolling upgrades keep working).

CREATE TABLE indexed_videos (
    indexed_asset_id text PRIMARY KEY,  -- the search hit's video_id
    index_id text NOT NULL,
    asset_id text NOT NULL,
    job_id text,                        -- NULL: indexed by someone else, no job of ours
    team_id text NOT NULL,
    channel text NOT NULL,
    message_ts text,                    -- the message that shared the video
    created_at double precision NOT NULL
);
CREATE INDEX indexed_videos_team ON indexed_videos (team_id, created_at);
CREATE INDEX indexed_videos_asset ON indexed_videos (asset_id);

CREATE INDEX jobs_asset ON jobs ((data->>'asset_id'));
CREATE INDEX jobs_channel ON jobs ((data->'slack'->>'channel'), updated_at) WHERE state = 'done';

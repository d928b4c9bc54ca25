-- Single flight across replicas: for one video and one set of requested types (the flight's
-- key), one unfinished job at a time makes the gist; jobs for the same video on any replica
-- wait for its cached result instead of paying for a second analysis. A row whose job has
-- finished (or is gone) is stale: the next job to join takes the flight over.
CREATE TABLE flights (
    key text PRIMARY KEY,
    job_id text NOT NULL,
    started_at double precision NOT NULL
);
CREATE INDEX flights_started ON flights (started_at);

-- Which run a rerun repeats, so that a second
-- live rerun of the same run is refused (checked when the rerun is created,
-- inside the same write transaction).
ALTER TABLE runs ADD COLUMN rerun_of INTEGER REFERENCES runs(id);
CREATE INDEX runs_by_rerun_of ON runs(rerun_of) WHERE rerun_of IS NOT NULL;

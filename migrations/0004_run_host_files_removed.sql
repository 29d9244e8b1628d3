-- Whether a host confirmed it removed a run's files (after the controller's
-- acknowledgement). A takeover removes the files of hosts whose final state
-- is stored but whose removal was never confirmed: their controller died
-- between storing the state and the acknowledgement.
ALTER TABLE run_hosts ADD COLUMN files_removed INTEGER NOT NULL DEFAULT 0;

-- The host key each run host is verified against, OpenSSH public-key format:
-- the key pinned when the run was created, or the one the run learned on first
-- contact. Every later connection of the run (takeover, cancel, resume) uses
-- it, and reruns carry it, even after the host leaves the inventory.
ALTER TABLE run_hosts ADD COLUMN host_key TEXT;

-- Runs under way when this migration runs keep the keys pinned now.
UPDATE run_hosts SET host_key = (
    SELECT h.host_key FROM hosts h
    WHERE h.name = run_hosts.host_name AND h.address = run_hosts.address AND h.port = run_hosts.port
) WHERE run_id IN (SELECT id FROM runs WHERE state = 'running');

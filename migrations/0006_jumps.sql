-- Jump hosts (ProxyJump) of an inventory host: `none`, or hops
-- `[user@]host[:port]` separated by commas, each an inventory host name or an
-- ssh_config alias. NULL: as ssh_config says.
ALTER TABLE hosts ADD COLUMN jump TEXT;

-- The route a run host is reached by (JSON: the jump hosts and the host's
-- effective address, port, user and ssh_config options), worked out when the
-- run was created, so that takeovers and resumes connect the same way.
-- NULL: directly, at the row's address, port and user (runs created before).
ALTER TABLE run_hosts ADD COLUMN route TEXT;

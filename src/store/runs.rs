//! Run records: runs, their hosts and steps, leases.

-- Revision 0014 down: drop the snapshot quality view.
DROP VIEW IF EXISTS chain_snapshot_quality;

-- Revision 0006 down: drop the IV provenance column (its CHECK constraint goes with it). Dropping a
-- column is allowed on a compressed hypertable.
ALTER TABLE options_greeks DROP COLUMN IF EXISTS iv_source;

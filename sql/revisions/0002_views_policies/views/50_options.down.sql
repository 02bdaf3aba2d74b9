DROP VIEW IF EXISTS options_chain_latest;

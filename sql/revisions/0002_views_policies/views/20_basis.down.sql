DROP VIEW IF EXISTS futures_term_structure;
DROP VIEW IF EXISTS futures_basis_1h;
DROP VIEW IF EXISTS futures_basis_1m;

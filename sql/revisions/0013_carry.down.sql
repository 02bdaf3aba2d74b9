-- Revision 0013 down: drop the carry views.
DROP VIEW IF EXISTS carry_1d;
DROP VIEW IF EXISTS carry_1h;

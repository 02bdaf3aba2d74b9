-- A load wrote rows of this hypertable between these instants: its aggregates need a refresh there.
-- Written in the same transaction as the rows.
INSERT INTO cagg_refresh_pending (hypertable, range_start, range_end)
VALUES (%(hypertable)s, %(lo)s, %(hi)s)

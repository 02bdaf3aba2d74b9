-- Continuous aggregates built on a hypertable, directly or on another continuous aggregate of it
-- (hierarchical), parents first: refreshing in this order lets a 1d built on the 1h see fresh data.
WITH RECURSIVE tree AS (
    SELECT c.view_schema, c.view_name, c.materialization_hypertable_schema AS mat_schema,
           c.materialization_hypertable_name AS mat_name, 1 AS depth
    FROM timescaledb_information.continuous_aggregates c
    WHERE c.hypertable_name = %(hypertable)s
  UNION ALL
    SELECT c.view_schema, c.view_name, c.materialization_hypertable_schema,
           c.materialization_hypertable_name, t.depth + 1
    FROM timescaledb_information.continuous_aggregates c
    JOIN tree t ON c.hypertable_schema = t.mat_schema AND c.hypertable_name = t.mat_name
    WHERE t.depth < 5
)
SELECT view_schema, view_name, min(depth) AS depth
FROM tree
GROUP BY view_schema, view_name
ORDER BY depth, view_name

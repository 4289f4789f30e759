-- Views over the Parquet lake. clearcount fills in the {..._glob} paths.
-- Zero-row schema files live under site=_schema; no view shows them.

CREATE OR REPLACE VIEW events AS
SELECT * EXCLUDE (date), date
FROM read_parquet({events_glob}, hive_partitioning = true,
                  hive_types = {'site': VARCHAR, 'date': DATE}, union_by_name = true)
WHERE site <> '_schema';

CREATE OR REPLACE VIEW quarantine AS
SELECT * EXCLUDE (date), date
FROM read_parquet({quarantine_glob}, hive_partitioning = true,
                  hive_types = {'site': VARCHAR, 'date': DATE}, union_by_name = true)
WHERE site <> '_schema';

CREATE OR REPLACE VIEW denied_counts AS
SELECT site, date, type, reason, sum(count)::BIGINT AS count
FROM read_parquet({denied_counts_glob}, hive_partitioning = true,
                  hive_types = {'site': VARCHAR, 'date': DATE}, union_by_name = true)
WHERE site <> '_schema'
GROUP BY ALL;

CREATE OR REPLACE VIEW consent_log AS
SELECT * EXCLUDE (date), date
FROM read_parquet({consent_log_glob}, hive_partitioning = true,
                  hive_types = {'site': VARCHAR, 'date': DATE}, union_by_name = true)
WHERE site <> '_schema';

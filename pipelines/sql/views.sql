-- Views over the Parquet lake. clearcount fills in each table's {..._glob} and its
-- {..._hidden} list: files being swapped in or retired, which no view shows
-- (pipelines/commit.py). Zero-row schema files live under site=_schema; no view
-- shows them either.

CREATE OR REPLACE VIEW events AS
SELECT * EXCLUDE (date, filename), date
FROM read_parquet({events_glob}, hive_partitioning = true, filename = true,
                  hive_types = {'site': VARCHAR, 'date': DATE}, union_by_name = true)
WHERE site <> '_schema'
  AND regexp_extract(filename, '[^/]+/[^/]+/[^/]+$') NOT IN (SELECT file FROM {events_hidden});

CREATE OR REPLACE VIEW quarantine AS
SELECT * EXCLUDE (date, filename), date
FROM read_parquet({quarantine_glob}, hive_partitioning = true, filename = true,
                  hive_types = {'site': VARCHAR, 'date': DATE}, union_by_name = true)
WHERE site <> '_schema'
  AND regexp_extract(filename, '[^/]+/[^/]+/[^/]+$') NOT IN (SELECT file FROM {quarantine_hidden});

CREATE OR REPLACE VIEW denied_counts AS
SELECT site, date, type, reason, sum(count)::BIGINT AS count
FROM read_parquet({denied_counts_glob}, hive_partitioning = true, filename = true,
                  hive_types = {'site': VARCHAR, 'date': DATE}, union_by_name = true)
WHERE site <> '_schema'
  AND regexp_extract(filename, '[^/]+/[^/]+/[^/]+$') NOT IN (SELECT file FROM {denied_counts_hidden})
GROUP BY ALL;

CREATE OR REPLACE VIEW consent_log AS
SELECT * EXCLUDE (date, filename), date
FROM read_parquet({consent_log_glob}, hive_partitioning = true, filename = true,
                  hive_types = {'site': VARCHAR, 'date': DATE}, union_by_name = true)
WHERE site <> '_schema'
  AND regexp_extract(filename, '[^/]+/[^/]+/[^/]+$') NOT IN (SELECT file FROM {consent_log_hidden});

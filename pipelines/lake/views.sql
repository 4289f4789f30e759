-- Views over the Parquet lake. clearcount fills in each table's {..._glob} and its
-- {..._hidden} list: files being swapped in or retired, which no view shows
-- (pipelines/commit.py). Zero-row schema files live under site=_schema; no view
-- shows them either.

CREATE OR REPLACE MACRO lake_table(files, hidden) AS TABLE
SELECT * EXCLUDE (filename)
FROM read_parquet(files, hive_partitioning = true, filename = true,
                  hive_types = {'site': VARCHAR, 'date': DATE}, union_by_name = true)
WHERE site <> '_schema'
  AND regexp_extract(filename, '[^/]+/[^/]+/[^/]+$') NOT IN (
      SELECT file FROM read_csv(hidden, header = true, auto_detect = false,
                                columns = {'file': 'VARCHAR', 'state': 'VARCHAR', 'since': 'DOUBLE'}));

CREATE OR REPLACE VIEW events AS
SELECT * EXCLUDE (date), date FROM lake_table({events_glob}, {events_hidden});

CREATE OR REPLACE VIEW quarantine AS
SELECT * EXCLUDE (date), date FROM lake_table({quarantine_glob}, {quarantine_hidden});

CREATE OR REPLACE VIEW denied_counts AS
SELECT site, date, type, reason, sum(count)::BIGINT AS count
FROM lake_table({denied_counts_glob}, {denied_counts_hidden})
GROUP BY ALL;

CREATE OR REPLACE VIEW consent_log AS
SELECT * EXCLUDE (date), date FROM lake_table({consent_log_glob}, {consent_log_hidden});

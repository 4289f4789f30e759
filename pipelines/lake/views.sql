-- Views over the lake's Delta tables. clearcount fills in each {table} with its
-- location; delta_scan reads the table's current snapshot from its Delta log when a
-- query starts, so a query sees every commit whole or not at all.

CREATE OR REPLACE VIEW events AS SELECT * FROM delta_scan({events});

CREATE OR REPLACE VIEW quarantine AS SELECT * FROM delta_scan({quarantine});

CREATE OR REPLACE VIEW denied_counts AS
SELECT site, date, type, reason, sum(count)::BIGINT AS count
FROM delta_scan({denied_counts})
GROUP BY ALL;

CREATE OR REPLACE VIEW consent_log AS SELECT * FROM delta_scan({consent_log});

CREATE OR REPLACE VIEW sessions AS SELECT * FROM delta_scan({sessions});

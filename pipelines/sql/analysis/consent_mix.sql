-- Every event the collector accepted, by consent state: rows stored, and denied counts.
SELECT consent, count(*) AS events FROM events WHERE ($site IS NULL OR site = $site) GROUP BY consent
UNION ALL
SELECT 'denied', sum(count)::BIGINT FROM denied_counts WHERE ($site IS NULL OR site = $site)
ORDER BY events DESC

SELECT consent, count(*) AS events FROM events
WHERE site = $site AND date BETWEEN $date_from AND $date_to GROUP BY consent
UNION ALL
SELECT 'denied', coalesce(sum(count), 0)::BIGINT FROM denied_counts
WHERE site = $site AND date BETWEEN $date_from AND $date_to
ORDER BY events DESC, consent

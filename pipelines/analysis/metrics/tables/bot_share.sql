SELECT drop_reason AS reason, count(*) AS events FROM quarantine
WHERE site = $site AND date BETWEEN $date_from AND $date_to GROUP BY 1
UNION ALL
SELECT '(stored in events)', count(*) FROM events WHERE site = $site AND date BETWEEN $date_from AND $date_to
ORDER BY events DESC, reason

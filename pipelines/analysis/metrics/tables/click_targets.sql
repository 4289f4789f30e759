SELECT coalesce(name, 'click') AS name, coalesce(target.href, '') AS href, count(*) AS clicks
FROM period_events WHERE type = 'click'
GROUP BY ALL ORDER BY clicks DESC, name, href LIMIT 50

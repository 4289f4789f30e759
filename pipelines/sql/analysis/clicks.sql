SELECT coalesce(name, 'click') AS name, target.href AS href, count(*) AS clicks
FROM events WHERE type IN ('click', 'custom') AND ($site IS NULL OR site = $site)
GROUP BY ALL ORDER BY clicks DESC LIMIT $limit

SELECT coalesce(name, 'click') AS name, coalesce(target.href, '') AS href, count(*) AS clicks
FROM events WHERE site = $site AND date BETWEEN $date_from AND $date_to AND type = 'click'
GROUP BY ALL ORDER BY clicks DESC, name, href LIMIT 50

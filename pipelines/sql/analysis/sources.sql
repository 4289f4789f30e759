SELECT source, count(*) AS pageviews, count(DISTINCT visitor_key) AS visitors
FROM events WHERE type = 'pageview' AND ($site IS NULL OR site = $site)
GROUP BY source ORDER BY pageviews DESC

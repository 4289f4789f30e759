SELECT path, count(*) AS pageviews, count(DISTINCT visitor_key) AS visitors
FROM events WHERE type = 'pageview' AND ($site IS NULL OR site = $site)
GROUP BY path ORDER BY pageviews DESC, path LIMIT $limit

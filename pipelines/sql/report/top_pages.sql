SELECT path, count(*) AS pageviews, count(DISTINCT visitor_key) AS visitors
FROM views GROUP BY path ORDER BY pageviews DESC, path LIMIT 50

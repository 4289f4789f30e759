SELECT date, count(DISTINCT visitor_key) AS visitors, count(*) AS pageviews
FROM events WHERE type = 'pageview' AND ($site IS NULL OR site = $site)
GROUP BY date ORDER BY date

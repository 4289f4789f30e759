SELECT coalesce(browser, '(unknown)') AS browser, count(*) AS pageviews, count(DISTINCT visitor_key) AS visitors
FROM views GROUP BY 1 ORDER BY pageviews DESC, 1

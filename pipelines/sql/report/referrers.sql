SELECT referrer_host, count(*) AS pageviews FROM views WHERE referrer_host IS NOT NULL
GROUP BY 1 ORDER BY pageviews DESC, referrer_host LIMIT 50

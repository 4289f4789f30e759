SELECT utm_campaign, utm_source, utm_medium, count(*) AS pageviews, count(DISTINCT visitor_key) AS visitors
FROM views WHERE utm_campaign IS NOT NULL GROUP BY ALL ORDER BY pageviews DESC, utm_campaign

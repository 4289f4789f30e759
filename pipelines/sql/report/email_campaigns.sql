SELECT utm_campaign AS campaign,
       count(*) FILTER (WHERE type = 'open') AS opens,
       count(*) FILTER (WHERE type = 'click') AS clicks,
       round(100.0 * count(*) FILTER (WHERE type = 'click') / nullif(count(*) FILTER (WHERE type = 'open'), 0), 1) AS click_through_pct
FROM events
WHERE site = $site AND date BETWEEN $date_from AND $date_to AND source = 'email'
  AND utm_campaign IS NOT NULL AND type IN ('open', 'click')
GROUP BY 1 ORDER BY opens DESC, campaign

-- E-mail campaigns: opens come from the pixel, clicks from /r, visits from tagged landings.
SELECT utm_campaign AS campaign,
       count(*) FILTER (WHERE type = 'open') AS opens,
       count(*) FILTER (WHERE type = 'click' AND target.href IS NOT NULL AND source = 'email') AS clicks,
       count(*) FILTER (WHERE type = 'pageview') AS landings,
       round(100.0 * count(*) FILTER (WHERE type = 'click' AND source = 'email')
             / nullif(count(*) FILTER (WHERE type = 'open'), 0), 1) AS click_through_pct
FROM events
WHERE utm_campaign IS NOT NULL AND ($site IS NULL OR site = $site)
GROUP BY utm_campaign ORDER BY opens DESC, campaign

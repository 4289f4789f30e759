-- Clicks by name and link; a click placed on a heatmap and nothing else (no name: not a link
-- or element the beacon records) is left out, as /r's campaign clicks (no position) are not.
SELECT coalesce(name, 'click') AS name, coalesce(target.href, '') AS href, count(*) AS clicks
FROM period_events WHERE type = 'click' AND (name IS NOT NULL OR x IS NULL)
GROUP BY ALL ORDER BY clicks DESC, name, href LIMIT 50

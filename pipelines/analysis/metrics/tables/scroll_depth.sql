-- The deepest scroll of each engagement, in 25 % bands, on the five most viewed pages.
SELECT e.path, CASE WHEN e.depth < 25 THEN '0-24' WHEN e.depth < 50 THEN '25-49'
                    WHEN e.depth < 75 THEN '50-74' ELSE '75-100' END AS depth_pct,
       count(*) AS engagements
FROM period_events e
JOIN (SELECT path FROM period_events WHERE type = 'pageview' GROUP BY path ORDER BY count(*) DESC, path LIMIT 5) top USING (path)
WHERE e.type = 'engagement'
GROUP BY ALL ORDER BY e.path, depth_pct

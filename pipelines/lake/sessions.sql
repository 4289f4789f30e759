-- The sessions rollup of one site's days $date_from..$date_to, appended to the metrics'
-- visits.sql (rollups.py joins them): its relations cut the events of a day more on each
-- side ($scan_from..$scan_to) into visits exactly as every metric does, and this adds a
-- row per visit and UTC day the visit has events on, with the visit's properties and
-- what the day holds: its page views, by path and by UTC hour.
visit_paths AS (
    SELECT visitor_key, visit_no, list(DISTINCT path ORDER BY path) AS paths
    FROM numbered WHERE type = 'pageview'
    GROUP BY ALL
),
kept AS MATERIALIZED (
    SELECT * FROM numbered WHERE date BETWEEN $date_from AND $date_to
),
days AS (
    SELECT visitor_key, visit_no, date, count(*) FILTER (WHERE type = 'pageview') AS day_pageviews
    FROM kept GROUP BY ALL
),
pages AS (
    SELECT visitor_key, visit_no, date,
           list({'path': path, 'views': views} ORDER BY path) AS pages
    FROM (SELECT visitor_key, visit_no, date, path, count(*) AS views
          FROM kept WHERE type = 'pageview' GROUP BY ALL)
    GROUP BY ALL
),
hours AS (
    SELECT visitor_key, visit_no, date,
           list({'hour': hour, 'views': views} ORDER BY hour) AS hours
    FROM (SELECT visitor_key, visit_no, date,
                 hour(received_at AT TIME ZONE 'UTC')::TINYINT AS hour,
                 count(*) FILTER (WHERE type = 'pageview') AS views
          FROM kept GROUP BY ALL)
    GROUP BY ALL
)
SELECT d.visitor_key, v.date AS visit_date, v.started_at, d.day_pageviews,
       coalesce(p.pages, []) AS pages, h.hours,
       v.pageviews, v.interactions, v.duration_s, v.entry_path, v.exit_path, v.source,
       v.referrer_host, v.utm_source, v.utm_medium, v.utm_campaign, v.country, v.browser,
       v.os, v.device, coalesce(vp.paths, []) AS paths, $events_version AS events_version,
       $site AS site, d.date
-- (a pseudonym nulled by expiry is NULL: those events are one visitor's, as in visits.sql)
FROM days d
JOIN visits v
  ON v.visitor_key IS NOT DISTINCT FROM d.visitor_key AND v.visit_no = d.visit_no
LEFT JOIN visit_paths vp
  ON vp.visitor_key IS NOT DISTINCT FROM d.visitor_key AND vp.visit_no = d.visit_no
LEFT JOIN pages p
  ON p.visitor_key IS NOT DISTINCT FROM d.visitor_key AND p.visit_no = d.visit_no
 AND p.date = d.date
JOIN hours h
  ON h.visitor_key IS NOT DISTINCT FROM d.visitor_key AND h.visit_no = d.visit_no
 AND h.date = d.date
ORDER BY d.date, d.visitor_key, v.started_at

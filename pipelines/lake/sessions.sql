-- The sessions rollup of one site's days $keep_from..$keep_to, from the events of
-- $scan_from..$scan_to (a day more on each side, as the metrics' own visits.sql reads a
-- period): a row per visit and UTC day the visit has events on.
--
-- Visits are cut exactly as visits.sql cuts them (a visitor's events with no gap over
-- 30 minutes, e-mail opens aside, ordered by time and event_id), and carry the same
-- properties: entry and exit, source, referrer and UTM of the entry page view (of the
-- first event when the visit has none), country and device of the first event. Each row
-- adds what its day holds: the page views of the day, by path and by UTC hour.
WITH scoped AS (
    SELECT * FROM events
    WHERE site = $site AND date BETWEEN $scan_from AND $scan_to AND type <> 'open'
),
numbered AS MATERIALIZED (
    SELECT *, sum(starts) OVER (PARTITION BY visitor_key ORDER BY seq
                                ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS visit_no
    FROM (
        SELECT *,
               row_number() OVER w AS seq,
               CASE WHEN received_at - lag(received_at) OVER w <= INTERVAL 30 MINUTE
                    THEN 0 ELSE 1 END AS starts
        FROM scoped
        WINDOW w AS (PARTITION BY visitor_key ORDER BY received_at, event_id)
    )
),
visits AS (
    SELECT visitor_key, visit_no, min(date) AS visit_date, min(received_at) AS started_at,
           count(*) FILTER (WHERE type = 'pageview') AS pageviews,
           count(*) FILTER (WHERE type IN ('click', 'custom')) AS interactions,
           date_diff('millisecond', min(received_at), max(received_at)) / 1000.0 AS duration_s,
           arg_min(path, seq) FILTER (WHERE type = 'pageview') AS entry_path,
           arg_max(path, seq) FILTER (WHERE type = 'pageview') AS exit_path,
           CASE WHEN count(*) FILTER (WHERE type = 'pageview') > 0
                THEN arg_min(source, seq) FILTER (WHERE type = 'pageview')
                ELSE arg_min(source, seq) END AS source,
           CASE WHEN count(*) FILTER (WHERE type = 'pageview') > 0
                THEN arg_min(referrer_host, seq) FILTER (WHERE type = 'pageview')
                ELSE arg_min(referrer_host, seq) END AS referrer_host,
           CASE WHEN count(*) FILTER (WHERE type = 'pageview') > 0
                THEN arg_min(utm_source, seq) FILTER (WHERE type = 'pageview')
                ELSE arg_min(utm_source, seq) END AS utm_source,
           CASE WHEN count(*) FILTER (WHERE type = 'pageview') > 0
                THEN arg_min(utm_medium, seq) FILTER (WHERE type = 'pageview')
                ELSE arg_min(utm_medium, seq) END AS utm_medium,
           CASE WHEN count(*) FILTER (WHERE type = 'pageview') > 0
                THEN arg_min(utm_campaign, seq) FILTER (WHERE type = 'pageview')
                ELSE arg_min(utm_campaign, seq) END AS utm_campaign,
           arg_min(country, seq) AS country,
           arg_min(browser, seq) AS browser,
           arg_min(os, seq) AS os,
           arg_min(device, seq) AS device,
           list(DISTINCT path ORDER BY path) FILTER (WHERE type = 'pageview') AS paths
    FROM numbered
    GROUP BY visitor_key, visit_no
),
kept AS MATERIALIZED (
    SELECT * FROM numbered WHERE date BETWEEN $keep_from AND $keep_to
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
SELECT d.visitor_key, v.visit_date, v.started_at, d.day_pageviews,
       coalesce(p.pages, []) AS pages, h.hours,
       v.pageviews, v.interactions, v.duration_s, v.entry_path, v.exit_path, v.source,
       v.referrer_host, v.utm_source, v.utm_medium, v.utm_campaign, v.country, v.browser,
       v.os, v.device, coalesce(v.paths, []) AS paths, $events_version AS events_version,
       $site AS site, d.date
-- (a pseudonym nulled by expiry is NULL: those events are one visitor's, as in visits.sql)
FROM days d
JOIN visits v
  ON v.visitor_key IS NOT DISTINCT FROM d.visitor_key AND v.visit_no = d.visit_no
LEFT JOIN pages p
  ON p.visitor_key IS NOT DISTINCT FROM d.visitor_key AND p.visit_no = d.visit_no
 AND p.date = d.date
JOIN hours h
  ON h.visitor_key IS NOT DISTINCT FROM d.visitor_key AND h.visit_no = d.visit_no
 AND h.date = d.date
ORDER BY d.date, d.visitor_key, v.started_at

-- Page views of one site and date range, cut into visits: a visitor's visit ends after
-- 30 minutes without a page view. $filters adds "AND <column> = ?" clauses whose columns
-- come from an allow-list; every value is a bound parameter.
WITH views AS (
    SELECT visitor_key, received_at, date, path, source, referrer_host, country, browser, os,
           device, utm_source, utm_medium, utm_campaign
    FROM events
    WHERE site = $site AND date BETWEEN $date_from AND $date_to AND type = 'pageview'
      $filters
),
marked AS (
    SELECT *,
           CASE WHEN lag(received_at) OVER w IS NULL
                  OR received_at - lag(received_at) OVER w > INTERVAL 30 MINUTE
                THEN 1 ELSE 0 END AS starts_visit
    FROM views
    WINDOW w AS (PARTITION BY visitor_key ORDER BY received_at)
),
numbered AS (
    SELECT *, sum(starts_visit) OVER (PARTITION BY visitor_key ORDER BY received_at) AS visit_no
    FROM marked
),
visits AS (
    SELECT visitor_key, visit_no, min(date) AS date, count(*) AS pageviews,
           epoch(max(received_at) - min(received_at)) AS duration_s,
           arg_min(path, received_at) AS entry_path
    FROM numbered
    GROUP BY visitor_key, visit_no
)

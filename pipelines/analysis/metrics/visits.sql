-- The relations every metric reads. Parameters: $site, $date_from, $date_to, and
-- $scan_from, $scan_to (the day before and the day after the period).
--
-- scoped: the site's events from the day before the period to the day after it, so that
--   a visit that began the day before and runs past midnight does not start a second time
--   on the first day, and a visit that starts on the last day is followed past midnight;
--   e-mail opens are left out (a mail client fetching a pixel is not a visit to the site).
-- visits: a visitor's events with no gap over 30 minutes, each visit counted on the day
--   it starts and attributed to its entry (first page view; first event when it has none).
--   Events of the same instant (a beacon's batch) are ordered by event_id, so that every
--   surface and every run picks the same entry and exit. The entry's value is taken as it
--   is, empty included (arg_min_null: arg_min would skip to a later event's value).
-- period_events, period_visits: what falls in the period itself.
WITH scoped AS (
    SELECT * FROM events
    WHERE site = $site AND date BETWEEN $scan_from AND $scan_to AND type <> 'open'
),
numbered AS (
    -- seq: the event's place in its visitor's history, the order every entry and exit
    -- follows (an integer: cheaper to compare than the time and id it stands for)
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
    SELECT visitor_key, visit_no, min(date) AS date, min(received_at) AS started_at,
           count(*) FILTER (WHERE type = 'pageview') AS pageviews,
           count(*) FILTER (WHERE type IN ('click', 'custom')) AS interactions,
           date_diff('millisecond', min(received_at), max(received_at)) / 1000.0 AS duration_s,
           arg_min_null(path, seq) FILTER (WHERE type = 'pageview') AS entry_path,
           arg_max_null(path, seq) FILTER (WHERE type = 'pageview') AS exit_path,
           CASE WHEN count(*) FILTER (WHERE type = 'pageview') > 0
                THEN arg_min_null(source, seq) FILTER (WHERE type = 'pageview')
                ELSE arg_min_null(source, seq) END AS source,
           CASE WHEN count(*) FILTER (WHERE type = 'pageview') > 0
                THEN arg_min_null(referrer_host, seq) FILTER (WHERE type = 'pageview')
                ELSE arg_min_null(referrer_host, seq) END AS referrer_host,
           CASE WHEN count(*) FILTER (WHERE type = 'pageview') > 0
                THEN arg_min_null(utm_source, seq) FILTER (WHERE type = 'pageview')
                ELSE arg_min_null(utm_source, seq) END AS utm_source,
           CASE WHEN count(*) FILTER (WHERE type = 'pageview') > 0
                THEN arg_min_null(utm_medium, seq) FILTER (WHERE type = 'pageview')
                ELSE arg_min_null(utm_medium, seq) END AS utm_medium,
           CASE WHEN count(*) FILTER (WHERE type = 'pageview') > 0
                THEN arg_min_null(utm_campaign, seq) FILTER (WHERE type = 'pageview')
                ELSE arg_min_null(utm_campaign, seq) END AS utm_campaign,
           arg_min_null(country, seq) AS country,
           arg_min_null(browser, seq) AS browser,
           arg_min_null(os, seq) AS os,
           arg_min_null(device, seq) AS device
    FROM numbered
    GROUP BY visitor_key, visit_no
),
period_events AS (
    SELECT * FROM scoped WHERE date BETWEEN $date_from AND $date_to
),
period_visits AS (
    SELECT * FROM visits WHERE date BETWEEN $date_from AND $date_to
)

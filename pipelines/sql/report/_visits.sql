-- Page views of the site in the range, cut into visits (30 minutes without a page view
-- ends one). Every report query starts from these two relations.
WITH views AS (
    SELECT * FROM events
    WHERE site = $site AND date BETWEEN $date_from AND $date_to AND type = 'pageview'
),
numbered AS (
    SELECT *, sum(starts) OVER (PARTITION BY visitor_key ORDER BY received_at) AS visit_no
    FROM (
        SELECT *, CASE WHEN received_at - lag(received_at) OVER (PARTITION BY visitor_key ORDER BY received_at)
                          <= INTERVAL 30 MINUTE THEN 0 ELSE 1 END AS starts
        FROM views
    )
),
visits AS (
    SELECT visitor_key, visit_no, min(date) AS date, count(*) AS pageviews,
           date_diff('millisecond', min(received_at), max(received_at)) / 1000.0 AS duration_s,
           arg_min(path, received_at) AS entry_path, arg_max(path, received_at) AS exit_path,
           arg_min(source, received_at) AS source
    FROM numbered GROUP BY visitor_key, visit_no
)

-- Visitors who viewed $first and then, later on the same day, $second.
WITH first_step AS (
    SELECT visitor_key, date, min(received_at) AS at FROM events
    WHERE type = 'pageview' AND path = $first AND ($site IS NULL OR site = $site)
    GROUP BY ALL
)
SELECT count(DISTINCT f.visitor_key) AS step_one,
       count(DISTINCT e.visitor_key) AS step_two
FROM first_step f
LEFT JOIN events e
  ON e.visitor_key = f.visitor_key AND e.date = f.date AND e.type = 'pageview'
 AND e.path = $second AND e.received_at > f.at

SELECT count(DISTINCT visitor_key) AS visitors, count(*) AS visits, sum(pageviews)::BIGINT AS pageviews,
       round(100.0 * count(*) FILTER (WHERE pageviews = 1) / nullif(count(*), 0), 1) AS bounce_rate_pct,
       round(avg(duration_s), 1) AS visit_duration_s
FROM visits

SELECT date, count(DISTINCT visitor_key) AS visitors, count(*) AS visits, sum(pageviews)::BIGINT AS pageviews
FROM visits GROUP BY date ORDER BY date

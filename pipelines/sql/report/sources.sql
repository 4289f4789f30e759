SELECT source, count(*) AS visits, count(DISTINCT visitor_key) AS visitors
FROM visits GROUP BY source ORDER BY visits DESC, source

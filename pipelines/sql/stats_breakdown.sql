-- $property is a column name from the allow-list in pipelines/stats.py.
SELECT $property AS value, count(DISTINCT visitor_key) AS visitors, count(*) AS pageviews
FROM views
GROUP BY 1
ORDER BY visitors DESC, pageviews DESC, value

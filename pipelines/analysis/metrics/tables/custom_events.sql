SELECT name, count(*) AS events, count(DISTINCT visitor_key) AS visitors
FROM period_events WHERE type = 'custom'
GROUP BY name ORDER BY events DESC, name

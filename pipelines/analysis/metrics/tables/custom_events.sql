SELECT name, count(*) AS events, count(DISTINCT visitor_key) AS visitors
FROM events WHERE site = $site AND date BETWEEN $date_from AND $date_to AND type = 'custom'
GROUP BY name ORDER BY events DESC, name

-- What each consent state actually stored: the share of rows with each pseudonymous field.
SELECT consent, count(*) AS rows,
       round(100.0 * count(visitor_key) / count(*), 1) AS pct_visitor_key,
       round(100.0 * count(user_key) / count(*), 1) AS pct_user_key,
       round(100.0 * count(ip_prefix) / count(*), 1) AS pct_ip_prefix,
       round(100.0 * count(country) / count(*), 1) AS pct_country
FROM events WHERE ($site IS NULL OR site = $site)
GROUP BY consent ORDER BY consent

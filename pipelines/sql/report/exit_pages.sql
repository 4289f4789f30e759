SELECT exit_path AS path, count(*) AS visits FROM visits GROUP BY 1 ORDER BY visits DESC, path LIMIT 50

SELECT drop_reason, count(*) AS events FROM quarantine WHERE ($site IS NULL OR site = $site)
GROUP BY drop_reason ORDER BY events DESC

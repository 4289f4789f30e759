SELECT reason, sum(count)::BIGINT AS events FROM denied_counts WHERE ($site IS NULL OR site = $site)
GROUP BY reason ORDER BY events DESC

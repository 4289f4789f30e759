-- The deepest scroll of each engagement event, in 10 % buckets, per page.
SELECT path, least(depth // 10 * 10, 90) AS depth_bucket, count(*) AS engagements
FROM events WHERE type = 'engagement' AND depth IS NOT NULL AND ($site IS NULL OR site = $site)
GROUP BY ALL ORDER BY path, depth_bucket

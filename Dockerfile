# clearcount collector: gunicorn + loader, embedded storage on the /data volume.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    CLEARCOUNT_DATA_DIR=/data \
    CLEARCOUNT_SITES=/data/sites.toml \
    CLEARCOUNT_BIND=0.0.0.0:8000

# A home of its own: DuckDB finds the Delta and S3 readers clearcount links under ~/.duckdb.
RUN useradd --system --uid 10001 --create-home --home-dir /home/clearcount --shell /usr/sbin/nologin clearcount \
    && mkdir -p /app /data && chown clearcount:clearcount /data

WORKDIR /app
COPY pyproject.toml README.md ./
COPY service ./service
COPY pipelines ./pipelines
RUN pip install --no-cache-dir . && rm -rf /root/.cache

USER clearcount
VOLUME ["/data"]
EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
    CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status == 200 else 1)"

# Behind a load balancer, set CLEARCOUNT_TRUSTED_PROXIES to the number of proxy hops.
CMD ["clearcount", "serve"]

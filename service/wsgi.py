"""The WSGI entry point gunicorn loads in each worker."""

import threading

from service import logs
from service.app import create_app
from service.ingest.useragent import warm_up, warmed_up
from service.settings import Settings

_settings = Settings.from_env()
logs.configure(_settings.log_level)
app = create_app(_settings)
# device-detector reads its rule files on first use, which would make a worker's first
# Android request wait seconds. clearcount's gunicorn configuration reads them in the
# master, once, before it forks the workers. Under any other master, a background thread
# reads them while the worker starts serving: readiness is not held up, and a request
# that needs a rule file first reads it itself, as it would without the warm-up. The
# reading costs 1 to 2 s of CPU (more on a busy machine), which short-lived collectors
# (the test suite's) spare themselves with CLEARCOUNT_WARM_UP=0.
if _settings.warm_up and not warmed_up():
    threading.Thread(target=warm_up, name="clearcount-warm-up", daemon=True).start()

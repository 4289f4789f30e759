"""The WSGI entry point gunicorn loads in each worker."""

from service import logs
from service.app import create_app
from service.ingest.useragent import warm_up
from service.settings import Settings

_settings = Settings.from_env()
logs.configure(_settings.log_level)
app = create_app(_settings)
# Before the worker serves: device-detector's rule files, read on first use, would
# otherwise make the first requests wait seconds.
warm_up()

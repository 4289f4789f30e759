"""The WSGI entry point gunicorn loads in each worker."""

from service import logs
from service.app import create_app
from service.settings import Settings

_settings = Settings.from_env()
logs.configure(_settings.log_level)
app = create_app(_settings)

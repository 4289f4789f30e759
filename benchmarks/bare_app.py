"""The baseline: a bare Flask endpoint answering 204, under the collector's gunicorn settings."""

from flask import Flask

app = Flask(__name__)


@app.post("/api/event")
def event() -> tuple[str, int]:
    return "", 204

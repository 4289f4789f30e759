"""Read the YAML data files the collector classifies with, with libyaml's loader when present.

referer-parser's and device-detector's data are YAML; PyYAML's C loader reads
them several times faster than its pure-Python one, and both are safe loaders.
"""

from __future__ import annotations

from typing import Any

import yaml

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(text: str) -> Any:
    return yaml.load(text, Loader=_LOADER)  # noqa: S506 (a safe loader, C or Python)

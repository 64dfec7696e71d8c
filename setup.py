"""Build hook for the raw engine's optional C accelerator; everything else is in pyproject.toml.

A plain install is pure Python. ``WS_CHANNEL_SPEEDUPS=1 pip install ...`` also compiles
``ws_channel_backends/raw/engine/_speedups.c`` (it needs a C compiler and the Python headers); the
engine uses it when it is there, unless ``WS_CHANNEL_PURE_PYTHON=1`` is set when it is imported.
"""

import os

from setuptools import Extension, setup

SPEEDUPS = Extension(
    "ws_channel_backends.raw.engine._speedups",
    sources=["ws_channel_backends/raw/engine/_speedups.c"],
    optional=os.environ.get("WS_CHANNEL_SPEEDUPS") != "require",
)

setup(ext_modules=[SPEEDUPS] if os.environ.get("WS_CHANNEL_SPEEDUPS") in ("1", "require") else [])

"""The ws-channel conformance suite: one set of cases, run against any backend by name.

Run it with ``pytest --pyargs conformance.cases --ws-backend NAME`` (or ``pytest --pyargs conformance``),
``python -m conformance --backend NAME`` or ``ws-channel conformance --backend NAME``. The suite depends
only on ``ws_channel_core``; it never imports or names a backend. Importing this package is cheap: the
pytest plugin (:mod:`conformance.plugin`) loads in every pytest run.
"""

from __future__ import annotations

__all__: list[str] = []

"""How webhook deliveries are served: on libuv's event loop."""

from __future__ import annotations

from pathlib import Path

import pytest


def test_the_app_serves_on_libuvs_event_loop(app):
    maps = Path(f"/proc/{app.proc.pid}/maps")
    if not maps.exists():
        pytest.skip("needs Linux's /proc")
    # uvloop's extension is loaded only when the loop runs on it (app.py).
    assert "uvloop/loop." in maps.read_text()

"""Default time limits for a test directory (pytest-timeout), so that a hung test fails
after a while instead of blocking the run; a test's own timeout marker wins."""
from __future__ import annotations

from typing import Callable

import pytest


def default_timeouts(config: pytest.Config, items: list[pytest.Item], directory: str,
                     seconds: Callable[[pytest.Item], float]) -> None:
    """Give every test under tests/<directory> without a timeout marker seconds(item)."""
    here = str(config.rootpath / "tests" / directory)
    for item in items:
        if str(item.path).startswith(here) and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(seconds(item)))

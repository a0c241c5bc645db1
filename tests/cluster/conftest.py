"""Fixtures of the cluster tests: one running cluster profile for the module
(tests/cluster/profile.py)."""
from __future__ import annotations

from typing import Iterator

import pytest

from tests.cluster.profile import START_TIMEOUT_S, Cluster, running_cluster
from tests.support.timeouts import default_timeouts


def pytest_configure(config: pytest.Config) -> None:
    config.option.asyncio_mode = "auto"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    default_timeouts(config, items, "cluster", lambda item: START_TIMEOUT_S + 300)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Iterator[Cluster]:
    with running_cluster(tmp_path_factory.mktemp("cluster")) as running:
        yield running

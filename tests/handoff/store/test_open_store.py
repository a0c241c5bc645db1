"""open_store picks the store from the configured URL and never guesses."""
from __future__ import annotations

import pytest

from handoff.store import open_store
from handoff.store.memory import EmbeddedStore


@pytest.mark.parametrize("url", [None, "", "memory://"])
def test_no_url_or_memory_gives_the_embedded_store(url):
    assert isinstance(open_store(url), EmbeddedStore)


@pytest.mark.parametrize("url", ["postgres://localhost/db", "redis:/typo", "memory", "localhost:6379"])
def test_unknown_schemes_are_refused(url):
    with pytest.raises(ValueError):
        open_store(url)

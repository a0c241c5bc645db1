"""Article suggestions for the widget (GET /api/kb/search), from the bot's knowledge base.

The knowledge base is the bot's own (bot/knowledge.py, pure Python + PyYAML), imported
from the project root, loaded on first use (no I/O at import) and reloaded when its
files change, so the designers' edits show up without a restart.
"""
from __future__ import annotations

import asyncio
import logging
import os
import sys
from pathlib import Path
from typing import Any

from .errors import Unavailable

log = logging.getLogger(__name__)
PROJECT_ROOT = Path(__file__).resolve().parents[1]


class Suggestions:
    """Searches the knowledge base in kb_path."""

    def __init__(self, kb_path: str):
        path = Path(kb_path)
        self.path = path if path.is_absolute() else PROJECT_ROOT / path
        self._kb: Any = None
        self._stamp: float | None = None
        self._lock = asyncio.Lock()

    def _mtime(self) -> float:
        try:
            return max((p.stat().st_mtime for p in self.path.glob("*.yml")), default=0.0)
        except OSError:
            return 0.0

    def _load(self) -> Any:
        if str(PROJECT_ROOT) not in sys.path:
            sys.path.insert(0, str(PROJECT_ROOT))
        from bot.knowledge import load_knowledge_base
        return load_knowledge_base(self.path)

    async def _base(self) -> Any:
        async with self._lock:
            stamp = await asyncio.to_thread(self._mtime)
            if self._kb is None or stamp != self._stamp:
                try:
                    self._kb = await asyncio.to_thread(self._load)
                    self._stamp = stamp
                    log.info("knowledge base loaded from %s", self.path)
                except (OSError, ValueError, ImportError) as exc:
                    log.warning("knowledge base not loadable from %s: %s", self.path, exc)
                    if self._kb is None:
                        raise Unavailable("article suggestions are not available") from exc
            return self._kb

    async def search(self, text: str, limit: int) -> list[dict[str, Any]]:
        kb = await self._base()
        results = []
        for article in kb.search(text, limit=limit):
            item = {"id": article.id, "title": article.title, "snippet": article.snippet}
            if getattr(article, "url", None):
                item["url"] = article.url
            results.append(item)
        return results

    def ready(self) -> bool:
        return os.path.isdir(self.path)

"""Masking of personal data (emails, phone numbers, card numbers) in what agents see.

Agents need the conversation, not the visitor's card number: with HANDOFF_MASK_PII on,
the packet, transcripts and visitor messages shown to agents go through `mask`.
"""
from __future__ import annotations

import re
from typing import Any

_EMAIL = re.compile(r"\b([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,})\b")
# 13-19 digits, optionally grouped by spaces or dashes (card numbers)
_CARD = re.compile(r"(?<![\d])(?:\d[ -]?){12,18}\d(?![\d])")
# phone numbers: optional +country, 7-15 digits with separators
_PHONE = re.compile(r"(?<![\w+])(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,4}\)[ .-]?)?\d{2,4}(?:[ .-]?\d{2,4}){2,4}(?![\w])")


_DATE = re.compile(r"\d{4}[-./]\d{1,2}[-./]\d{1,2}|\d{1,2}[-./]\d{1,2}[-./]\d{4}")


def _mask_card(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group(0))
    # every 13-19 digit run is masked, valid card (Luhn) or a mistyped one
    if 13 <= len(digits) <= 19:
        return "**** **** **** " + digits[-4:]
    return match.group(0)


def _mask_phone(match: re.Match[str]) -> str:
    text = match.group(0)
    digits = re.sub(r"\D", "", text)
    if len(digits) < 7 or len(digits) > 15:
        return text
    if _DATE.fullmatch(text.strip()):  # 2024-01-05, 05.01.2024 are dates, not phones
        return text
    return "***-***-" + digits[-2:]


def mask_text(text: str) -> str:
    """The text with emails, card numbers and phone numbers masked."""
    if not text:
        return text
    text = _EMAIL.sub(lambda m: f"{m.group(1)}***@{m.group(2)}", text)
    text = _CARD.sub(_mask_card, text)
    text = _PHONE.sub(_mask_phone, text)
    return text


def mask(value: Any) -> Any:
    """Mask every string inside value (dicts and lists are walked; other values kept)."""
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, dict):
        return {k: mask(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [mask(v) for v in value]
    return value

"""The product's rule for public messages, checked like a Block Kit limit: no email address
in a channel message (a person's email may appear only in ephemeral replies, direct
messages and the Sync Log). Slack would accept such a message; the emulator records it as
a violation so the test that caused it fails."""

from __future__ import annotations

import json
import re

EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")


def is_public(channel: str) -> bool:
    """Channels and private channels are seen by many; a DM (D…) only by its person."""
    return not channel.startswith("D")


def email_violations(channel: str, text: str | None, blocks: list | None) -> list[str]:
    if not is_public(channel):
        return []
    problems = []
    for where, content in (("text", text or ""), ("blocks", json.dumps(blocks or []))):
        for found in sorted(set(EMAIL.findall(content))):
            problems.append(f"{where}: email address {found!r} in a public message in {channel}")
    return problems

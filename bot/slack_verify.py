"""Checks a request to /slack/events before Bolt parses it.

Bolt decodes and parses the body before it checks the signature, so junk (a body that is
not UTF-8, `payload=%FF`, a timestamp like `²`) made it answer 500 to anyone. Here the
signature is checked on the raw bytes first: anything not signed by Slack is 401, and a
signed body Bolt could not parse is 400.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from urllib.parse import parse_qsl

# Unix seconds have 10 digits until 2286; a few more leave room without letting a
# 5,000-digit "timestamp" reach int().
TIMESTAMP_DIGITS_MAX = 12
MAX_AGE = 5 * 60  # seconds, as Slack recommends


def fresh_timestamp(timestamp: str) -> bool:
    """ASCII digits only (`isdigit()` alone accepts `²`), short, and recent."""
    if not (0 < len(timestamp) <= TIMESTAMP_DIGITS_MAX and timestamp.isascii()):
        return False
    return timestamp.isdigit() and abs(time.time() - int(timestamp)) <= MAX_AGE


def signed_by_slack(secret: str, body: bytes, timestamp: str, signature: str) -> bool:
    if not fresh_timestamp(timestamp):
        return False
    base = b"v0:" + timestamp.encode() + b":" + body
    expected = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace"))


def parseable(body: bytes, content_type: str | None = None) -> bool:
    """Whether Bolt can read this body: UTF-8, and a JSON object (read as JSON when Bolt
    would: by its content type or its first character) or a form whose `payload` is one.
    Bolt reads further into what it parsed as if it were an object, an event's too."""
    try:
        text = body.decode("utf-8")
        if content_type == "application/json" or text.startswith("{"):
            return _an_object(json.loads(text))
        form = dict(parse_qsl(text, keep_blank_values=True, errors="strict"))
        if "payload" in form:
            return _an_object(json.loads(form["payload"]))
    # UnicodeDecodeError and JSONDecodeError are ValueErrors; RecursionError is JSON nested
    # past the parser's limit.
    except (ValueError, RecursionError):
        return False
    return True


def _an_object(parsed: object) -> bool:
    return isinstance(parsed, dict) and isinstance(parsed.get("event", {}), dict)

"""Ids of the required-field inputs in the /jira settings modal. A block id carries the
issue type it was built for, so a value typed for one issue type is never read for another."""

from __future__ import annotations

REQUIRED_BLOCK_PREFIX = "required:"
REQUIRED_INPUT = "required_value"


def required_block(issue_type_id: str, field_id: str) -> str:
    return f"{REQUIRED_BLOCK_PREFIX}{issue_type_id}:{field_id}"


def parse_required_block(block_id: str) -> tuple[str, str] | None:
    """(issue type id, field id) of a required-field block, None for any other block."""
    if not block_id.startswith(REQUIRED_BLOCK_PREFIX):
        return None
    type_id, _, field_id = block_id[len(REQUIRED_BLOCK_PREFIX) :].partition(":")
    return (type_id, field_id) if field_id else None

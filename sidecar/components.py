"""Dapr resource YAML (`kind: Component`), read the way daprd reads `--resources-path`.

Only what the dev sidecar needs: name, type, version, plain metadata values, and
`secretKeyRef`s resolved through a `secretstores.local.env` or `secretstores.local.file` store.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import yaml


@dataclass(frozen=True)
class Component:
    name: str
    type: str  # e.g. "state.postgresql", "pubsub.kafka"
    version: str = "v1"
    metadata: dict[str, str] = field(default_factory=dict)
    scopes: tuple[str, ...] = ()

    @property
    def kind(self) -> str:
        """The building block: "state", "pubsub", "secretstores", ..."""
        return self.type.split(".", 1)[0]

    def flag(self, key: str, default: bool = False) -> bool:
        value = self.metadata.get(key)
        return default if value is None else value.strip().lower() in {"true", "1", "yes"}


class ComponentError(ValueError):
    """A component file the sidecar cannot use."""


def load_components(resources_path: Path, app_id: str) -> list[Component]:
    """Every Component under `resources_path` scoped to `app_id`, with secrets resolved."""
    docs: list[dict] = []
    for path in sorted(Path(resources_path).glob("*.y*ml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if isinstance(doc, dict) and doc.get("kind") == "Component":
                docs.append(doc)
    stores = {
        d["metadata"]["name"]: d for d in docs if d["spec"]["type"].startswith("secretstores.")
    }
    components = []
    for doc in docs:
        spec = doc["spec"]
        scopes = tuple(doc.get("scopes") or ())
        if scopes and app_id not in scopes:
            continue
        auth_store = (doc.get("auth") or {}).get("secretStore")
        metadata: dict[str, str] = {}
        for item in spec.get("metadata") or []:
            if "secretKeyRef" in item:
                ref = item["secretKeyRef"]
                metadata[item["name"]] = _secret(stores, auth_store, ref["name"], ref.get("key"))
            elif "envRef" in item:
                metadata[item["name"]] = os.environ.get(item["envRef"], "")
            else:
                metadata[item["name"]] = str(item.get("value", ""))
        components.append(
            Component(
                name=doc["metadata"]["name"],
                type=spec["type"],
                version=str(spec.get("version", "v1")),
                metadata=metadata,
                scopes=scopes,
            )
        )
    return components


def _secret(stores: dict[str, dict], store_name: str | None, name: str, key: str | None) -> str:
    if store_name is None:
        raise ComponentError(f"secretKeyRef {name!r} needs auth.secretStore")
    store = stores.get(store_name)
    if store is None:
        raise ComponentError(f"secret store {store_name!r} is not defined")
    kind = store["spec"]["type"]
    if kind == "secretstores.local.env":
        value = os.environ.get(name)
        if value is None:
            raise ComponentError(f"secret {name!r}: environment variable is not set")
        return value
    if kind == "secretstores.local.file":
        meta = {m["name"]: m.get("value") for m in store["spec"].get("metadata") or []}
        secrets = json.loads(Path(meta["secretsFile"]).read_text())
        value = secrets.get(name)
        if isinstance(value, dict):
            value = value.get(key or name)
        if value is None:
            raise ComponentError(f"secret {name!r} is not in {meta['secretsFile']}")
        return str(value)
    raise ComponentError(f"secret store type {kind!r} is not supported by the dev sidecar")

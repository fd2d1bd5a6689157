"""The actor configuration the app declares at `GET /dapr/config`.

Drain settings are not read: on a single host actors are only deactivated when idle, so
there is never an ongoing call to drain.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sidecar.durations import parse_duration

# daprd's defaults when the app leaves a field out
DEFAULT_IDLE_TIMEOUT = timedelta(minutes=60)
DEFAULT_SCAN_INTERVAL = timedelta(seconds=30)
DEFAULT_MAX_STACK_DEPTH = 32


@dataclass(frozen=True)
class TypeConfig:
    idle_timeout: timedelta = DEFAULT_IDLE_TIMEOUT
    reentrancy: bool = False
    max_stack_depth: int = DEFAULT_MAX_STACK_DEPTH


@dataclass(frozen=True)
class ActorConfig:
    entities: frozenset[str] = frozenset()
    scan_interval: timedelta = DEFAULT_SCAN_INTERVAL
    default: TypeConfig = TypeConfig()
    per_type: dict[str, TypeConfig] = field(default_factory=dict)

    def for_type(self, actor_type: str) -> TypeConfig:
        return self.per_type.get(actor_type, self.default)

    @classmethod
    def from_app(cls, doc: dict[str, Any]) -> ActorConfig:
        default = _type_config(doc, TypeConfig())
        per_type = {}
        entities = set(doc.get("entities") or ())
        for entry in doc.get("entitiesConfig") or ():
            config = _type_config(entry, default)
            for name in entry.get("entities") or ():
                per_type[name] = config
                entities.add(name)
        return cls(
            entities=frozenset(entities),
            scan_interval=_duration(doc.get("actorScanInterval"), DEFAULT_SCAN_INTERVAL),
            default=default,
            per_type=per_type,
        )


def _type_config(doc: dict[str, Any], base: TypeConfig) -> TypeConfig:
    reentrancy = doc.get("reentrancy") or {}
    return TypeConfig(
        idle_timeout=_duration(doc.get("actorIdleTimeout"), base.idle_timeout),
        reentrancy=bool(reentrancy.get("enabled", base.reentrancy)),
        max_stack_depth=int(reentrancy.get("maxStackDepth") or base.max_stack_depth),
    )


def _duration(value: str | None, default: timedelta) -> timedelta:
    return parse_duration(value) if value else default

"""Tickler's Prometheus metrics, in one registry of their own (not prometheus_client's
global one, so a test can read exactly these).

Labels stay bounded: route templates, never paths; kinds, outcomes and consumer names,
never user or task ids. The gauges for the outbox and the consumers' lag are set by
telemetry.sampler from the same queries as the operators' health panel, so the two show
the same numbers.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

# seconds; an API request is milliseconds, a saga tens to hundreds of them
_FAST = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_SAGA = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)

HTTP_REQUESTS = Counter(
    "tickler_http_requests",
    "HTTP requests answered, by route template, method and status code",
    ["route", "method", "status"],
    registry=REGISTRY,
)
HTTP_DURATION = Histogram(
    "tickler_http_request_duration_seconds",
    "Time to answer an HTTP request, by route template and method",
    ["route", "method"],
    buckets=_FAST,
    registry=REGISTRY,
)
SAGAS_STARTED = Counter(
    "tickler_sagas_started",
    "Completion sagas scheduled, by kind (complete or skip)",
    ["kind"],
    registry=REGISTRY,
)
SAGAS_FINISHED = Counter(
    "tickler_sagas_finished",
    "Completion sagas ended, by kind and outcome (completed, failed, terminated)",
    ["kind", "outcome"],
    registry=REGISTRY,
)
SAGA_DURATION = Histogram(
    "tickler_saga_duration_seconds",
    "From a saga's start to its end, by kind and outcome",
    ["kind", "outcome"],
    buckets=_SAGA,
    registry=REGISTRY,
)
OUTBOX_BACKLOG = Gauge(
    "tickler_outbox_backlog",
    "Events recorded and not yet published",
    registry=REGISTRY,
)
OUTBOX_OLDEST_AGE = Gauge(
    "tickler_outbox_oldest_age_seconds",
    "Age of the oldest unpublished event (0 when there is none)",
    registry=REGISTRY,
)
CONSUMER_LAG = Gauge(
    "tickler_consumer_lag_events",
    "Events published in the last hour that reach a consumer and it has not handled",
    ["consumer"],
    registry=REGISTRY,
)
CONSUMER_OLDEST_AGE = Gauge(
    "tickler_consumer_lag_oldest_age_seconds",
    "Since the oldest event a consumer has not handled was published (0 when none)",
    ["consumer"],
    registry=REGISTRY,
)
EVENTS_CONSUMED = Counter(
    "tickler_events_consumed",
    "Events delivered to a consumer, by consumer and outcome: handled, or retry (Dapr "
    "redelivers it); entries that are none of our events count as consumer none, drop",
    ["consumer", "outcome"],
    registry=REGISTRY,
)
DEAD_LETTERS_KEPT = Counter(
    "tickler_dead_letters",
    "Dead letters kept (a second delivery of one adds to its attempts, not here)",
    ["topic"],
    registry=REGISTRY,
)
REMINDER_LATENESS = Histogram(
    "tickler_reminder_lateness_seconds",
    "From a reminder's fire time to its reminder.due being recorded",
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0),
    registry=REGISTRY,
)
ACTOR_CALLS = Counter(
    "tickler_actor_calls",
    "Calls the app makes to its actors, by actor type, method and outcome (ok or error)",
    ["actor", "method", "outcome"],
    registry=REGISTRY,
)
ACTOR_DURATION = Histogram(
    "tickler_actor_call_duration_seconds",
    "Round trip of an actor call through the sidecar, by actor type and method",
    ["actor", "method"],
    buckets=_FAST,
    registry=REGISTRY,
)
MCP_TOOL_CALLS = Counter(
    "tickler_mcp_tool_calls",
    "MCP tool calls, by tool (unknown for a name that is none of ours) and outcome "
    "(ok, error: a tool error the agent sees, or unexpected)",
    ["tool", "outcome"],
    registry=REGISTRY,
)

"""Dapr workflows for the dev sidecar: the durabletask `TaskHubSidecarService`, on PostgreSQL."""

from .engine import WorkflowEngine

__all__ = ["WorkflowEngine"]

"""Requests the workflow engine refuses, with the gRPC status the client sees."""

from __future__ import annotations

import grpc


class WorkflowError(Exception):
    def __init__(self, code: grpc.StatusCode, message: str):
        super().__init__(message)
        self.code = code


def not_found(instance_id: str) -> WorkflowError:
    # The SDK's DaprWorkflowClient.get_workflow_state recognises this wording.
    return WorkflowError(grpc.StatusCode.NOT_FOUND, f"no such instance exists: '{instance_id}'")


def history_not_found(instance_id: str) -> WorkflowError:
    # daprd's actors backend words GetInstanceHistory's miss differently from other RPCs
    # (pkg/runtime/wfengine/backends/actors/actors.go, GetInstanceHistory).
    return WorkflowError(grpc.StatusCode.NOT_FOUND, f"workflow instance '{instance_id}' not found")


def already_exists(message: str) -> WorkflowError:
    return WorkflowError(grpc.StatusCode.ALREADY_EXISTS, message)

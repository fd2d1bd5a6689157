"""The actor part of the Dapr HTTP API, `/v1.0/actors/{type}/{id}/...`."""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Any

import asyncpg
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sidecar.actors.channel import ActorChannel, AppCallFailed, AppUnreachable
from sidecar.actors.placement import ReentrancyLimitError
from sidecar.actors.reminders import Reminder
from sidecar.actors.state import StateRequestError, parse_transaction
from sidecar.actors.timers import TimerSpec
from sidecar.durations import ScheduleError
from sidecar.http_api import dapr_error

if TYPE_CHECKING:
    from sidecar.actors import ActorService

BASE = "/v1.0/actors/{actor_type}/{actor_id}"
_FORWARDED = ("content-type", "traceparent", "tracestate")


def actor_routes(service: ActorService, app: ActorChannel) -> list[Route]:
    def not_ready() -> Response | None:
        if service.ready:
            return None
        return dapr_error(500, "ERR_ACTOR_RUNTIME_NOT_FOUND", "the actor runtime is not ready")

    async def invoke(request: Request) -> Response:
        if (refused := not_ready()) is not None:
            return refused
        actor_type = request.path_params["actor_type"]
        actor_id = request.path_params["actor_id"]
        path = f"/actors/{actor_type}/{actor_id}/method/{request.path_params['method']}"
        body = await request.body()
        headers = {h: v for h in _FORWARDED if (v := request.headers.get(h)) is not None}
        reentrancy_id = None
        if service.table.config.for_type(actor_type).reentrancy:
            reentrancy_id = request.headers.get("dapr-reentrancy-id") or str(uuid.uuid4())
            headers["Dapr-Reentrancy-Id"] = reentrancy_id
        try:
            reply = await service.table.turn(
                actor_type, actor_id, lambda: app.call("PUT", path, body, headers), reentrancy_id
            )
        except ReentrancyLimitError as exc:
            return dapr_error(500, "ERR_ACTOR_INVOKE_METHOD", str(exc))
        except (AppUnreachable, AppCallFailed) as exc:
            return dapr_error(500, "ERR_ACTOR_INVOKE_METHOD", f"app call failed: {exc}")
        if reply.status >= 300:
            # daprd does not pass the app's error through: it answers 500 with its own
            # error, wrapping the app's status and body (DAPR-CONTRACT.md, "Actor invoke
            # errors"; pkg/actors/targets/app, pkg/messages)
            text = reply.body.decode(errors="replace")
            message = f"error from actor service: ({reply.status}) {text}"
            return dapr_error(500, "ERR_ACTOR_INVOKE_METHOD", message)
        return Response(reply.body, status_code=reply.status, media_type=reply.content_type)

    async def save_state(request: Request) -> Response:
        try:
            operations = parse_transaction(await request.body())
        except StateRequestError as exc:
            return dapr_error(400, "ERR_MALFORMED_REQUEST", str(exc))
        try:
            await service.state.apply(
                request.path_params["actor_type"], request.path_params["actor_id"], operations
            )
        except asyncpg.PostgresError as exc:  # rolled back: nothing of the transaction stays
            return dapr_error(500, "ERR_ACTOR_STATE_TRANSACTION_SAVE", str(exc))
        return Response(status_code=204)

    async def get_state(request: Request) -> Response:
        value = await service.state.get(
            request.path_params["actor_type"],
            request.path_params["actor_id"],
            request.path_params["key"],
        )
        if value is None:
            return Response(status_code=204)
        return Response(value, media_type="application/json")

    async def put_reminder(request: Request) -> Response:
        if (refused := not_ready()) is not None:
            return refused
        try:
            reminder = Reminder.register(*_ids(request), await _json(request))
        except (ValueError, ScheduleError) as exc:
            return dapr_error(400, "ERR_MALFORMED_REQUEST", str(exc))
        await service.reminders.register(reminder)
        return Response(status_code=204)

    async def get_reminder(request: Request) -> Response:
        reminder = service.reminders.get(_ids(request))
        if reminder is None:
            return dapr_error(404, "ERR_ACTOR_REMINDER_NOT_FOUND", "reminder not found")
        return JSONResponse(reminder.as_doc())

    async def delete_reminder(request: Request) -> Response:
        await service.reminders.unregister(_ids(request))
        return Response(status_code=204)

    async def put_timer(request: Request) -> Response:
        if (refused := not_ready()) is not None:
            return refused
        actor_type, actor_id, name = _ids(request)
        try:
            spec = TimerSpec.parse(await _json(request))
        except (ValueError, ScheduleError) as exc:
            return dapr_error(400, "ERR_MALFORMED_REQUEST", str(exc))
        service.timers.register(actor_type, actor_id, name, spec)
        return Response(status_code=204)

    async def delete_timer(request: Request) -> Response:
        service.timers.unregister(*_ids(request))
        return Response(status_code=204)

    return [
        Route(BASE + "/method/{method:path}", invoke, methods=["POST", "PUT", "GET", "DELETE"]),
        Route(BASE + "/state", save_state, methods=["PUT", "POST"]),
        Route(BASE + "/state/{key:path}", get_state, methods=["GET"]),
        Route(BASE + "/reminders/{name}", put_reminder, methods=["PUT", "POST"]),
        Route(BASE + "/reminders/{name}", get_reminder, methods=["GET"]),
        Route(BASE + "/reminders/{name}", delete_reminder, methods=["DELETE"]),
        Route(BASE + "/timers/{name}", put_timer, methods=["PUT", "POST"]),
        Route(BASE + "/timers/{name}", delete_timer, methods=["DELETE"]),
    ]


def _ids(request: Request) -> tuple[str, str, str]:
    params = request.path_params
    return params["actor_type"], params["actor_id"], params["name"]


async def _json(request: Request) -> dict[str, Any]:
    body = await request.body()
    doc = json.loads(body) if body else {}
    if not isinstance(doc, dict):
        raise ValueError("the request body must be a JSON object")
    return doc

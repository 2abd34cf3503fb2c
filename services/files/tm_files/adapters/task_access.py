"""The tasks service's answer to "what may user U do with task T" (tasks.v1.TaskAccessService):
the files service keeps no copy of the sharing rules."""

from __future__ import annotations

import grpc

from taskmanager.tasks.v1 import tasks_pb2, tasks_pb2_grpc
from tm_common.clients import service_channel
from tm_common.errors import NotFound, Unavailable
from tm_files.domain.files import TaskAccess


class TaskAccessClient:
    """The TaskAccessChecker of service/unit_of_work.py, over gRPC."""

    def __init__(self, tasks_address: str, timeout: float = 3.0) -> None:
        self._address = tasks_address
        self._timeout = timeout
        self._stub: tasks_pb2_grpc.TaskAccessServiceAsyncStub | None = None

    def _service(self) -> tasks_pb2_grpc.TaskAccessServiceAsyncStub:
        if self._stub is None:  # made on first use, in the loop that serves requests
            self._stub = tasks_pb2_grpc.TaskAccessServiceStub(service_channel(self._address))
        return self._stub

    async def check(self, task_id: int, user_id: int) -> TaskAccess:
        """What the user holds on the task; NotFound when the task does not exist or the user
        cannot see it (they must not learn which)."""
        try:
            reply = await self._service().CheckAccess(
                tasks_pb2.CheckAccessRequest(task_id=task_id, user_id=user_id), timeout=self._timeout
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                raise NotFound(f"task {task_id} not found") from None
            raise Unavailable("the tasks service is unavailable") from exc
        if reply.permission not in ("owner", "edit", "view"):
            raise NotFound(f"task {task_id} not found")
        return TaskAccess(
            reply.permission, reply.owner_user_id, list(reply.audience_user_ids), reply.task_title
        )

"""gRPC servicers of sharing and of the internal access check: translate only."""

from __future__ import annotations

import grpc
from google.protobuf import empty_pb2

from taskmanager.tasks.v1 import tasks_pb2, tasks_pb2_grpc
from tm_common.context import current_principal
from tm_common.convert import optional
from tm_common.http import created, no_content
from tm_common.users import UserDirectory
from tm_tasks.adapters.messages import share_message, task_message
from tm_tasks.domain.sharing import NAMES
from tm_tasks.service import sharing
from tm_tasks.service.tasks import TasksDeps

SERVICE_NAMES = [
    tasks_pb2.DESCRIPTOR.services_by_name["SharingService"].full_name,
    tasks_pb2.DESCRIPTOR.services_by_name["TaskAccessService"].full_name,
]


class SharingServicer(tasks_pb2_grpc.SharingServiceServicer):
    def __init__(self, deps: TasksDeps, users: UserDirectory) -> None:
        self.deps = deps
        self.users = users

    async def ShareTask(
        self, request: tasks_pb2.ShareTaskRequest, context: grpc.aio.ServicerContext
    ) -> tasks_pb2.Share:
        permission = optional(request, "permission")
        share = await sharing.share_task(
            self.deps,
            self.users,
            current_principal().user_id,
            request.task_id,
            request.shared_with_username,
            permission,
        )
        created()
        return share_message(share)

    async def ListSharedWithMe(
        self, request: tasks_pb2.ListSharedWithMeRequest, context: grpc.aio.ServicerContext
    ) -> tasks_pb2.ListSharedWithMeResponse:
        user_id = current_principal().user_id
        scope = ("ListSharedWithMe", user_id)
        found, last_id = await sharing.shared_with_me(
            self.deps, user_id, request.page_size, self.deps.tokens.after_id(scope, request.page_token)
        )
        messages = []
        for task, permission in found:
            message = task_message(task)
            message.permission = NAMES[permission]
            messages.append(message)
        return tasks_pb2.ListSharedWithMeResponse(
            tasks=messages, next_page_token=self.deps.tokens.id_token(scope, last_id)
        )

    async def UpdateSharePermission(
        self, request: tasks_pb2.UpdateSharePermissionRequest, context: grpc.aio.ServicerContext
    ) -> tasks_pb2.Share:
        share = await sharing.change_permission(
            self.deps, current_principal().user_id, request.task_id, request.username, request.permission
        )
        return share_message(share)

    async def UnshareTask(
        self, request: tasks_pb2.UnshareTaskRequest, context: grpc.aio.ServicerContext
    ) -> empty_pb2.Empty:
        await sharing.unshare_task(self.deps, current_principal().user_id, request.task_id, request.username)
        no_content()
        return empty_pb2.Empty()


class TaskAccessServicer(tasks_pb2_grpc.TaskAccessServiceServicer):
    def __init__(self, deps: TasksDeps) -> None:
        self.deps = deps

    async def CheckAccess(
        self, request: tasks_pb2.CheckAccessRequest, context: grpc.aio.ServicerContext
    ) -> tasks_pb2.CheckAccessResponse:
        access = await sharing.check_access(self.deps, request.task_id, request.user_id)
        return tasks_pb2.CheckAccessResponse(
            permission=NAMES[access.permission] if access.permission else "none",
            owner_user_id=access.owner_user_id,
            audience_user_ids=access.audience,
            task_title=access.task_title,
        )

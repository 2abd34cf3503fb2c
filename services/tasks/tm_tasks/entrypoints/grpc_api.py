"""gRPC servicer of the tasks service: translate requests to use cases and results to replies."""

from __future__ import annotations

from typing import Any

import grpc
from google.protobuf import empty_pb2, json_format
from google.protobuf.json_format import MessageToDict

from taskmanager.tasks.v1 import tasks_pb2, tasks_pb2_grpc
from tm_common.context import current_principal
from tm_common.convert import optional
from tm_common.errors import InvalidArgument
from tm_common.http import created, no_content
from tm_tasks.adapters.messages import task_message, task_with_comments_message
from tm_tasks.domain.listing import list_query
from tm_tasks.domain.tasks import new_task
from tm_tasks.service import tasks
from tm_tasks.service.tasks import TasksDeps

SERVICE_NAMES = [tasks_pb2.DESCRIPTOR.services_by_name["TasksService"].full_name]


def _patch(patch: tasks_pb2.TaskPatch) -> dict[str, Any]:
    """The fields present in a patch, as JSON values (None for JSON null)."""
    try:
        return MessageToDict(patch, preserving_proto_field_name=True)
    except json_format.Error as exc:  # NaN or Infinity, which JSON cannot carry
        raise InvalidArgument("the patch holds a value that is not valid JSON", {"patch": str(exc)}) from exc


class TasksServicer(tasks_pb2_grpc.TasksServiceServicer):
    def __init__(self, deps: TasksDeps) -> None:
        self.deps = deps

    async def CreateTask(
        self, request: tasks_pb2.CreateTaskRequest, context: grpc.aio.ServicerContext
    ) -> tasks_pb2.Task:
        new = new_task(
            title=request.title,
            description=optional(request, "description"),
            priority=optional(request, "priority"),
            due_date=optional(request, "due_date"),
            tags=list(request.tags),
            completed=optional(request, "completed"),
        )
        task = await tasks.create_task(self.deps, current_principal().user_id, new)
        created()
        return task_message(task)

    async def GetTask(
        self, request: tasks_pb2.GetTaskRequest, context: grpc.aio.ServicerContext
    ) -> tasks_pb2.TaskWithComments:
        found = await tasks.get_task(self.deps, current_principal().user_id, request.id)
        return task_with_comments_message(found.task, found.comments)

    async def UpdateTask(
        self, request: tasks_pb2.UpdateTaskRequest, context: grpc.aio.ServicerContext
    ) -> tasks_pb2.Task:
        task = await tasks.update_task(
            self.deps, current_principal().user_id, request.id, _patch(request.patch)
        )
        return task_message(task)

    async def DeleteTask(
        self, request: tasks_pb2.DeleteTaskRequest, context: grpc.aio.ServicerContext
    ) -> empty_pb2.Empty:
        await tasks.delete_task(self.deps, current_principal().user_id, request.id)
        no_content()
        return empty_pb2.Empty()

    async def AddTaskTags(
        self, request: tasks_pb2.AddTaskTagsRequest, context: grpc.aio.ServicerContext
    ) -> tasks_pb2.Task:
        task = await tasks.add_tags(self.deps, current_principal().user_id, request.id, list(request.tags))
        return task_message(task)

    async def RemoveTaskTag(
        self, request: tasks_pb2.RemoveTaskTagRequest, context: grpc.aio.ServicerContext
    ) -> tasks_pb2.Task:
        task = await tasks.remove_tag(self.deps, current_principal().user_id, request.id, request.tag)
        return task_message(task)

    async def BulkUpdateTasks(
        self, request: tasks_pb2.BulkUpdateTasksRequest, context: grpc.aio.ServicerContext
    ) -> tasks_pb2.BulkUpdateTasksResponse:
        user_id = current_principal().user_id
        updated = await tasks.bulk_update(self.deps, user_id, list(request.task_ids), _patch(request.updates))
        return tasks_pb2.BulkUpdateTasksResponse(tasks=[task_message(t) for t in updated])

    async def GetTaskStats(
        self, request: tasks_pb2.GetTaskStatsRequest, context: grpc.aio.ServicerContext
    ) -> tasks_pb2.GetTaskStatsResponse:
        stats = await tasks.task_stats(self.deps, current_principal().user_id)
        return tasks_pb2.GetTaskStatsResponse(
            total=stats.total,
            completed=stats.completed,
            incomplete=stats.incomplete,
            by_priority=tasks_pb2.PriorityCounts(**stats.by_priority),
            by_tag=stats.by_tag,
            overdue=stats.overdue,
            completion_rate=stats.completion_rate,
        )

    async def ListTasks(
        self, request: tasks_pb2.ListTasksRequest, context: grpc.aio.ServicerContext
    ) -> tasks_pb2.ListTasksResponse:
        query = list_query(
            tags=list(request.tags),
            **{
                name: optional(request, name)
                for name in (
                    "completed",
                    "priority",
                    "overdue",
                    "search",
                    "created_after",
                    "created_before",
                    "due_after",
                    "due_before",
                    "sort_by",
                    "sort_order",
                    "skip",
                    "limit",
                )
            },
        )
        found = await tasks.list_tasks(self.deps, current_principal().user_id, query, request.page_token)
        return tasks_pb2.ListTasksResponse(
            tasks=[task_message(t) for t in found.tasks],
            total=found.total,
            page=found.page,
            pages=found.pages,
            next_page_token=found.next_page_token,
        )

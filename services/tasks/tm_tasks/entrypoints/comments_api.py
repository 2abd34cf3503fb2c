"""gRPC servicer of comments: translate only."""

from __future__ import annotations

import grpc
from google.protobuf import empty_pb2

from taskmanager.tasks.v1 import tasks_pb2, tasks_pb2_grpc
from tm_common.context import current_principal
from tm_common.http import created, no_content
from tm_tasks.adapters.messages import comment_message
from tm_tasks.service import comments
from tm_tasks.service.tasks import TasksDeps

SERVICE_NAMES = [tasks_pb2.DESCRIPTOR.services_by_name["CommentsService"].full_name]


class CommentsServicer(tasks_pb2_grpc.CommentsServiceServicer):
    def __init__(self, deps: TasksDeps) -> None:
        self.deps = deps

    async def CreateComment(
        self, request: tasks_pb2.CreateCommentRequest, context: grpc.aio.ServicerContext
    ) -> tasks_pb2.Comment:
        comment = await comments.add_comment(
            self.deps, current_principal().user_id, request.task_id, request.content
        )
        created()
        return comment_message(comment)

    async def ListComments(
        self, request: tasks_pb2.ListCommentsRequest, context: grpc.aio.ServicerContext
    ) -> tasks_pb2.ListCommentsResponse:
        user_id = current_principal().user_id
        scope = ("ListComments", user_id, request.task_id)
        found, last_id = await comments.list_comments(
            self.deps,
            user_id,
            request.task_id,
            request.page_size,
            self.deps.tokens.after_id(scope, request.page_token),
        )
        return tasks_pb2.ListCommentsResponse(
            comments=[comment_message(c) for c in found],
            next_page_token=self.deps.tokens.id_token(scope, last_id),
        )

    async def UpdateComment(
        self, request: tasks_pb2.UpdateCommentRequest, context: grpc.aio.ServicerContext
    ) -> tasks_pb2.Comment:
        comment = await comments.edit_comment(
            self.deps, current_principal().user_id, request.task_id, request.comment_id, request.content
        )
        return comment_message(comment)

    async def DeleteComment(
        self, request: tasks_pb2.DeleteCommentRequest, context: grpc.aio.ServicerContext
    ) -> empty_pb2.Empty:
        await comments.delete_comment(
            self.deps, current_principal().user_id, request.task_id, request.comment_id
        )
        no_content()
        return empty_pb2.Empty()

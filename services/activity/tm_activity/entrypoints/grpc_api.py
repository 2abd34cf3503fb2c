"""gRPC servicer of the activity log: translate only."""

from __future__ import annotations

import grpc
from google.protobuf.struct_pb2 import Struct

from taskmanager.activity.v1 import activity_pb2, activity_pb2_grpc
from tm_activity.domain.entries import Entry
from tm_activity.domain.queries import history_query
from tm_activity.service import activity
from tm_activity.service.activity import ActivityDeps
from tm_common.context import current_principal
from tm_common.convert import optional, timestamp

SERVICE_NAMES = [activity_pb2.DESCRIPTOR.services_by_name["ActivityService"].full_name]


def entry_message(entry: Entry) -> activity_pb2.ActivityEntry:
    message = activity_pb2.ActivityEntry(
        id=entry.id,
        user_id=entry.user_id,
        action=entry.action,
        resource_type=entry.resource_type,
        resource_id=entry.resource_id,
        created_at=timestamp(entry.created_at),
    )
    if entry.username is not None:
        message.username = entry.username
    if entry.details is not None:
        details = Struct()
        details.update(entry.details)
        message.details.CopyFrom(details)
    return message


class ActivityServicer(activity_pb2_grpc.ActivityServiceServicer):
    def __init__(self, deps: ActivityDeps) -> None:
        self.deps = deps

    async def ListActivity(
        self, request: activity_pb2.ListActivityRequest, context: grpc.aio.ServicerContext
    ) -> activity_pb2.ListActivityResponse:
        query = history_query(
            resource_type=optional(request, "resource_type"),
            action=optional(request, "action"),
            start_date=optional(request, "start_date"),
            end_date=optional(request, "end_date"),
            limit=optional(request, "limit"),
            offset=optional(request, "offset"),
        )
        page = await activity.my_history(self.deps, current_principal().user_id, query, request.page_token)
        page.freshness.report()
        return activity_pb2.ListActivityResponse(
            entries=[entry_message(e) for e in page.entries], next_page_token=page.next_page_token
        )

    async def GetTaskTimeline(
        self, request: activity_pb2.GetTaskTimelineRequest, context: grpc.aio.ServicerContext
    ) -> activity_pb2.GetTaskTimelineResponse:
        page = await activity.task_timeline(
            self.deps, current_principal().user_id, request.task_id, request.page_size, request.page_token
        )
        page.freshness.report()
        return activity_pb2.GetTaskTimelineResponse(
            entries=[entry_message(e) for e in page.entries], next_page_token=page.next_page_token
        )

    async def GetActivityStats(
        self, request: activity_pb2.GetActivityStatsRequest, context: grpc.aio.ServicerContext
    ) -> activity_pb2.GetActivityStatsResponse:
        stats = await activity.my_stats(self.deps, current_principal().user_id)
        stats.freshness.report()
        return activity_pb2.GetActivityStatsResponse(
            total_activities=stats.total, by_action=stats.by_action, by_resource=stats.by_resource
        )

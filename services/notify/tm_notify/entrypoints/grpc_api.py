"""gRPC servicer of notification preferences and address verification: translate only."""

from __future__ import annotations

import grpc

from taskmanager.notify.v1 import notify_pb2, notify_pb2_grpc
from tm_common.context import current_principal
from tm_common.convert import optional, timestamp
from tm_notify.domain.preferences import SWITCHES, Preferences
from tm_notify.service import preferences, verification
from tm_notify.service.deps import NotifyDeps

SERVICE_NAMES = [notify_pb2.DESCRIPTOR.services_by_name["NotifyService"].full_name]


def preferences_message(prefs: Preferences) -> notify_pb2.Preferences:
    message = notify_pb2.Preferences(
        user_id=prefs.user_id,
        email_verified=prefs.email_verified,
        **{name: getattr(prefs, name) for name in SWITCHES},
    )
    if prefs.updated_at is not None:
        message.updated_at.CopyFrom(timestamp(prefs.updated_at))
    return message


class NotifyServicer(notify_pb2_grpc.NotifyServiceServicer):
    def __init__(self, deps: NotifyDeps) -> None:
        self.deps = deps

    async def GetPreferences(
        self, request: notify_pb2.GetPreferencesRequest, context: grpc.aio.ServicerContext
    ) -> notify_pb2.Preferences:
        return preferences_message(await preferences.my_preferences(self.deps, current_principal().user_id))

    async def UpdatePreferences(
        self, request: notify_pb2.UpdatePreferencesRequest, context: grpc.aio.ServicerContext
    ) -> notify_pb2.Preferences:
        requested = {name: optional(request, name) for name in SWITCHES}
        changed = await preferences.change_preferences(self.deps, current_principal().user_id, requested)
        return preferences_message(changed)

    async def Subscribe(
        self, request: notify_pb2.SubscribeRequest, context: grpc.aio.ServicerContext
    ) -> notify_pb2.SubscribeResponse:
        outcome = await verification.subscribe(self.deps, current_principal().user_id)
        return notify_pb2.SubscribeResponse(message=outcome.message, email=outcome.email)

    async def VerifyEmail(
        self, request: notify_pb2.VerifyEmailRequest, context: grpc.aio.ServicerContext
    ) -> notify_pb2.VerifyEmailResponse:
        outcome = await verification.verify(self.deps, current_principal().user_id, request.code)
        return notify_pb2.VerifyEmailResponse(message=outcome.message, email=outcome.email)

"""gRPC servicer of files: translate only."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
from google.api import httpbody_pb2
from google.protobuf import empty_pb2

from taskmanager.files.v1 import files_pb2, files_pb2_grpc
from tm_common.context import current_principal
from tm_common.convert import optional, timestamp
from tm_common.errors import InvalidArgument
from tm_common.http import created, no_content, set_response_header
from tm_files.adapters import uploads
from tm_files.adapters.messages import file_message
from tm_files.domain.content import content_disposition
from tm_files.domain.files import Incoming
from tm_files.service import files
from tm_files.service.files import FilesDeps

SERVICE_NAMES = [files_pb2.DESCRIPTOR.services_by_name["FilesService"].full_name]
MAX_CHUNK = 1024 * 1024
# A multipart body carries a little more than its file: allow for the envelope before parsing.
MULTIPART_ALLOWANCE = 64 * 1024


class FilesServicer(files_pb2_grpc.FilesServiceServicer):
    def __init__(self, deps: FilesDeps) -> None:
        self.deps = deps

    async def CreateFile(
        self, request: files_pb2.CreateFileRequest, context: grpc.aio.ServicerContext
    ) -> files_pb2.File:
        body = request.content
        if len(body.data) > self.deps.limits.max_bytes + MULTIPART_ALLOWANCE:
            raise InvalidArgument.for_field(
                "file", f"is larger than the limit of {self.deps.limits.max_bytes} bytes"
            )
        filename = optional(request, "filename")

        async def receive() -> Incoming:
            return uploads.from_body(body.data, body.content_type, filename)

        meta = await files.upload(
            self.deps, current_principal().user_id, request.task_id, filename, None, receive
        )
        created()
        return file_message(meta)

    async def UploadFile(
        self, request_iterator: AsyncIterator[files_pb2.UploadFileRequest], context: grpc.aio.ServicerContext
    ) -> files_pb2.UploadFileResponse:
        first = await anext(aiter(request_iterator), None)
        if first is None or first.WhichOneof("data") != "metadata":
            raise InvalidArgument.for_field("metadata", "the first message must carry the file's metadata")
        metadata = first.metadata
        declared = optional(metadata, "file_size")
        kind = optional(metadata, "content_type")

        async def chunks() -> AsyncIterator[bytes]:
            async for message in request_iterator:
                if message.WhichOneof("data") != "chunk":
                    raise InvalidArgument.for_field("chunk", "every message after the first carries a chunk")
                if len(message.chunk) > MAX_CHUNK:
                    raise InvalidArgument.for_field("chunk", f"must be at most {MAX_CHUNK} bytes")
                yield message.chunk

        async def receive() -> Incoming:
            source, size = await uploads.from_chunks(chunks(), self.deps.limits.max_bytes)
            return Incoming(source, size, uploads.head_of(source), metadata.filename, kind)

        meta = await files.upload(
            self.deps, current_principal().user_id, metadata.task_id, metadata.filename, declared, receive
        )
        return files_pb2.UploadFileResponse(file=file_message(meta))

    async def ListFiles(
        self, request: files_pb2.ListFilesRequest, context: grpc.aio.ServicerContext
    ) -> files_pb2.ListFilesResponse:
        user_id = current_principal().user_id
        scope = ("ListFiles", user_id, request.task_id)
        found, last_id = await files.list_files(
            self.deps,
            user_id,
            request.task_id,
            request.page_size,
            self.deps.tokens.after_id(scope, request.page_token),
        )
        return files_pb2.ListFilesResponse(
            files=[file_message(f) for f in found], next_page_token=self.deps.tokens.id_token(scope, last_id)
        )

    async def GetFileContent(
        self, request: files_pb2.GetFileContentRequest, context: grpc.aio.ServicerContext
    ) -> httpbody_pb2.HttpBody:
        meta, content = await files.file_for_download(self.deps, current_principal().user_id, request.id)
        data = b"".join([chunk async for chunk in content])  # an HttpBody is one message
        set_response_header("content-disposition", content_disposition(meta.original_filename))
        set_response_header("x-content-type-options", "nosniff")
        return httpbody_pb2.HttpBody(content_type=meta.content_type, data=data)

    async def DownloadFile(
        self, request: files_pb2.DownloadFileRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[files_pb2.DownloadFileResponse]:
        meta, content = await files.file_for_download(self.deps, current_principal().user_id, request.id)
        yield files_pb2.DownloadFileResponse(metadata=file_message(meta))
        async for chunk in content:
            yield files_pb2.DownloadFileResponse(chunk=chunk)

    async def DeleteFile(
        self, request: files_pb2.DeleteFileRequest, context: grpc.aio.ServicerContext
    ) -> empty_pb2.Empty:
        await files.delete_file(self.deps, current_principal().user_id, request.id)
        no_content()
        return empty_pb2.Empty()

    async def CreateUploadUrl(
        self, request: files_pb2.CreateUploadUrlRequest, context: grpc.aio.ServicerContext
    ) -> files_pb2.CreateUploadUrlResponse:
        kind = optional(request, "content_type")
        made = await files.create_upload_url(
            self.deps, current_principal().user_id, request.task_id, request.filename, kind, request.file_size
        )
        return files_pb2.CreateUploadUrlResponse(
            upload_id=made.upload_id,
            url=made.url,
            method="PUT",
            headers=made.headers,
            expires_at=timestamp(made.expires_at),
        )

    async def ConfirmUpload(
        self, request: files_pb2.ConfirmUploadRequest, context: grpc.aio.ServicerContext
    ) -> files_pb2.File:
        meta = await files.confirm_upload(self.deps, current_principal().user_id, request.upload_id)
        created()
        return file_message(meta)

    async def CreateDownloadUrl(
        self, request: files_pb2.CreateDownloadUrlRequest, context: grpc.aio.ServicerContext
    ) -> files_pb2.CreateDownloadUrlResponse:
        url, expires_at = await files.create_download_url(self.deps, current_principal().user_id, request.id)
        return files_pb2.CreateDownloadUrlResponse(url=url, expires_at=timestamp(expires_at))

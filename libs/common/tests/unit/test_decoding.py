from __future__ import annotations

import pytest
from google.protobuf import struct_pb2

from taskmanager.auth.v1 import auth_pb2
from taskmanager.files.v1 import files_pb2
from taskmanager.tasks.v1 import tasks_pb2
from tm_common import decoding
from tm_common.errors import InvalidArgument


def _broken(message: object, good: bytes, bad: bytes) -> bytes:
    data = message.SerializeToString()  # type: ignore[attr-defined]
    assert good in data
    return data.replace(good, bad)


def test_a_valid_request_decodes_as_usual() -> None:
    deserialize = decoding.tolerant(auth_pb2.LoginRequest.FromString)
    assert deserialize is not None
    request = decoding.check(deserialize(auth_pb2.LoginRequest(username="ann").SerializeToString()))
    assert request.username == "ann"


@pytest.mark.parametrize(
    "message, field",
    [
        (auth_pb2.LoginRequest(username="ok", password="QQ"), "password"),
        (
            files_pb2.UploadFileRequest(metadata=files_pb2.UploadFileMetadata(task_id=7, filename="QQ")),
            "metadata.filename",
        ),
        (tasks_pb2.ListTasksRequest(tags=["a", "QQ"]), "tags"),
        (tasks_pb2.TaskPatch(title=struct_pb2.Value(string_value="QQ")), "title"),
    ],
)
def test_bad_utf8_is_an_invalid_argument_naming_the_field(message: object, field: str) -> None:
    data = _broken(message, b"QQ", b"\xff\xff")
    deserialize = decoding.tolerant(type(message).FromString)  # type: ignore[attr-defined]
    assert deserialize is not None
    with pytest.raises(InvalidArgument) as error:
        decoding.check(deserialize(data))
    assert error.value.fields == {field: "is not valid UTF-8 text"}


def test_a_lone_surrogate_encoded_in_utf8_is_refused_too() -> None:
    data = _broken(auth_pb2.LoginRequest(username="QQQ"), b"QQQ", b"\xed\xa0\x80")
    assert decoding.bad_utf8_field(auth_pb2.LoginRequest.DESCRIPTOR, data) == "username"


@pytest.mark.parametrize("data", [b"\x0a\x7fabc", b"\x0a", b"\xff" * 12, b"\x0b\x01"])
def test_garbage_is_an_invalid_argument_without_internals(data: bytes) -> None:
    deserialize = decoding.tolerant(auth_pb2.LoginRequest.FromString)
    assert deserialize is not None
    with pytest.raises(InvalidArgument) as error:
        decoding.check(deserialize(data))
    assert "LoginRequest" not in error.value.message
    assert "Decode" not in error.value.message


async def test_a_stream_raises_at_the_first_bad_message() -> None:
    deserialize = decoding.tolerant(auth_pb2.LoginRequest.FromString)
    assert deserialize is not None
    good = deserialize(auth_pb2.LoginRequest(username="a").SerializeToString())
    bad = deserialize(b"\x0a\x01\xff")

    async def messages():  # type: ignore[no-untyped-def]
        yield good
        yield bad

    seen = []
    with pytest.raises(InvalidArgument):
        async for message in decoding.checked_stream(messages()):
            seen.append(message)
    assert seen == [good]

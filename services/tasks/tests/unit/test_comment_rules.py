from datetime import UTC, datetime

import pytest

from tm_common.errors import InvalidArgument, NotFound, PermissionDenied
from tm_tasks.domain import comments
from tm_tasks.domain.access import Permission
from tm_tasks.domain.comments import Comment

COMMENT = Comment(id=5, task_id=3, user_id=10, content="hi", created_at=datetime.now(UTC), updated_at=None)


@pytest.mark.parametrize("text", ["", "   ", "x" * 1001])
def test_content_must_be_1_to_1000_characters(text) -> None:
    with pytest.raises(InvalidArgument) as error:
        comments.content(text)
    assert set(error.value.fields) == {"content"}


def test_content_is_kept_as_written() -> None:
    assert comments.content(" hi ") == " hi "
    assert comments.content("x" * 1000) == "x" * 1000


def test_only_the_author_edits() -> None:
    comments.may_edit(COMMENT, 10)
    with pytest.raises(PermissionDenied):
        comments.may_edit(COMMENT, 11)


@pytest.mark.parametrize("user, held", [(10, Permission.VIEW), (11, Permission.OWNER)])
def test_the_author_or_the_owner_deletes(user, held) -> None:
    comments.may_delete(COMMENT, user, held)


@pytest.mark.parametrize("held", [Permission.VIEW, Permission.EDIT])
def test_others_may_not_delete(held) -> None:
    with pytest.raises(PermissionDenied):
        comments.may_delete(COMMENT, 11, held)


def test_a_comment_belongs_to_its_task_or_to_the_alias() -> None:
    assert comments.belongs(COMMENT, 3, 5) is COMMENT
    assert comments.belongs(COMMENT, 0, 5) is COMMENT  # /comments/{id}
    for found, task_id in ((COMMENT, 4), (None, 3)):
        with pytest.raises(NotFound):
            comments.belongs(found, task_id, 5)

import pytest

from tm_common.errors import InvalidArgument
from tm_tasks.domain.access import Permission
from tm_tasks.domain.sharing import check_not_self, grantable


def test_view_is_the_default_grant() -> None:
    assert grantable(None) is Permission.VIEW


@pytest.mark.parametrize("word, expected", [("view", Permission.VIEW), ("edit", Permission.EDIT)])
def test_view_and_edit_can_be_granted(word, expected) -> None:
    assert grantable(word) is expected


@pytest.mark.parametrize("word", ["owner", "admin", "", "VIEW"])
def test_nothing_else_can_be_granted(word) -> None:
    with pytest.raises(InvalidArgument) as error:
        grantable(word)
    assert set(error.value.fields) == {"permission"}


def test_sharing_with_yourself_is_refused() -> None:
    with pytest.raises(InvalidArgument) as error:
        check_not_self(4, 4)
    assert set(error.value.fields) == {"shared_with_username"}
    check_not_self(4, 5)

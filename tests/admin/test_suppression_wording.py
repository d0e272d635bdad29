"""The suppression list counts numbers and offers to add "a number", in English and Vietnamese."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import translation

from django_esms_voice import services
from tests.admin.helpers import OTHER, PHONE, login, staff
from tests.admin.test_suppressions import ALL, LIST

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.admin.urls")]


def words(html: bytes) -> str:
    """The page's words, tags left out."""
    return " ".join(re.sub(r"<[^>]+>", " ", html.decode()).split())


@pytest.mark.parametrize(
    ("language", "count", "add"),
    [("en", "2 numbers on the list", "Add a number"), ("vi", "2 số trong danh sách", "Thêm số")],
)
def test_the_list_counts_numbers_not_lists(language: str, count: str, add: str) -> None:
    services.import_suppressions([PHONE, OTHER], reason="opted_out", source="test")
    client: Client = login(staff("manager", *ALL))
    with translation.override(language):
        text = words(client.get(reverse(LIST), HTTP_ACCEPT_LANGUAGE=language).content)
    assert count in text
    assert add in text
    assert "2 suppression list" not in text
    assert "Thêm vào số không gọi" not in text

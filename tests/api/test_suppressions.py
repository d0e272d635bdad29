"""The suppression list's endpoints: list with filters, add one or many, remove; permissions."""

from __future__ import annotations

import pytest

from django_esms_voice import services
from django_esms_voice.models import Suppression
from tests.api.helpers import OTHER, PHONE, THIRD, client_for, make_user

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.api.urls")]

URL = "/api/esms-voice/suppressions/"
ALL = ("view_suppression", "add_suppression", "delete_suppression")


def test_the_list_is_paginated_and_filtered_by_reason_and_number_in_any_spelling() -> None:
    services.suppress(PHONE, reason="complained", source="ticket 3")
    services.suppress(OTHER, reason="national_dnc")
    api = client_for(make_user("reader", "view_suppression"))
    answer = api.get(URL)
    assert answer.status_code == 200
    assert {row["phone"] for row in answer.json()["results"]} == {PHONE, OTHER}
    assert "next" in answer.json()
    rows = api.get(URL, {"reason": "national_dnc"}).json()["results"]
    assert [row["phone"] for row in rows] == [OTHER]
    rows = api.get(URL, {"phone": "+84 90 188 8484"}).json()["results"]
    assert rows == [
        {
            "phone": PHONE,
            "reason": "complained",
            "source": "ticket 3",
            "added_by": None,
            "created_at": rows[0]["created_at"],
        }
    ]
    assert api.get(URL, {"phone": "12345"}).status_code == 400
    assert api.get(URL, {"reason": "bored"}).status_code == 400


def test_adding_one_number_normalises_it_and_records_who() -> None:
    api = client_for(make_user("adder", "add_suppression"))
    answer = api.post(URL, {"phone": "+84 90 188 8484", "reason": "opted_out"}, format="json")
    assert answer.status_code == 201
    assert answer.json()["phone"] == PHONE
    assert answer.json()["added_by"] == "adder"
    again = api.post(URL, {"phone": "0901888484", "reason": "other"}, format="json")
    assert again.status_code == 200
    assert again.json()["reason"] == "opted_out"  # listed already: left as it was
    bad = api.post(URL, {"phone": "12345"}, format="json")
    assert bad.status_code == 400
    assert "phone" in bad.json()
    assert api.post(URL, {"phone": PHONE, "reason": "bored"}, format="json").status_code == 400
    assert Suppression.objects.count() == 1


def test_adding_many_numbers_is_all_or_none_with_an_error_per_row() -> None:
    services.suppress(THIRD)
    api = client_for(make_user("adder", "add_suppression"))
    bad = api.post(
        URL, {"numbers": [PHONE, "12345", "+84901888484", None], "reason": "other"}, format="json"
    )
    assert bad.status_code == 400
    assert set(bad.json()["numbers"]) == {"3"}  # null: refused by the field first
    bad = api.post(URL, {"numbers": [PHONE, "12345", "+84901888484"]}, format="json")
    errors = bad.json()["numbers"]
    assert set(errors) == {"1", "2"}
    assert "line 1" in errors["2"][0]
    assert not Suppression.objects.exclude(phone=THIRD).exists()
    assert api.post(URL, {"numbers": []}, format="json").status_code == 400
    good = api.post(
        URL,
        {"numbers": [PHONE, OTHER, THIRD], "reason": "national_dnc", "source": "dnc.csv"},
        format="json",
    )
    assert good.status_code == 201
    assert good.json() == {"created": 2, "already_listed": 1}
    entry = Suppression.objects.get(phone=OTHER)
    assert (entry.reason, entry.source, entry.added_by.username) == (  # type: ignore[union-attr]
        "national_dnc",
        "dnc.csv",
        "adder",
    )


def test_removing_a_number_in_any_spelling() -> None:
    services.suppress(PHONE)
    api = client_for(make_user("remover", "delete_suppression"))
    assert api.delete(f"{URL}84901888484/").status_code == 204
    assert not Suppression.objects.exists()
    assert api.delete(f"{URL}{PHONE}/").status_code == 404
    assert api.delete(f"{URL}not-a-number/").status_code == 404


def test_each_endpoint_needs_its_permission() -> None:
    services.suppress(PHONE)
    nobody = client_for(make_user("nobody"))
    reader = client_for(make_user("reader", "view_suppression"))
    anonymous = client_for(None)
    assert anonymous.get(URL).status_code in {401, 403}
    assert nobody.get(URL).status_code == 403
    for client in (nobody, reader):
        assert client.post(URL, {"phone": OTHER}, format="json").status_code == 403
        assert client.delete(f"{URL}{PHONE}/").status_code == 403
    assert Suppression.objects.count() == 1
    everything = client_for(make_user("all", *ALL))
    assert everything.get(URL).status_code == 200
    assert everything.delete(f"{URL}{PHONE}/").status_code == 204

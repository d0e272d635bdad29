"""What is built from ESMS_VOICE (settings, client, backend) is forgotten together on a change."""

from __future__ import annotations

import weakref

from django.core.signals import setting_changed
from django.test import override_settings

from django_esms_voice import conf
from django_esms_voice.backends import LOCMEM_BACKEND, HttpBackend, LocmemBackend, get_backend
from django_esms_voice.esms.client import get_client

KEYS = {"API_KEY": "conf-key", "SECRET_KEY": "conf-secret"}


def test_changing_the_setting_rebuilds_the_settings_client_and_backend() -> None:
    with override_settings(ESMS_VOICE={**KEYS, "BASE_URL": "https://one.example.vn/"}):
        settings, client, backend = conf.voice_settings(), get_client(), get_backend()
        assert (conf.voice_settings(), get_client(), get_backend()) == (settings, client, backend)
        assert isinstance(backend, HttpBackend)
    with override_settings(
        ESMS_VOICE={**KEYS, "BASE_URL": "https://two.example.vn/", "BACKEND": LOCMEM_BACKEND}
    ):
        assert conf.voice_settings().base_url == "https://two.example.vn/"
        assert get_client() is not client
        assert get_client().base_url == "https://two.example.vn/"
        assert isinstance(get_backend(), LocmemBackend)


def test_reset_forgets_everything_built_from_the_settings() -> None:
    with override_settings(ESMS_VOICE=KEYS):
        client, backend = get_client(), get_backend()
        conf.reset()
        assert get_client() is not client
        assert get_backend() is not backend


def test_one_receiver_of_the_app_resets_on_a_setting_change() -> None:
    receivers = [entry[1] for entry in setting_changed.receivers]
    live = [r() if isinstance(r, weakref.ReferenceType) else r for r in receivers]
    ours = [r for r in live if getattr(r, "__module__", "").startswith("django_esms_voice")]
    assert [r.__module__ for r in ours] == ["django_esms_voice.conf"]

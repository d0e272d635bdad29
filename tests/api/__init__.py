"""Tests of the calls API (django_esms_voice.api), by area."""

import pytest

pytest.register_assert_rewrite("tests.api.helpers")

"""Tests of django_esms_voice.testing: the helpers, the plugin and the simulator."""

import pytest

pytest.register_assert_rewrite("tests.testing.simulator_helpers")

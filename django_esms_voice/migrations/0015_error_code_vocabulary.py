"""Rewrite the error codes stored as a Python class name into the documented vocabulary."""

from django.db import migrations

BATCH_SIZE = 1000

#: The class names placing stored before, and their codes (errors.LEGACY_CODES, frozen here).
RENAMED = {
    "EsmsTimeout": "timeout",
    "EsmsConnectionError": "connection",
    "EsmsInvalidResponse": "bad_response",
    "EsmsTransportError": "transport",
    "EsmsSettingsError": "settings",
}
HTTP_ERROR = "EsmsHTTPError"
# The old message kept the status: "eSMS MakeCallRecord_V2: HTTP 404: '...'".
CLIENT_ERROR_MARK = ": HTTP 4"


def _rename(calls, old, new, **where):
    """Set one stored code to another, a batch of rows per UPDATE."""
    while True:
        ids = list(
            calls.filter(last_error_code=old, **where).order_by().values_list("pk", flat=True)[
                :BATCH_SIZE
            ]
        )
        if not ids:
            return
        calls.filter(pk__in=ids).update(last_error_code=new)


def class_names_to_codes(apps, schema_editor):
    """Each old class name becomes its code; an HTTP error its 4xx or 5xx code by its message."""
    calls = apps.get_model("esms_voice", "VoiceCall").objects.using(schema_editor.connection.alias)
    for old, new in RENAMED.items():
        _rename(calls, old, new)
    _rename(calls, HTTP_ERROR, "http_4xx", last_error_message__contains=CLIENT_ERROR_MARK)
    _rename(calls, HTTP_ERROR, "http_5xx")


def codes_to_class_names(apps, schema_editor):
    """Undo it: each code becomes the class name placing stored before."""
    calls = apps.get_model("esms_voice", "VoiceCall").objects.using(schema_editor.connection.alias)
    for old, new in RENAMED.items():
        _rename(calls, new, old)
    for code in ("http_4xx", "http_5xx"):
        _rename(calls, code, HTTP_ERROR)


class Migration(migrations.Migration):
    dependencies = [
        ("esms_voice", "0014_event_outcome_not_known_yet"),
    ]

    operations = [
        migrations.RunPython(class_names_to_codes, codes_to_class_names, elidable=True),
    ]

"""The log filter under the dotted path LOGGING configs name: ``django_esms_voice.redaction``.

A wrong filter path stops Django at startup, so the old path stays; the filter lives in
``django_esms_voice.esms.redaction``.
"""

from .esms.redaction import RedactSecretsFilter as RedactSecretsFilter

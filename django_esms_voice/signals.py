"""Signals a host project can listen to; both are sent after the transaction commits."""

from django.dispatch import Signal

#: Sent once per real status change: sender=VoiceCall, call, old, new, event (or None).
call_status_changed = Signal()

#: Sent for every stored callback delivery or status poll: sender=CallbackEvent, event.
callback_received = Signal()

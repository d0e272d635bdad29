"""Signals a host project can listen to; each is sent after the transaction commits."""

from django.dispatch import Signal

#: Sent once per real status change: sender=VoiceCall, call, old, new, event (or None).
call_status_changed = Signal()

#: Sent for every stored callback delivery or status poll: sender=CallbackEvent, event.
callback_received = Signal()

#: Sent once when eSMS refuses a call for a reason of the account and placement stops:
#: sender=AccountPause, pause (its code, message and the call that met it).
placement_paused = Signal()

#: Sent once when placement resumes: sender=AccountPause, pause (ended_by says who resumed it).
placement_resumed = Signal()

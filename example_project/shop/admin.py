"""Admin for the example shop's customers: select some, and call them through eSMS."""

from django.contrib import admin

from django_esms_voice.admin import VoiceCallActionMixin, call_action

from .models import Customer


@admin.register(Customer)
class CustomerAdmin(VoiceCallActionMixin, admin.ModelAdmin):
    list_display = ["name", "phone", "amount", "created"]
    search_fields = ["name", "phone"]
    date_hierarchy = "created"
    readonly_fields = ["created"]
    # "Call the selected customers": a recording, or a script that reads the name and amount.
    actions = [call_action(phone_field="phone", variables=["name", "amount"])]

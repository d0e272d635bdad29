"""Admin for the example shop's customers."""

from django.contrib import admin

from .models import Customer


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ["name", "phone", "amount", "created"]
    search_fields = ["name", "phone"]
    date_hierarchy = "created"
    readonly_fields = ["created"]

"""The tables of the demo Salesforce org: a demo account's records and every write it was asked
for, kept in Closeloop's database instead of being sent to Salesforce (demo_backend.py).

Imported by models.py so that Django finds them; they name ConnectedAccount by its label, so
this module imports nothing of the app.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class DemoRecord(models.Model):
    """A record of a demo account's org as it stands now (its fields, by API name)."""

    account = models.ForeignKey(
        "salesforce.ConnectedAccount", on_delete=models.CASCADE, related_name="demo_records"
    )
    sobject = models.CharField(max_length=80)
    record_id = models.CharField(max_length=18)
    values = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    modified_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "record_id"], name="salesforce_demo_record_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.sobject} {self.record_id}"


class DemoWrite(models.Model):
    """One write a demo account was asked for: what would have been sent to Salesforce (the
    REST request) and what the demo org answered."""

    account = models.ForeignKey(
        "salesforce.ConnectedAccount", on_delete=models.CASCADE, related_name="demo_writes"
    )
    operation = models.CharField(max_length=16, help_text="insert, update, upsert, delete, chatter")
    sobject = models.CharField(max_length=80)
    record_id = models.CharField(max_length=18)
    values = models.JSONField(default=dict, blank=True, help_text="the JSON body sent")
    created = models.BooleanField(default=False, help_text="a new record")
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=500, help_text="the REST path, /services/data/vNN.N/…")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["account", "-id"], name="salesforce_demo_write_recent")]

    def __str__(self) -> str:
        return f"{self.operation} {self.sobject} {self.record_id}"

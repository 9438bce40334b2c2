"""Accounts housekeeping."""

from datetime import timedelta

from closeloop.accounts import actions, audit
from closeloop.jobs.schedule import recurring


@recurring("accounts.delete_old_failed_sign_ins", every=timedelta(hours=1))
def delete_old_failed_sign_ins(payload: dict, job) -> None:
    actions.delete_old_failed_sign_ins()


@recurring("accounts.delete_old_audit_events", every=timedelta(hours=1))
def delete_old_audit_events(payload: dict, job) -> None:
    audit.delete_old_events()

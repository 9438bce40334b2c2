"""Accounts housekeeping."""

from datetime import timedelta

from closeloop.accounts import actions
from closeloop.jobs.schedule import recurring


@recurring("accounts.delete_old_failed_sign_ins", every=timedelta(hours=1))
def delete_old_failed_sign_ins(payload: dict, job) -> None:
    actions.delete_old_failed_sign_ins()

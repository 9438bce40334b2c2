"""Twilio: SMS sending (REST API), status callbacks and inbound messages (signed webhooks)."""

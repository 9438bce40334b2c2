"""Twilio's URL patterns. They keep the names they had when distributions served them, so that
templates and links stay as they are: apps.py adds `pages` to the distributions pages
(/distributions/…, distributions:<name>) and `public_pages` to the public tracking endpoints
(/t/…, tracking:<name>) through closeloop.distributions.extensions."""

from django.urls import path

from closeloop.integrations.twilio import views, webhooks

pages = [
    path("sms-settings/", views.sms_settings, name="sms-settings"),
    path("sms-simulator/", views.sms_simulator, name="sms-simulator"),
]
public_pages = [
    path("twilio/status", webhooks.status_callback, name="twilio-status"),
    path("twilio/inbound", webhooks.inbound, name="twilio-inbound"),
]

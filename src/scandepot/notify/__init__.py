"""Notifications: email when a session is archived, the export-process series, alerts
when something needs attention or is stuck, and signed webhooks, all through one outbox
in the catalog (docs/notifications.md)."""

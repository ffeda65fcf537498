"""Scheduled events: the admin service and the firing process manager."""

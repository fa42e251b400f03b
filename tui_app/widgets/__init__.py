"""Reusable widgets: modal forms, confirm dialog, help."""

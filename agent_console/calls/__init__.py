"""Calls on the console: the call list and record, wrap-up, hold, transfer, dismiss, dial."""

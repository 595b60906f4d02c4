"""Customers: find, create, read, edit, and the card with history."""

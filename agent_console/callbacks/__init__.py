"""Callbacks: the list, attempts, and a lead's reassigning."""

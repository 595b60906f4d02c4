"""Agents: logging in and out, the user's own settings and state, the live roster."""

"""The lead's live monitor: wallboard, supervision actions, spy, queues, violations."""

"""Files that hold personal data (the outbox, a SQLite CRM) are readable by their owner only."""

from __future__ import annotations

import os
from pathlib import Path


def ensure_private(path: Path) -> None:
    """Create `path` (empty) with mode 0600 if missing, else narrow it to 0600. SQLite
    gives its -wal/-shm/-journal files the database file's mode, so this covers them."""
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    os.close(fd)
    os.chmod(path, 0o600)

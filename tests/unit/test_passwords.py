"""argon2id password hashes: verify, reject, never crash on a damaged hash."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher

from crm_core.passwords import hash_password, needs_rehash, verify_password


def test_hash_verifies_and_is_salted() -> None:
    h = hash_password("correct horse 电池")
    assert h.startswith("$argon2id$")
    assert verify_password(h, "correct horse 电池")
    assert not verify_password(h, "correct horse")
    assert hash_password("correct horse 电池") != h  # fresh salt each time
    assert not needs_rehash(h)


@pytest.mark.parametrize("damaged", ["", "plain-text", "$argon2id$v=19$broken"])
def test_damaged_hash_is_a_failed_login_not_a_crash(damaged: str) -> None:
    assert verify_password(damaged, "anything") is False


def test_empty_password_is_refused() -> None:
    with pytest.raises(ValueError, match="empty"):
        hash_password("")


def test_weaker_parameters_need_a_rehash() -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash("pw")
    assert verify_password(weak, "pw")
    assert needs_rehash(weak)

"""Secrets of push destinations: encrypted with the site's key (the setting, or a key file
made at first use, readable by its owner only), or read from the environment when
needed; a key that cannot decrypt says so clearly."""

from __future__ import annotations

import stat
from dataclasses import replace

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from scandepot.context import Context
from scandepot.push import secrets
from scandepot.push.secrets import SecretUnreadable

SECRET = "token-0123456789-never-in-clear"


def with_key(ctx: Context, key: str | None) -> Context:
    settings = ctx.settings.model_copy(update={"secrets_key": SecretStr(key) if key else None})
    return replace(ctx, settings=settings)


def test_a_key_file_is_made_at_first_use_readable_by_its_owner_only(ctx: Context) -> None:
    path = ctx.settings.data_dir.resolve() / secrets.KEY_FILE
    assert not path.exists()
    token = secrets.encrypt(ctx, SECRET)
    assert SECRET not in token
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    key = path.read_bytes()
    assert secrets.decrypt(ctx, token) == SECRET
    secrets.encrypt(ctx, "another")
    assert path.read_bytes() == key  # made once
    path.unlink()
    with pytest.raises(SecretUnreadable, match="No secrets key.*set the secret again"):
        secrets.decrypt(ctx, token)


def test_the_setting_is_the_key_and_another_key_cannot_decrypt(ctx: Context) -> None:
    first = with_key(ctx, Fernet.generate_key().decode())
    token = secrets.encrypt(first, SECRET)
    assert secrets.decrypt(first, token) == SECRET
    assert not (ctx.settings.data_dir / secrets.KEY_FILE).exists()
    other = with_key(ctx, Fernet.generate_key().decode())
    with pytest.raises(SecretUnreadable, match="destination 'ref' cannot be decrypted"):
        secrets.decrypt(other, token, name="ref")
    with pytest.raises(SecretUnreadable, match="not a Fernet key"):
        secrets.encrypt(with_key(ctx, "not-a-key"), SECRET)


def test_a_secret_in_the_environment_is_read_when_needed(
    ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SCANDEPOT_TEST_PUSH_TOKEN", raising=False)
    with pytest.raises(SecretUnreadable, match="SCANDEPOT_TEST_PUSH_TOKEN, which is not set"):
        secrets.resolve(ctx, None, "SCANDEPOT_TEST_PUSH_TOKEN", name="ref")
    monkeypatch.setenv("SCANDEPOT_TEST_PUSH_TOKEN", SECRET)
    assert secrets.resolve(ctx, None, "SCANDEPOT_TEST_PUSH_TOKEN") == SECRET
    assert secrets.resolve(ctx, None, None) is None

"""/api/v1/auth/ssh-keys: the signed-in user's SSH public keys, for the SFTP server."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, Response, status
from pydantic import BaseModel, ConfigDict, Field

from scandepot.api.deps import ActorDep, CtxDep
from scandepot.api.v1.drops import KeyOut
from scandepot.ingest import ssh_keys

router = APIRouter(prefix="/auth/ssh-keys", tags=["authentication"])


class KeyAdd(BaseModel):
    model_config = ConfigDict(extra="forbid")

    public_key: str = Field(max_length=8192)  # an OpenSSH line: 'ssh-ed25519 AAAA... me@host'


@router.get("", response_model=list[KeyOut])
def list_keys(ctx: CtxDep, actor: ActorDep) -> list[KeyOut]:
    return [KeyOut(**asdict(k)) for k in ssh_keys.list_keys(ctx, actor, actor.login)]


@router.post("", response_model=KeyOut, status_code=status.HTTP_201_CREATED)
def add_key(ctx: CtxDep, actor: ActorDep, body: KeyAdd) -> KeyOut:
    return KeyOut(**asdict(ssh_keys.add_key(ctx, actor, actor.login, body.public_key)))


@router.delete("/{key_id}", status_code=status.HTTP_204_NO_CONTENT)
def remove_key(ctx: CtxDep, actor: ActorDep, key_id: int) -> Response:
    ssh_keys.remove_key(ctx, actor, actor.login, key_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)

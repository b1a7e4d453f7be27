"""/api/v1/admin/dicom-nodes: DICOM nodes (C-MOVE destinations, calling AE rights), for
site administrators."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, Response, status
from pydantic import BaseModel

from scandepot.api.deps import ActorDep, CtxDep
from scandepot.dicomnodes import nodes
from scandepot.dicomnodes.nodes import NodeCreate, NodeView

router = APIRouter(prefix="/admin/dicom-nodes", tags=["dicom nodes"])


class NodeOut(BaseModel):
    ae_title: str
    host: str | None
    port: int | None
    login: str | None
    project: str | None
    description: str


def _out(node: NodeView) -> NodeOut:
    return NodeOut(**asdict(node))


@router.get("", response_model=list[NodeOut])
def list_nodes(ctx: CtxDep, actor: ActorDep) -> list[NodeOut]:
    return [_out(node) for node in nodes.list_nodes(ctx, actor)]


@router.post("", response_model=NodeOut, status_code=status.HTTP_201_CREATED)
def add_node(ctx: CtxDep, actor: ActorDep, body: NodeCreate) -> NodeOut:
    return _out(nodes.add(ctx, actor, body))


@router.delete("/{ae_title}", status_code=status.HTTP_204_NO_CONTENT)
def remove_node(ctx: CtxDep, actor: ActorDep, ae_title: str) -> Response:
    nodes.remove(ctx, actor, ae_title)
    return Response(status_code=status.HTTP_204_NO_CONTENT)

"""What the console holds while it runs, made once at start-up and handed to routes as a dependency."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from services.common.records.org_sources import OrgConfigSource
from services.common.records.store import RecordStore
from services.console.config import ConsoleSettings
from services.console.gap_finder import GapFinder
from services.console.knowledge import KnowledgeBase
from services.console.sign_in import LockoutPolicy
from services.console.tokens import TokenSigner


@dataclass
class Console:
    settings: ConsoleSettings
    store: RecordStore
    orgs: OrgConfigSource
    signer: TokenSigner
    lockout: LockoutPolicy
    # The org's documents, through the retrieval service (and the llm for "try a question").
    knowledge: KnowledgeBase
    gaps: GapFinder


def console(request: Request) -> Console:
    return request.app.state.console

"""The one answer pipeline both call modes share: the search query, retrieval, the generation request, and the
answer of last resort when the llm is down.

Turn-based calls generate the answer whole and streaming calls sentence by
sentence, but what is searched, what the llm is given and what is said when
a stage fails must be the same in both, so it is decided here once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from services.common.generated.voiceagent.v1 import llm_pb2, retrieval_pb2
from services.common.orgs import OrgConfig
from services.common.passages import best_overlap_passage, context_chunks
from services.common.sentences import is_follow_up
from services.gateway.clients import ServiceClients
from services.gateway.config import GatewaySettings


def search_query(question: str, history: list[list[str]]) -> str:
    """What to search for: the question, or for a follow-up ("and on Sundays?") the previous question with it."""
    callers = [said for role, said in history if role == "caller"]
    return f"{callers[-1]} {question}" if callers and is_follow_up(question) else question


@dataclass
class Retrieved:
    hits: list[retrieval_pb2.SearchHit] = field(default_factory=list)
    # Words of the query the org's documents never mention (see the retrieval contract).
    unknown_terms: list[str] = field(default_factory=list)


class AnswerPipeline:
    def __init__(self, clients: ServiceClients, settings: GatewaySettings) -> None:
        self.clients = clients
        self.settings = settings

    async def retrieve(self, org: OrgConfig, query: str, call_sid: str) -> Retrieved:
        """The org's passages for the query; raises grpc.aio.AioRpcError when retrieval fails."""
        search = retrieval_pb2.SearchRequest(org_id=org.org_id, query=query, top_k=org.top_k)
        found = await self.clients.call(self.clients.retrieval.Search, search, self.settings.retrieval_timeout_seconds, call_sid)
        return Retrieved(list(found.hits), list(found.unknown_terms))

    @staticmethod
    def request(org: OrgConfig, question: str, history: list[list[str]], retrieved: Retrieved) -> llm_pb2.GenerateRequest:
        """What the llm is asked: the org's persona and fallback, the conversation so far and the passages."""
        return llm_pb2.GenerateRequest(
            org_id=org.org_id,
            org_name=org.name,
            persona=org.persona,
            fallback_message=org.fallback_message,
            question=question,
            history=[
                llm_pb2.ConversationTurn(
                    role=llm_pb2.ConversationTurn.CALLER if role == "caller" else llm_pb2.ConversationTurn.AGENT, text=said
                )
                for role, said in history
            ],
            context=context_chunks(retrieved.hits),
            unknown_terms=retrieved.unknown_terms,
        )

    @staticmethod
    def last_resort(org: OrgConfig, query: str, retrieved: Retrieved) -> tuple[str, list[str]]:
        """With the llm down: the passage of the documents that best matches, verbatim, or the org's fallback."""
        passage = best_overlap_passage(query, retrieved.hits, retrieved.unknown_terms)
        return (passage.said, [passage.chunk_id]) if passage else (org.fallback_message, [])

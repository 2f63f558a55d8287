"""The answer pipeline's decisions, shared by everything that answers a question from an org's documents (both
gateway call modes, and the console's "try a question"): the search query, what the llm is asked, and the
answer of last resort when the llm is down. What is searched, what the llm is given and what is said when a
stage fails must be the same everywhere, so it is decided here once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from services.common.generated.voiceagent.v1 import llm_pb2, retrieval_pb2
from services.common.orgs import OrgConfig
from services.common.passages import best_overlap_passage, context_chunks
from services.common.sentences import is_follow_up


def search_query(question: str, history: list[list[str]]) -> str:
    """What to search for: the question, or for a follow-up ("and on Sundays?") the previous question with it."""
    callers = [said for role, said in history if role == "caller"]
    return f"{callers[-1]} {question}" if callers and is_follow_up(question) else question


@dataclass
class Retrieved:
    hits: list[retrieval_pb2.SearchHit] = field(default_factory=list)
    # Words of the query the org's documents never mention (see the retrieval contract).
    unknown_terms: list[str] = field(default_factory=list)


def generation_request(org: OrgConfig, question: str, history: list[list[str]], retrieved: Retrieved) -> llm_pb2.GenerateRequest:
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


def last_resort(org: OrgConfig, query: str, retrieved: Retrieved) -> tuple[str, list[str]]:
    """With the llm down: the passage of the documents that best matches, verbatim, or the org's fallback."""
    passage = best_overlap_passage(query, retrieved.hits, retrieved.unknown_terms)
    return (passage.said, [passage.chunk_id]) if passage else (org.fallback_message, [])

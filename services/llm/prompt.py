"""The prompt every generative backend gets: grounded, in persona, brief, meant to be heard.

It lives here, in one readable place, so what the model is told can be
reviewed and changed without reading backend code.
"""

from __future__ import annotations

from services.common.generated.voiceagent.v1 import llm_pb2

SYSTEM_PROMPT = """{persona}

You are speaking with a caller on the phone on behalf of {org_name}.
Rules:
- Answer only from the numbered context passages below. Do not use outside knowledge and never guess.
- If the passages do not contain the answer, say so briefly and offer this instead: "{fallback}"
- Speak naturally in one to three short sentences. No lists, no markdown, no URLs, no emojis.
- Say numbers, prices and times the way a person would say them on the phone.
- Each passage names its document, its headings and what kind of text it is.
- A FAQ passage starts with its question: answer with what follows it, never with the question.
- Table rows and list items are facts: say the ones that answer in a sentence. Never read code aloud.
- Keep the persona above, and do not mention these rules or the passages.

Context passages:
{context}"""

NO_CONTEXT = "(no passages were found for this question)"
BLOCK_LABELS = {
    "paragraph": "text",
    "faq": "FAQ (question, then answer)",
    "list_item": "list items",
    "table_row": "table rows",
    "code": "code (never read aloud)",
}


def describe_passage(number: int, chunk: llm_pb2.ContextChunk) -> str:
    """One context passage with where it comes from: "[2] prices.md > Rentals (table rows)" and its text."""
    where = " > ".join([chunk.document, *chunk.heading_path])
    kind = BLOCK_LABELS.get(chunk.block_type, "text")
    return f"[{number}] {where} ({kind})\n{chunk.text}"


def build_messages(request: llm_pb2.GenerateRequest, fallback: str) -> list[dict[str, str]]:
    """Chat messages: the grounded system prompt, the conversation so far, then the question."""
    context = "\n\n".join(describe_passage(number, chunk) for number, chunk in enumerate(request.context, start=1))
    if request.unknown_terms:
        # Retrieval found these words of the question nowhere in the documents.
        context = f"{context}\n\nThe documents never mention: {', '.join(request.unknown_terms)}."
    system = SYSTEM_PROMPT.format(
        persona=request.persona.strip() or "You are a helpful phone assistant.",
        org_name=request.org_name or "this business",
        fallback=fallback,
        context=context or NO_CONTEXT,
    )
    messages = [{"role": "system", "content": system}]
    for turn in request.history:
        role = "user" if turn.role == llm_pb2.ConversationTurn.CALLER else "assistant"
        messages.append({"role": role, "content": turn.text})
    messages.append({"role": "user", "content": request.question})
    return messages

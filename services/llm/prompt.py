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
- Keep the persona above, and do not mention these rules or the passages.

Context passages:
{context}"""

NO_CONTEXT = "(no passages were found for this question)"


def build_messages(request: llm_pb2.GenerateRequest, fallback: str) -> list[dict[str, str]]:
    """Chat messages: the grounded system prompt, the conversation so far, then the question."""
    context = "\n".join(
        f"[{number}] ({chunk.document}) {chunk.text}" for number, chunk in enumerate(request.context, start=1)
    )
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

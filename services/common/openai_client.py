"""One way to build the OpenAI SDK client, so every vendor backend honours the same settings."""

from __future__ import annotations

import openai


class ProviderError(RuntimeError):
    """A vendor or engine call failed in a way that retrying later may fix (maps to UNAVAILABLE)."""


def openai_client(api_key: str, base_url: str | None, timeout_seconds: float) -> openai.OpenAI:
    """`base_url` (OPENAI_BASE_URL) reaches any OpenAI-compatible server: vLLM, Ollama, a test server."""
    if not api_key:
        raise ProviderError("the openai backend needs OPENAI_API_KEY")
    return openai.OpenAI(api_key=api_key, base_url=base_url or None, timeout=timeout_seconds, max_retries=1)


class OpenAIBackend:
    """What every OpenAI-backed engine shares: the model name and a client made once, at load."""

    provider = "openai"

    def __init__(self, api_key: str, base_url: str | None, model: str, timeout_seconds: float) -> None:
        self.model = model
        self._settings = (api_key, base_url, timeout_seconds)
        self._client: openai.OpenAI | None = None

    def load(self) -> None:
        self._client = openai_client(*self._settings)

    @property
    def client(self) -> openai.OpenAI:
        if self._client is None:
            self.load()
        return self._client

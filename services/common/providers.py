"""What the model providers cost and how they behave: usage, estimated USD, latency, errors.

Every backend reports its consumption here in its own unit (audio seconds,
tokens, characters); the price table turns that into an estimated cost.
The defaults are the seed design's figures; `VOICEAGENT_PRICE_TABLE` (JSON,
USD per unit keyed "service:provider") overrides them without a release.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from prometheus_client import Counter, Histogram

from services.common.generated.voiceagent.v1 import common_pb2
from services.common.metrics import LATENCY_BUCKETS
from services.common.orgs import ORG_ID_PATTERN

# USD per unit. Whisper $0.006/min; GPT-4 about $0.03 per ~1K-token call; Polly neural $0.000004/char (seed design);
# OpenAI text-embedding-3-small $0.02 per million tokens, metered per character at about four characters a token.
DEFAULT_PRICES: dict[str, float] = {
    "stt:openai": 0.006 / 60,
    "llm:openai": 0.03 / 1000,
    "tts:polly": 0.000004,
    "retrieval:openai": 0.02 / 1_000_000 / 4,
}

PROVIDER_USAGE = Counter(
    "voiceagent_provider_usage_total",
    "What providers consumed, in their own unit (audio_seconds, tokens, characters).",
    ["service", "provider", "unit", "org"],
)
PROVIDER_COST = Counter(
    "voiceagent_provider_cost_usd_total",
    "Estimated provider cost in US dollars from the price table.",
    ["service", "provider", "org"],
)
PROVIDER_LATENCY = Histogram(
    "voiceagent_provider_request_duration_seconds",
    "Time one provider call took (model inference or vendor API request).",
    ["service", "provider"],
    buckets=LATENCY_BUCKETS,
)
PROVIDER_ERRORS = Counter(
    "voiceagent_provider_errors_total",
    "Provider calls that failed, by the kind of error.",
    ["service", "provider", "reason"],
)


def load_prices() -> dict[str, float]:
    prices = dict(DEFAULT_PRICES)
    override = os.environ.get("VOICEAGENT_PRICE_TABLE", "")
    if override:
        prices.update({key: float(value) for key, value in json.loads(override).items()})
    return prices


class ProviderMeter:
    """Meters one service's provider calls; org labels are limited to orgs that exist."""

    def __init__(self, service: str, data_dir: Path, prices: dict[str, float] | None = None) -> None:
        self.service = service
        self.data_dir = Path(data_dir)
        self.prices = load_prices() if prices is None else prices

    def org_label(self, org_id: str) -> str:
        """The org id when it names a configured org, else "unknown": labels must stay bounded."""
        if org_id and ORG_ID_PATTERN.match(org_id) and (self.data_dir / org_id / "config.json").is_file():
            return org_id
        return "unknown"

    @contextmanager
    def call(self, provider: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        except Exception as error:
            PROVIDER_ERRORS.labels(self.service, provider, type(error).__name__).inc()
            raise
        finally:
            PROVIDER_LATENCY.labels(self.service, provider).observe(time.perf_counter() - started)

    def record(
        self, provider: str, org_id: str, unit: str, quantity: float, prompt_tokens: int = 0, completion_tokens: int = 0
    ) -> common_pb2.Usage:
        cost = quantity * self.prices.get(f"{self.service}:{provider}", 0.0)
        org = self.org_label(org_id)
        PROVIDER_USAGE.labels(self.service, provider, unit, org).inc(quantity)
        PROVIDER_COST.labels(self.service, provider, org).inc(cost)
        return common_pb2.Usage(
            provider=provider,
            unit=unit,
            quantity=quantity,
            estimated_cost_usd=cost,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
        )

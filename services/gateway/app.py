"""The FastAPI app Twilio talks to: webhooks, signed answer audio, health and metrics."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import grpc
import httpx
from fastapi import Depends, FastAPI, HTTPException, Request, WebSocket
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from services.common.logs import call_sid_var, get_logger, org_id_var
from services.common.orgs import OrgConfig
from services.common.records import schema
from services.common.records.events import EventDeliverer
from services.common.records.recorder import CallRecorder
from services.common.records.settings import RecordsSettings
from services.gateway import callbacks, twiml
from services.gateway.audio_urls import AudioCache, AudioUrlSigner, InvalidAudioUrlError
from services.gateway.call_control import CallControl
from services.gateway.call_log import CallLog, fallback_reasons
from services.gateway.clients import ServiceClients
from services.gateway.config import GatewaySettings
from services.gateway.metrics import ACTIVE_CALLS, CALLS, TURNS, WEBHOOKS_REJECTED, create_series
from services.gateway.orgs import OrgDirectory
from services.gateway.security import RecordingDownloader, SignatureVerifier, StreamTokens, public_url
from services.gateway.sessions import CallSession, MemorySessionStore, RateLimiter, RedisSessionStore, SessionStore
from services.gateway.streaming import StreamingCall, stream_end_key
from services.gateway.turn import Speech, TurnOrchestrator, Voice

log = get_logger(__name__)
TWIML = "application/xml"
FINAL_STATUSES = {"completed", "busy", "failed", "no-answer", "canceled"}


@dataclass
class Gateway:
    settings: GatewaySettings
    orgs: OrgDirectory
    store: SessionStore
    limiter: RateLimiter
    verifier: SignatureVerifier
    clients: ServiceClients
    voice: Voice
    turns: TurnOrchestrator
    http: httpx.AsyncClient
    stream_tokens: StreamTokens
    # Calls, turns, callbacks and handoffs for the call store, written off the call path.
    call_log: CallLog
    call_control: CallControl

    # Fire-and-forget work started by a request (kept referenced until it ends).
    tasks: set[asyncio.Task] = field(default_factory=set)

    def background(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)


def twiml_response(body: str, details: dict | None = None) -> Response:
    headers = {"X-Voiceagent-Turn": json.dumps(details)} if details is not None else None
    return Response(content=body, media_type=TWIML, headers=headers)


def base_url(request: Request, settings: GatewaySettings) -> str:
    """Where Twilio reaches us: the public URL of this request without its path."""
    url = public_url(request, settings)
    return url[: len(url) - len(request.url.path) - (len(request.url.query) + 1 if request.url.query else 0)]


def create_app(settings: GatewaySettings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if problem := settings.unsafe_public_url():
            log.error("gateway.refused_to_start", detail=problem)
            raise RuntimeError(problem)
        records = RecordsSettings(data_dir=settings.data_dir)
        try:
            schema.require_current_schema(records.database_url)
        except schema.SchemaNotCurrentError as error:
            log.error("gateway.refused_to_start", detail=str(error))
            raise
        recorder = CallRecorder.from_settings(records).start()
        # Signed events (call.completed, callback.requested, handoff.started) from the outbox to each org's events_url.
        deliverer = EventDeliverer.from_settings(records).start()
        store: SessionStore = (
            RedisSessionStore(settings.redis_url, settings.session_ttl_seconds)
            if settings.redis_url
            else MemorySessionStore(settings.session_ttl_seconds)
        )
        http = httpx.AsyncClient()
        clients = ServiceClients(settings)
        signing_key = settings.audio_signing_key or settings.twilio_auth_token
        if not signing_key:
            signing_key = secrets.token_hex(32)
            log.warning("gateway.random_audio_key", detail="set GATEWAY_AUDIO_SIGNING_KEY so replicas can serve each other's audio")
        signer = AudioUrlSigner(signing_key)
        voice = Voice(clients, signer, AudioCache(settings.audio_cache_entries), settings)
        orgs = OrgDirectory(settings.data_dir)
        create_series(orgs.org_ids())
        app.state.gateway = Gateway(
            settings=settings,
            orgs=orgs,
            store=store,
            limiter=RateLimiter(store, settings.rate_window_seconds),
            verifier=SignatureVerifier(settings),
            clients=clients,
            voice=voice,
            turns=TurnOrchestrator(clients, RecordingDownloader(settings, http), voice, settings),
            http=http,
            stream_tokens=StreamTokens(signing_key, settings.stream_token_seconds),
            call_log=CallLog(recorder),
            call_control=CallControl(settings),
        )
        if settings.insecure_skip_signature:
            log.warning("gateway.signatures_disabled", detail="GATEWAY_INSECURE_SKIP_SIGNATURE is on: anyone can drive calls")
        elif not settings.twilio_auth_token:
            log.warning("gateway.no_auth_token", detail="TWILIO_AUTH_TOKEN is empty: every webhook will be refused")
        log.info("gateway.started", sessions="redis" if settings.redis_url else "memory")
        yield
        await clients.close()
        await http.aclose()
        # Whatever the database has not taken by then waits in the spool for the next start.
        await asyncio.to_thread(recorder.close, 5.0)
        await asyncio.to_thread(deliverer.close, 5.0)

    app = FastAPI(title="voiceagent gateway", lifespan=lifespan, docs_url=None, redoc_url=None)

    def gateway(request: Request) -> Gateway:
        return request.app.state.gateway

    async def twilio_params(request: Request, gw: Gateway = Depends(gateway)) -> dict[str, str]:
        """The webhook's form fields, after checking Twilio signed exactly this request."""
        params = {key: str(value) for key, value in (await request.form()).items()}
        call_sid_var.set(params.get("CallSid", ""))
        if not gw.verifier.is_valid(request, params):
            reason = "missing" if "x-twilio-signature" not in request.headers else "invalid"
            WEBHOOKS_REJECTED.labels(reason).inc()
            log.warning("webhook.rejected", reason=reason, path=request.url.path, caller=params.get("From", ""))
            raise HTTPException(status_code=403, detail="invalid Twilio signature")
        return params

    @app.exception_handler(Exception)
    async def never_fail_a_call(request: Request, error: Exception) -> Response:
        # Twilio turns an HTTP 500 into an "application error" message and drops the caller: say something instead.
        log.exception("gateway.unhandled", path=request.url.path)
        if request.url.path.startswith("/voice/"):
            return twiml_response(twiml.speak_and_hang_up(Speech(twiml.TROUBLE)))
        return PlainTextResponse("internal error", status_code=500)

    @app.post("/voice/inbound")
    async def inbound(request: Request, params: dict[str, str] = Depends(twilio_params), gw: Gateway = Depends(gateway)) -> Response:
        org = gw.orgs.for_number(params.get("To", ""))
        caller = params.get("From", "")
        if org is None:
            CALLS.labels("unknown", "unknown_number").inc()
            log.warning("call.unknown_number", dialled=params.get("To", ""), caller=caller)
            return twiml_response(twiml.speak_and_hang_up(Speech(twiml.UNKNOWN_NUMBER)))
        org_id_var.set(org.org_id)
        call_sid = params.get("CallSid", "")
        # While the greeting plays: a replica that has not served this org yet loads its shard now.
        gw.background(gw.clients.warm(org.org_id, call_sid))
        # Twilio retries a webhook it thinks failed: the same call gets the same answer, and nothing counts twice.
        existing = await gw.store.get(call_sid)
        if existing is not None and existing.inbound_twiml:
            log.info("call.inbound_repeated")
            return twiml_response(existing.inbound_twiml)
        label = gw.orgs.label(org.org_id)
        if not await gw.limiter.allow("calls", caller, gw.settings.calls_per_window):
            CALLS.labels(label, "rate_limited").inc()
            log.warning("call.rate_limited", caller=caller)
            return twiml_response(twiml.speak_and_hang_up(Speech(twiml.RATE_LIMITED), voice=org.twilio_voice))
        session = CallSession(call_sid=call_sid, org_id=org.org_id, caller=caller)
        details = None
        if org.conversation_mode == "streaming":
            token = gw.stream_tokens.mint(session.call_sid, org.org_id)
            session.inbound_twiml = twiml.connect_stream(base_url(request, gw.settings), org, session.call_sid, token)
        else:
            greeting = await gw.voice.speech(org, org.greeting, session.call_sid)
            details = {"answer": org.greeting} if gw.settings.turn_details_header else None
            session.inbound_twiml = twiml.speak_and_listen(greeting, org, base_url(request, gw.settings), gw.settings)
        if not await gw.store.create(session):
            # A retry raced this request: answer what the first one stored.
            stored = await gw.store.get(call_sid)
            return twiml_response(stored.inbound_twiml if stored else session.inbound_twiml)
        ACTIVE_CALLS.inc()
        gw.call_log.started(session, params.get("To", ""), caller, org.conversation_mode)
        log.info("call.started", caller=caller, mode=org.conversation_mode)
        return twiml_response(session.inbound_twiml, details)

    async def call_state(params: dict[str, str], gw: Gateway) -> tuple[OrgConfig | None, CallSession | None, bool]:
        """The call's org and session; a missing session (expired, or taken before sessions were shared) starts fresh."""
        call_sid = params.get("CallSid", "")
        session = await gw.store.get(call_sid)
        org = gw.orgs.by_id(session.org_id) if session else gw.orgs.for_number(params.get("To", ""))
        if org is None:
            return None, None, False
        org_id_var.set(org.org_id)
        return org, session or CallSession(call_sid=call_sid, org_id=org.org_id), session is not None

    async def answer(request: Request, params: dict[str, str], gw: Gateway, recording: bool) -> Response:
        org, session, existed = await call_state(params, gw)
        if org is None:
            return twiml_response(twiml.speak_and_hang_up(Speech(twiml.UNKNOWN_NUMBER)))
        label = gw.orgs.label(org.org_id)
        if not await gw.limiter.allow("turns", params.get("From", ""), gw.settings.turns_per_window):
            TURNS.labels(label, "rate_limited").inc()
            return twiml_response(twiml.speak_and_hang_up(Speech(twiml.RATE_LIMITED), voice=org.twilio_voice))
        if recording:
            caller, digits = params.get("From", ""), params.get("Digits", "")
            result = await gw.turns.run(org, label, session, params.get("RecordingUrl", ""), caller, digits)
        else:
            result = await gw.turns.no_input(org, label, session)
        TURNS.labels(label, result.outcome).inc()
        if result.transcript or result.fallbacks or result.callback or result.transfer_to:
            reasons = fallback_reasons(result.fallbacks, result.unanswered)
            gw.call_log.turn(session, result.transcript, result.speech.text, result.sources, reasons, result.stage_ms, private=result.private)
        if result.callback is not None:
            gw.call_log.callback(session, label, result.callback)
        if result.transfer_to is not None:
            gw.call_log.handoff(session, label, result.transfer_to, "keypad" if params.get("Digits") == "0" else "asked")
        if result.end_call:
            session.outcome = result.outcome  # recorded with Twilio's duration at the final status callback
        await (gw.store.update(session) if existed else gw.store.put(session))
        base = base_url(request, gw.settings)
        if result.transfer_to is not None:
            body = twiml.speak_and_dial(result.speech, result.transfer_to, base, org.twilio_voice)
        elif result.end_call:
            body = twiml.speak_and_hang_up(result.speech, base, org.twilio_voice)
        else:
            body = twiml.speak_and_listen(result.speech, org, base, gw.settings)
        details = None
        if gw.settings.turn_details_header:
            details = {
                "transcript": result.transcript, "answer": result.speech.text, "sources": result.sources,
                "stage_ms": result.stage_ms, "fallbacks": result.fallbacks, "outcome": result.outcome,
            }
        return twiml_response(body, details)

    @app.post("/voice/recording-callback")
    async def recording_callback(request: Request, params: dict[str, str] = Depends(twilio_params), gw: Gateway = Depends(gateway)) -> Response:
        return await answer(request, params, gw, recording=True)

    @app.post("/voice/no-input")
    async def no_input(request: Request, params: dict[str, str] = Depends(twilio_params), gw: Gateway = Depends(gateway)) -> Response:
        return await answer(request, params, gw, recording=False)

    @app.post("/voice/handoff-ended")
    async def handoff_ended(request: Request, params: dict[str, str] = Depends(twilio_params), gw: Gateway = Depends(gateway)) -> Response:
        """Twilio's report on a transfer: answered, the call is over for us; otherwise the agent takes a message."""
        org, session, existed = await call_state(params, gw)
        if org is None:
            return twiml_response(twiml.speak_and_hang_up(Speech(twiml.UNKNOWN_NUMBER)))
        if params.get("DialCallStatus", "") == "completed":
            return twiml_response(twiml.hang_up())
        gw.call_log.handoff_unanswered(gw.orgs.label(org.org_id))
        session.message.clear()
        session.message.update(step="name", reason="transfer_unanswered")
        await (gw.store.update(session) if existed else gw.store.put(session))
        speech = await gw.voice.speech(org, callbacks.NO_ONE_AVAILABLE, session.call_sid)
        details = {"answer": speech.text, "outcome": "transfer_unanswered"} if gw.settings.turn_details_header else None
        return twiml_response(twiml.speak_and_listen(speech, org, base_url(request, gw.settings), gw.settings), details)

    @app.post("/voice/stream-ended")
    async def stream_ended(params: dict[str, str] = Depends(twilio_params), gw: Gateway = Depends(gateway)) -> Response:
        """Twilio's next step after a Media Stream closed: hang up after the agent's own goodbye, otherwise (the
        gateway could not go on) speak the org's fallback, then hang up."""
        if not await gw.store.claim(stream_end_key(params.get("CallSid", "")), gw.settings.stream_token_seconds):
            return twiml_response(twiml.hang_up())
        org = gw.orgs.for_number(params.get("To", ""))
        if org is None:
            return twiml_response(twiml.speak_and_hang_up(Speech(twiml.TROUBLE)))
        return twiml_response(twiml.speak_and_hang_up(Speech(org.fallback_message), voice=org.twilio_voice))

    @app.post("/voice/status")
    async def status(params: dict[str, str] = Depends(twilio_params), gw: Gateway = Depends(gateway)) -> Response:
        call_status = params.get("CallStatus", "")
        if call_status in FINAL_STATUSES:
            session = await gw.store.delete(params.get("CallSid", ""))
            if session is not None:
                ACTIVE_CALLS.dec()
                duration = params.get("CallDuration", "")
                outcome = session.outcome or call_status
                gw.call_log.ended(session, gw.orgs.label(session.org_id), outcome, float(duration) if duration.isdigit() else None)
                CALLS.labels(gw.orgs.label(session.org_id), call_status).inc()
                log.info("call.ended", status=call_status, turns=session.turns)
        return Response(status_code=204)

    @app.websocket("/voice/stream")
    async def media_stream(websocket: WebSocket) -> None:
        await StreamingCall(websocket, websocket.app.state.gateway).run()

    @app.get("/audio/{digest}.wav")
    async def answer_audio(digest: str, p: str, s: str, gw: Gateway = Depends(gateway)) -> Response:
        try:
            org_id, voice, text = gw.voice.signer.verify(digest, p, s)
        except InvalidAudioUrlError as error:
            raise HTTPException(status_code=403, detail=str(error)) from error
        audio = gw.voice.cache.get(digest)
        if audio is None:
            # Synthesised on another replica: what to say is in the signed URL, so say it again.
            try:
                audio = await gw.voice.synthesise(org_id, voice, text, call_sid="")
            except grpc.aio.AioRpcError as error:
                log.warning("audio.resynthesis_failed", code=error.code().name)
                raise HTTPException(status_code=503, detail="answer audio unavailable") from error
            gw.voice.cache.put(digest, audio)
        return Response(content=audio, media_type="audio/wav", headers={"Cache-Control": "private, max-age=3600"})

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz(gw: Gateway = Depends(gateway)) -> JSONResponse:
        services = await gw.clients.readiness()
        ready = all(services.values())
        return JSONResponse({"ready": ready, "services": services}, status_code=200 if ready else 503)

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app

"""Changing a live call through Twilio's REST API (calls update with new TwiML), with the twilio SDK.

A streaming call's TwiML is fixed when it starts (<Connect><Stream>); to
transfer it to a person the gateway redirects the call to new TwiML, which
ends the stream. GATEWAY_TWILIO_API_URL points the SDK at another server
speaking the same API (a regional edge, or a local fake in the tests).
"""

from __future__ import annotations

import asyncio

from twilio.base.exceptions import TwilioException
from twilio.rest import Client

from services.common.logs import get_logger
from services.gateway.config import GatewaySettings

log = get_logger(__name__)


class CallControlError(RuntimeError):
    """Twilio did not take the change (no credentials, refused, or unreachable)."""


class CallControl:
    def __init__(self, settings: GatewaySettings) -> None:
        self.settings = settings
        self._client: Client | None = None

    def _twilio(self) -> Client:
        if self._client is None:
            if not (self.settings.twilio_account_sid and self.settings.twilio_auth_token):
                raise CallControlError("TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN are needed to change a live call")
            client = Client(self.settings.twilio_account_sid, self.settings.twilio_auth_token)
            client.api.base_url = self.settings.twilio_api_url
            self._client = client
        return self._client

    async def redirect(self, call_sid: str, twiml: str) -> None:
        """Replace the call's TwiML (the SDK is synchronous: it runs in a thread, off the event loop)."""
        try:
            await asyncio.wait_for(asyncio.to_thread(lambda: self._twilio().calls(call_sid).update(twiml=twiml)), timeout=10)
        except (TwilioException, OSError, TimeoutError) as error:
            log.warning("call_control.redirect_failed", reason=type(error).__name__)
            raise CallControlError(str(error)) from error

"""The gateway's part of the one answer pipeline (services/common/answering.py): retrieval through its clients,
with their deadlines and retries."""

from __future__ import annotations

from services.common.answering import Retrieved
from services.common.generated.voiceagent.v1 import retrieval_pb2
from services.common.orgs import OrgConfig
from services.gateway.clients import ServiceClients
from services.gateway.config import GatewaySettings


class AnswerPipeline:
    def __init__(self, clients: ServiceClients, settings: GatewaySettings) -> None:
        self.clients = clients
        self.settings = settings

    async def retrieve(self, org: OrgConfig, query: str, call_sid: str) -> Retrieved:
        """The org's passages for the query; raises grpc.aio.AioRpcError when retrieval fails."""
        search = retrieval_pb2.SearchRequest(org_id=org.org_id, query=query, top_k=org.top_k)
        found = await self.clients.call(self.clients.retrieval.Search, search, self.settings.retrieval_timeout_seconds, call_sid)
        return Retrieved(list(found.hits), list(found.unknown_terms))

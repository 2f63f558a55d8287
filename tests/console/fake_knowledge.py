"""A stand-in for the retrieval and llm services behind the console, for its tests and its benchmark (the browser
test runs the real ones)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from services.common.orgs import OrgConfig
from services.console.knowledge import Document, KnowledgeError, Shard, Source, TriedAnswer, UploadResult

NOW = datetime.now(UTC)


class FakeKnowledge:
    """The console's KnowledgeBase, in memory: documents per org, and an answer from the first document that
    shares a word with the question."""

    def __init__(self) -> None:
        self.documents: dict[str, dict[str, str]] = {"acme": {"hours.md": "We open at nine on Saturdays."},
                                                     "beta": {"beta-secrets.md": "Beta's private price list."}}  # fmt: skip
        self.down = False

    def _check(self) -> None:
        if self.down:
            raise KnowledgeError("the knowledge service cannot be reached; try again in a moment")

    def shard(self, org_id: str) -> Shard:
        self._check()
        documents = [Document(name, 1, len(text), NOW) for name, text in sorted(self.documents.get(org_id, {}).items())]
        return Shard(documents, len(documents), "fake", NOW if documents else None)

    def upload(self, org_id: str, files: list[tuple[str, bytes]]) -> list[UploadResult]:
        self._check()
        results = []
        for name, data in files:
            if not name.endswith((".md", ".txt", ".pdf", ".html", ".htm")):
                results.append(UploadResult(name, False, 0, "unsupported file type"))
                continue
            self.documents.setdefault(org_id, {})[name] = data.decode()
            results.append(UploadResult(name, True, 1, ""))
        return results

    def delete(self, org_id: str, document: str) -> int:
        self._check()
        if document not in self.documents.get(org_id, {}):
            raise KnowledgeError(f"knowledge: no document {document!r}")
        del self.documents[org_id][document]
        return 1

    def try_question(self, org: OrgConfig, question: str) -> TriedAnswer:
        self._check()
        words = set(re.findall(r"\w+", question.lower()))
        for name, text in self.documents.get(org.org_id, {}).items():
            if words & set(re.findall(r"\w+", text.lower())):
                return TriedAnswer(question, text, False, [Source(name, f"{name}#0", text)])
        return TriedAnswer(question, org.fallback_message, True, [])

    def close(self) -> None:
        pass

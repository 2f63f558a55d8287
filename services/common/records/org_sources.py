"""Where an org's editable config lives, and how a change reaches every service.

Two sources, chosen by VOICEAGENT_ORG_CONFIGS:
- `files` (the default, and what a laptop runs): `data/{org}/config.json` is the truth; the console rewrites
  the file atomically, and every service already re-reads it (the gateway every 30 s, the records threads when
  its mtime changes, retrieval on each ingest).
- `database` (a cluster, where config files are read-only ConfigMaps): the `org_configs` table is the truth.
  `voiceagent orgs import` seeds it from config.json files (only orgs it does not have yet, unless asked to
  replace), and `voiceagent orgs sync --watch` mirrors it into each pod's `data/{org}/config.json`, so the
  services keep reading files and see a change within the mirror's period plus their own re-read.
Either way a document is validated exactly as config.json is (services.common.orgs.parse_org_config), writes
carry the revision they were based on (a stale form is refused, not applied over a newer change), and every
change is audited with the fields it changed.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import select

from services.common.orgs import ORG_ID_PATTERN, OrgConfig, UnknownOrgError, load_org_config, org_dir, parse_org_config
from services.common.records.models import StoredOrgConfig, utc_now
from services.common.records.queries import record_audit
from services.common.records.store import RecordStore

SOURCES = ("files", "database")
SOURCE_VARIABLE = "VOICEAGENT_ORG_CONFIGS"


class StaleConfigError(RuntimeError):
    """The config changed since the form was loaded: reload it and make the change again."""


@dataclass(frozen=True)
class OrgDocument:
    """An org's config as stored (every field, including ones no form shows) and as validated."""

    org_id: str
    document: dict[str, Any]
    config: OrgConfig
    # Opaque: pass it back with a write so a change based on an older version is refused.
    revision: str


class OrgConfigSource(Protocol):
    def org_ids(self) -> list[str]: ...

    def read(self, org_id: str) -> OrgDocument:
        """Raises UnknownOrgError, InvalidOrgIdError or OrgConfigError."""
        ...

    def write(self, org_id: str, document: dict[str, Any], revision: str, actor: str) -> OrgDocument:
        """Validate and store; raises OrgConfigError (with `problems` per field) or StaleConfigError."""
        ...


def serialise(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def changed_fields(before: dict[str, Any], after: dict[str, Any], prefix: str = "") -> dict[str, list[Any]]:
    """Dotted field paths whose value differs, each with [before, after]: what the audit entry says changed."""
    changes: dict[str, list[Any]] = {}
    for key in sorted(set(before) | set(after), key=str):
        old, new = before.get(key), after.get(key)
        if isinstance(old, dict) and isinstance(new, dict):
            changes.update(changed_fields(old, new, f"{prefix}{key}."))
        elif old != new:
            changes[f"{prefix}{key}"] = [old, new]
    return changes


def write_atomically(path: Path, text: str) -> None:
    """Readers see the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


class FileOrgConfigs:
    """config.json files under the data directory are the truth; the revision is a hash of the file's bytes."""

    def __init__(self, data_dir: Path, store: RecordStore) -> None:
        self.data_dir = Path(data_dir)
        self.store = store

    def org_ids(self) -> list[str]:
        if not self.data_dir.is_dir():
            return []
        return sorted(path.parent.name for path in self.data_dir.glob("*/config.json") if ORG_ID_PATTERN.match(path.parent.name))

    def read(self, org_id: str) -> OrgDocument:
        config = load_org_config(self.data_dir, org_id)
        raw = (org_dir(self.data_dir, org_id) / "config.json").read_bytes()
        return OrgDocument(org_id, json.loads(raw), config, hashlib.sha256(raw).hexdigest()[:16])

    def write(self, org_id: str, document: dict[str, Any], revision: str, actor: str) -> OrgDocument:
        path = org_dir(self.data_dir, org_id) / "config.json"
        current = self.read(org_id)
        if current.revision != revision:
            raise StaleConfigError(f"{org_id}'s settings changed since they were loaded")
        parse_org_config(document, org_id, "the new settings")
        write_atomically(path, serialise(document))
        saved = self.read(org_id)
        with self.store.session() as session:
            record_audit(session, actor, "org.settings", org_id, {"changed": changed_fields(current.document, saved.document)})
        return saved


class DatabaseOrgConfigs:
    """The org_configs table is the truth; the revision counts its changes."""

    def __init__(self, store: RecordStore) -> None:
        self.store = store

    def org_ids(self) -> list[str]:
        with self.store.session() as session:
            return list(session.scalars(select(StoredOrgConfig.org_id).order_by(StoredOrgConfig.org_id)))

    def read(self, org_id: str) -> OrgDocument:
        with self.store.session() as session:
            stored = session.get(StoredOrgConfig, org_id)
            if stored is None:
                raise UnknownOrgError(f"unknown organisation {org_id!r} (not in the database's org configs)")
            return self._document(stored)

    @staticmethod
    def _document(stored: StoredOrgConfig) -> OrgDocument:
        config = parse_org_config(stored.document, stored.org_id, f"org_configs[{stored.org_id}]")
        return OrgDocument(stored.org_id, dict(stored.document), config, str(stored.revision))

    def write(self, org_id: str, document: dict[str, Any], revision: str, actor: str) -> OrgDocument:
        parse_org_config(document, org_id, "the new settings")
        with self.store.session() as session:
            stored = session.get(StoredOrgConfig, org_id, with_for_update=True)
            if stored is None:
                raise UnknownOrgError(f"unknown organisation {org_id!r} (not in the database's org configs)")
            if str(stored.revision) != revision:
                raise StaleConfigError(f"{org_id}'s settings changed since they were loaded")
            changes = changed_fields(stored.document, document)
            stored.document, stored.revision, stored.updated_at, stored.updated_by = dict(document), stored.revision + 1, utc_now(), actor
            record_audit(session, actor, "org.settings", org_id, {"changed": changes})
            session.flush()
            return self._document(stored)


def open_org_configs(source: str, data_dir: Path, store: RecordStore) -> OrgConfigSource:
    if source == "files":
        return FileOrgConfigs(data_dir, store)
    if source == "database":
        return DatabaseOrgConfigs(store)
    raise ValueError(f"{SOURCE_VARIABLE} must be one of {', '.join(SOURCES)}, not {source!r}")


def import_org_configs(store: RecordStore, files: Iterable[Path], actor: str, replace: bool = False) -> dict[str, str]:
    """Seed the database from config files ("{org}.json" or "{org}/config.json"): each org it does not have
    yet is added; one it has is left alone ("kept"), so a seed never undoes a change made in the console,
    unless `replace`. Every file is validated first: one bad file imports nothing. Returns org -> what happened."""
    documents: dict[str, dict[str, Any]] = {}
    for path in files:
        org_id = path.parent.name if path.name == "config.json" else path.stem
        document = json.loads(path.read_text(encoding="utf-8"))
        parse_org_config(document, org_id, str(path))
        documents[org_id] = document
    outcome: dict[str, str] = {}
    with store.session() as session:
        for org_id, document in sorted(documents.items()):
            stored = session.get(StoredOrgConfig, org_id)
            if stored is None:
                session.add(StoredOrgConfig(org_id=org_id, document=document, revision=1, updated_at=utc_now(), updated_by=actor))
                outcome[org_id] = "added"
            elif replace and stored.document != document:
                stored.document, stored.revision, stored.updated_at, stored.updated_by = document, stored.revision + 1, utc_now(), actor
                outcome[org_id] = "replaced"
            else:
                outcome[org_id] = "kept"
                continue
            record_audit(session, actor, "org.import", org_id, {"outcome": outcome[org_id]})
    return outcome


def mirror_org_configs(store: RecordStore, data_dir: Path) -> list[str]:
    """Write each org's stored config to `data_dir/{org}/config.json` where the file differs; returns the orgs
    written. Files of orgs the database does not have are left alone."""
    written = []
    with store.session() as session:
        stored = [(row.org_id, serialise(row.document)) for row in session.scalars(select(StoredOrgConfig))]
    for org_id, text in stored:
        path = org_dir(data_dir, org_id) / "config.json"
        try:
            if path.read_text(encoding="utf-8") == text:
                continue
        except OSError:
            pass
        write_atomically(path, text)
        written.append(org_id)
    return written


def seed_missing_configs(files: Iterable[Path], data_dir: Path) -> list[str]:
    """Write the seed files' configs for orgs that have no config.json under `data_dir` yet (a pod starting while
    the database is down still knows its orgs; the mirror replaces them with the database's once it answers)."""
    written = []
    for path in files:
        org_id = path.parent.name if path.name == "config.json" else path.stem
        target = org_dir(data_dir, org_id) / "config.json"
        if target.exists():
            continue
        document = json.loads(path.read_text(encoding="utf-8"))
        parse_org_config(document, org_id, str(path))
        write_atomically(target, serialise(document))
        written.append(org_id)
    return written

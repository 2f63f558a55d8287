"""Org configs as the records threads see them: read from `data/{org}/config.json`, re-read when it changes.

The recorder's writer (privacy policy, whether to queue events), the event deliverer (where to send them) and
the purge (how long to keep) each ask about an org many times; reading and validating the file each time would
cost more than the write it decides. A file that is missing or broken gives None, so each caller decides what
the safe answer is (the most private policy, no events, the default retention).
"""

from __future__ import annotations

import threading
from pathlib import Path

from services.common.logs import get_logger
from services.common.orgs import OrgConfig, OrgConfigError, UnknownOrgError, load_org_config, validate_org_id

log = get_logger(__name__)


class OrgConfigCache:
    """`get(org_id)`: the org's validated config, or None when it has none (or a broken one)."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self._cache: dict[str, tuple[float, OrgConfig | None]] = {}
        self._lock = threading.Lock()

    def get(self, org_id: str) -> OrgConfig | None:
        try:
            path = self.data_dir / validate_org_id(org_id) / "config.json"
            mtime = path.stat().st_mtime
        except (ValueError, OSError):
            return None
        with self._lock:
            cached = self._cache.get(org_id)
        if cached and cached[0] == mtime:
            return cached[1]
        try:
            config: OrgConfig | None = load_org_config(self.data_dir, org_id)
        except (UnknownOrgError, OrgConfigError) as error:
            log.warning("records.org_config_unreadable", org_id=org_id, error=str(error))
            config = None
        with self._lock:
            self._cache[org_id] = (mtime, config)
        return config

    def events_url(self, org_id: str) -> str | None:
        config = self.get(org_id)
        return config.events_url if config else None

    def wants_events(self, org_id: str) -> bool:
        """Whether events about this org are queued: only while its config names an events_url."""
        return self.events_url(org_id) is not None

    def configured_orgs(self) -> list[str]:
        """Every org with a readable config under the data directory."""
        if not self.data_dir.is_dir():
            return []
        return sorted(path.parent.name for path in self.data_dir.glob("*/config.json") if self.get(path.parent.name) is not None)

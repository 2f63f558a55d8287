"""Which organisation a call is for: the dialled number (`To`) mapped through the orgs' configs."""

from __future__ import annotations

import time
from pathlib import Path

from services.common.logs import get_logger
from services.common.orgs import ORG_ID_PATTERN, OrgConfig, OrgConfigError, load_org_config

log = get_logger(__name__)
REFRESH_SECONDS = 30.0


class OrgDirectory:
    """All valid org configs under the data directory, re-read every 30 s so new orgs need no restart."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self._by_number: dict[str, OrgConfig] = {}
        self._by_id: dict[str, OrgConfig] = {}
        self._loaded_at = float("-inf")

    def _refresh(self) -> None:
        if time.monotonic() - self._loaded_at < REFRESH_SECONDS:
            return
        by_id: dict[str, OrgConfig] = {}
        for config_file in sorted(self.data_dir.glob("*/config.json")):
            org_id = config_file.parent.name
            if not ORG_ID_PATTERN.match(org_id):
                continue
            try:
                by_id[org_id] = load_org_config(self.data_dir, org_id)
            except OrgConfigError as error:
                log.error("org.config_invalid", error=str(error))
        self._by_id = by_id
        self._by_number = {number: config for config in by_id.values() for number in config.phone_numbers}
        self._loaded_at = time.monotonic()

    def for_number(self, number: str) -> OrgConfig | None:
        self._refresh()
        return self._by_number.get(number.strip())

    def by_id(self, org_id: str) -> OrgConfig | None:
        self._refresh()
        return self._by_id.get(org_id)

    def org_ids(self) -> list[str]:
        self._refresh()
        return sorted(self._by_id)

    def label(self, org_id: str) -> str:
        """Metric label: configured org ids only, so labels stay bounded."""
        return org_id if self.by_id(org_id) is not None else "unknown"

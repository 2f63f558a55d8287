"""Where org configs are edited: config.json files (the default) or the database, seeded from the files and
mirrored back into each pod's data directory; both validated as config.json is, both refusing stale writes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.cli.main import main
from services.common.orgs import OrgConfigError, UnknownOrgError, load_org_config
from services.common.records import queries
from services.common.records.org_sources import (
    DatabaseOrgConfigs,
    FileOrgConfigs,
    StaleConfigError,
    import_org_configs,
    mirror_org_configs,
)
from tests.conftest import copy_sample_org


@pytest.fixture
def seed_dir(tmp_path: Path) -> Path:
    root = tmp_path / "seed"
    root.mkdir()
    for org_id in ("acme", "beta"):
        copy_sample_org(root, org_id)
    return root


def sources(store, seed_dir: Path) -> list:
    import_org_configs(store, sorted(seed_dir.glob("*/config.json")), "test")
    return [FileOrgConfigs(seed_dir, store), DatabaseOrgConfigs(store)]


def test_both_sources_list_read_and_write_an_org_and_audit_the_fields_changed(store, seed_dir):
    for source in sources(store, seed_dir):
        assert source.org_ids() == ["acme", "beta"]
        current = source.read("acme")
        saved = source.write("acme", {**current.document, "greeting": f"Hi from {type(source).__name__}"}, current.revision, "console:ann")
        assert saved.config.greeting == f"Hi from {type(source).__name__}" and saved.revision != current.revision
        assert source.read("acme").document == saved.document
    with store.session() as session:
        entries = queries.list_audit(session, action="org.settings")
    assert [entry.detail["changed"]["greeting"][1] for entry in reversed(entries)] == ["Hi from FileOrgConfigs", "Hi from DatabaseOrgConfigs"]


def test_a_write_based_on_an_older_revision_is_refused(store, seed_dir):
    for source in sources(store, seed_dir):
        old = source.read("beta")
        source.write("beta", {**old.document, "greeting": "first"}, old.revision, "a")
        with pytest.raises(StaleConfigError):
            source.write("beta", {**old.document, "greeting": "second"}, old.revision, "b")
        assert source.read("beta").config.greeting == "first"


def test_an_invalid_document_is_refused_with_its_problems_by_field(store, seed_dir):
    for source in sources(store, seed_dir):
        current = source.read("acme")
        with pytest.raises(OrgConfigError) as error:
            source.write("acme", {**current.document, "top_k": 0, "handoff": {"number": "555"}}, current.revision, "a")
        assert set(error.value.problems) == {"top_k", "handoff.number"}
        assert source.read("acme").document == current.document


def test_unknown_orgs_are_unknown_in_both(store, seed_dir):
    for source in sources(store, seed_dir):
        with pytest.raises(UnknownOrgError):
            source.read("gamma")


def test_importing_adds_new_orgs_and_keeps_changed_ones_unless_replacing(store, seed_dir):
    files = sorted(seed_dir.glob("*/config.json"))
    assert import_org_configs(store, files, "seed") == {"acme": "added", "beta": "added"}
    database = DatabaseOrgConfigs(store)
    current = database.read("acme")
    database.write("acme", {**current.document, "greeting": "Edited in the console"}, current.revision, "console:ann")
    assert import_org_configs(store, files, "seed") == {"acme": "kept", "beta": "kept"}
    assert database.read("acme").config.greeting == "Edited in the console"
    assert import_org_configs(store, files, "seed", replace=True) == {"acme": "replaced", "beta": "kept"}
    assert database.read("acme").config.greeting != "Edited in the console"


def test_one_invalid_file_imports_nothing(store, seed_dir):
    (seed_dir / "beta" / "config.json").write_text(json.dumps({"org_id": "beta"}))
    with pytest.raises(OrgConfigError, match="beta"):
        import_org_configs(store, sorted(seed_dir.glob("*/config.json")), "seed")
    assert DatabaseOrgConfigs(store).org_ids() == []


def test_the_mirror_writes_each_stored_config_where_services_read_it_and_only_when_it_changed(store, seed_dir, tmp_path):
    import_org_configs(store, sorted(seed_dir.glob("*/config.json")), "seed")
    pod_data = tmp_path / "pod"
    assert mirror_org_configs(store, pod_data) == ["acme", "beta"]
    assert load_org_config(pod_data, "beta").org_id == "beta"
    assert mirror_org_configs(store, pod_data) == []
    database = DatabaseOrgConfigs(store)
    current = database.read("beta")
    database.write("beta", {**current.document, "fallback_message": "Leave a message."}, current.revision, "console:ann")
    assert mirror_org_configs(store, pod_data) == ["beta"]
    assert load_org_config(pod_data, "beta").fallback_message == "Leave a message."


def test_voiceagent_orgs_import_and_sync(migrated_url, seed_dir, tmp_path, capsys):
    assert main(["orgs", "import", str(seed_dir), "--database-url", migrated_url, "--actor", "ops"]) == 0
    assert "acme: added" in capsys.readouterr().out
    assert main(["orgs", "import", str(seed_dir / "acme" / "config.json"), "--database-url", migrated_url]) == 0
    assert "acme: kept" in capsys.readouterr().out
    assert main(["orgs", "sync", "--data-dir", str(tmp_path / "pod"), "--database-url", migrated_url]) == 0
    assert "wrote acme, beta" in capsys.readouterr().out
    assert (tmp_path / "pod" / "acme" / "config.json").is_file()


def test_a_pod_starting_while_the_database_is_down_is_seeded_and_later_mirrored(migrated_url, seed_dir, tmp_path, capsys):
    pod_data, down = tmp_path / "pod", "postgresql+psycopg://nobody@127.0.0.1:9/none"
    assert main(["orgs", "sync", "--data-dir", str(pod_data), "--database-url", down]) == 2
    assert main(["orgs", "sync", "--data-dir", str(pod_data), "--database-url", down, "--seed", str(seed_dir)]) == 0
    assert "seeded acme, beta" in capsys.readouterr().out
    assert load_org_config(pod_data, "acme").org_id == "acme"
    assert main(["orgs", "import", str(seed_dir), "--database-url", migrated_url]) == 0
    path = pod_data / "acme" / "config.json"
    path.write_text(path.read_text().replace("Acme Bicycle Works", "Stale Name"))
    assert main(["orgs", "sync", "--data-dir", str(pod_data), "--database-url", migrated_url, "--seed", str(seed_dir)]) == 0
    assert load_org_config(pod_data, "acme").name == "Acme Bicycle Works"  # the database wins once it answers

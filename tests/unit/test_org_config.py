"""Org configs: the sample org is valid, and every mistake names its file and field."""

import json

import pytest

from services.common.orgs import InvalidOrgIdError, OrgConfigError, UnknownOrgError, load_org_config
from tests.conftest import REPO_ROOT, copy_sample_org


def test_the_sample_org_is_valid():
    config = load_org_config(REPO_ROOT / "data", "acme")
    assert config.name == "Acme Bicycle Works"
    assert config.phone_numbers == ["+14155550100"]
    assert (config.chunk_size, config.chunk_overlap, config.top_k) == (500, 50, 4)


def test_unknown_org_is_reported(tmp_path):
    with pytest.raises(UnknownOrgError, match="unknown organisation 'nobody'"):
        load_org_config(tmp_path, "nobody")


@pytest.mark.parametrize("org_id", ["../etc", "Acme", "", "a/b", "a" * 64])
def test_unsafe_org_ids_are_refused(tmp_path, org_id):
    with pytest.raises(InvalidOrgIdError):
        load_org_config(tmp_path, org_id)


def write_config(tmp_path, **changes):
    org = copy_sample_org(tmp_path)
    config = json.loads((org / "config.json").read_text())
    config.update(changes)
    (org / "config.json").write_text(json.dumps(config))
    return org / "config.json"


@pytest.mark.parametrize(
    "changes,field",
    [
        ({"phone_numbers": ["415-555-0100"]}, "phone_numbers"),
        ({"top_k": 0}, "top_k"),
        ({"greetng": "typo"}, "greetng"),
        ({"chunk_overlap": 600}, "chunk_overlap"),
        ({"org_id": "other"}, "org_id"),
    ],
)
def test_a_bad_config_names_the_file_and_the_field(tmp_path, changes, field):
    path = write_config(tmp_path, **changes)
    with pytest.raises(OrgConfigError) as error:
        load_org_config(tmp_path, "acme")
    assert str(path) in str(error.value) and field in str(error.value)


def test_invalid_json_names_the_file(tmp_path):
    org = copy_sample_org(tmp_path)
    (org / "config.json").write_text("{not json")
    with pytest.raises(OrgConfigError, match="not valid JSON"):
        load_org_config(tmp_path, "acme")

"""push_to_hub against a loopback stand-in for the Hub (HF_ENDPOINT), recording what would be published: the card's
metadata states the languages of the rows that landed (ISO 639-1), their tasks, and whose terms govern them."""

from __future__ import annotations

import io
import subprocess

import pyarrow.parquet as pq
from helpers.generation_server import TEST_KEY, ScriptedServer, child_env, generate_cmd, write_config
from helpers.hub_server import LoopbackHub
from huggingface_hub import DatasetCard

from data_generation.card import UNKNOWN_TERMS
from synthembed_common.languages import to_iso_codes

HUB_TOKEN = "hf_test_token_4b3a2c1d"


def test_push_to_hub_publishes_card_chart_and_parquet(tmp_path):
    hub, out = LoopbackHub(), tmp_path / "run"
    try:
        with ScriptedServer() as server:
            hub_repo = dict(push_to_hub=True, hub_dataset_id="synth-org/e5-synthetic-test", hub_private=True)
            config = write_config(tmp_path / "gen.yaml", server.base_url, out, num_examples=12, **hub_repo)
            env = child_env(HF_ENDPOINT=hub.url, HF_TOKEN=HUB_TOKEN)
            proc = subprocess.run(generate_cmd(config), env=env, capture_output=True, text=True, timeout=180)
        assert proc.returncode == 0, proc.stderr[-3000:]
    finally:
        hub.stop()
    created = {"name": "e5-synthetic-test", "organization": "synth-org", "visibility": "private", "type": "dataset"}
    assert hub.created == created
    assert all(auth == f"Bearer {HUB_TOKEN}" for method, path, auth in hub.calls if method == "POST")
    assert set(hub.files) == {"README.md", "distribution.png", "data/train-00000-of-00001.parquet"}
    card = hub.files["README.md"].decode()
    assert card == (out / "README.md").read_text()
    assert "configs:" in card and "path: data/train-*" in card and "synth-org/e5-synthetic-test" in card
    assert "| task type | requested | rows |" in card and "e5-v3-appendix-c/1" in card
    table = pq.read_table(io.BytesIO(hub.files["data/train-00000-of-00001.parquet"]))
    assert table.num_rows == 12 and "query" in table.column_names and "negative" in table.column_names
    names = [n for n in table.column("language").to_pylist() + table.column("target_language").to_pylist() if n]
    data = DatasetCard(card).data
    assert sorted(data.language) == sorted(to_iso_codes(names)[0]) and len(data.language) > 1
    assert (data.license, data.license_name) == ("other", UNKNOWN_TERMS) and "`scripted-model`: terms not" in card
    assert data.task_categories == ["sentence-similarity", "text-retrieval", "translation"]
    assert hub.files["distribution.png"][:4] == b"\x89PNG"
    for name, data in hub.files.items():
        assert TEST_KEY.encode() not in data and HUB_TOKEN.encode() not in data, name
    for path in out.rglob("*"):
        if path.is_file():
            assert HUB_TOKEN.encode() not in path.read_bytes() and TEST_KEY.encode() not in path.read_bytes()
    assert TEST_KEY not in proc.stdout + proc.stderr and HUB_TOKEN not in proc.stdout + proc.stderr

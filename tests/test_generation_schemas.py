"""Reply schemas from the pydantic models: the strict (OpenAI) variant holds no keyword OpenAI refuses, the full one
keeps the bounds llama.cpp grammars use, and a server that refuses the schema stops the run without storing refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from datasets import load_from_disk
from helpers.generation_server import REPLY_KEYS, TEST_KEY, TEST_KEY_ENV, ScriptedServer, write_config
from helpers.paths import REPO_ROOT, load_module

from data_generation.parsing import parse_example
from data_generation.schemas import brainstorm_model, json_schema, reply_model, resolve_variant
from data_generation.templates import TASK_TYPES

# Keywords of JSON Schema that OpenAI structured outputs (strict) do not take for these types.
REFUSED_BY_OPENAI = {"minLength", "maxLength", "minItems", "maxItems", "pattern", "format", "default", "uniqueItems"}


def _keywords(schema) -> set[str]:
    """Every keyword used anywhere in a schema (property names are not keywords)."""
    if isinstance(schema, list):
        return set().union(*map(_keywords, schema)) if schema else set()
    if not isinstance(schema, dict):
        return set()
    found = set(schema)
    for key, value in schema.items():
        if key == "properties":
            found |= set().union(*map(_keywords, value.values()))
        else:
            found |= _keywords(value)
    return found


@pytest.mark.parametrize("task_type", TASK_TYPES)
def test_strict_schema_holds_only_what_openai_accepts(task_type):
    full = json_schema(reply_model(task_type, 40), "full")
    strict = json_schema(reply_model(task_type, 40), "strict")
    assert {"minLength", "maxLength"} <= _keywords(full)  # the llama.cpp/vLLM variant keeps the bounds
    assert not _keywords(strict) & REFUSED_BY_OPENAI, _keywords(strict) & REFUSED_BY_OPENAI
    assert strict["type"] == "object" and strict["additionalProperties"] is False
    assert strict["required"] == list(strict["properties"]) == REPLY_KEYS[task_type]
    assert all(p["type"] == "string" for p in strict["properties"].values())
    # The model validates exactly the replies the template asks for (the scripted server's independent key list).
    reply = json.dumps({k: f"{k} value" for k in REPLY_KEYS[task_type]})
    assert reply_model(task_type).model_validate_json(reply).model_dump() == json.loads(reply)
    assert parse_example(task_type, reply)[0] == f"{REPLY_KEYS[task_type][0]} value"


def test_brainstorm_schema_variants_and_auto_choice():
    full = json_schema(brainstorm_model(8, 30), "full")
    assert full["type"] == "array" and full["maxItems"] == 8 and full["items"]["maxLength"] == 30
    assert not _keywords(json_schema(brainstorm_model(8, 30), "strict")) & REFUSED_BY_OPENAI
    assert resolve_variant("auto", "https://api.openai.com/v1") == "strict"
    assert resolve_variant("auto", "https://me.openai.azure.com/openai/v1") == "strict"
    assert resolve_variant("auto", "http://127.0.0.1:8000/v1") == "full"
    assert resolve_variant("auto", ["http://10.0.0.1/v1", "https://api.openai.com/v1"]) == "strict"
    assert resolve_variant("full", "https://api.openai.com/v1") == "full"


def test_a_refused_schema_stops_the_run_and_a_fixed_rerun_sends_those_requests(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(TEST_KEY_ENV, TEST_KEY)
    out = tmp_path / "run"
    generate = load_module(REPO_ROOT / "scripts" / "generate.py", "script_generate_schemas").main
    small = dict(num_examples=12, structured_output="json_schema", max_concurrency=2)
    with ScriptedServer(reject_response_format=True) as refusing:
        config = write_config(tmp_path / "gen.yaml", refusing.base_url, out, **small)
        with pytest.raises(SystemExit) as exit_:
            generate(["--config", str(config)])
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "`schema_variant`" in err[0] and "'minLength' is not permitted" in err[0], err
    refused = [r for r in refusing.records if r["status"] == 400]
    assert 1 <= len(refused) <= 4  # stopped at the first refusals, not one refusal per planned request
    lines = [json.loads(x) for x in (out / "requests.jsonl").read_text().splitlines()]
    assert lines and all(x["phase"] == "brainstorm" and not x.get("error") for x in lines)  # no refusal stored
    with ScriptedServer() as accepting:  # the config fixed (here: a server that takes the schema)
        config = write_config(tmp_path / "gen.yaml", accepting.base_url, out, **small)
        assert generate(["--config", str(config)]) == 0
    sent = {r["hash"] for r in accepting.records}
    assert {r["hash"] for r in refused} <= sent  # the refused requests were sent again
    stats = json.loads((out / "generation_stats.json").read_text())
    assert stats["num_rows"] == 12 and stats["unfinished_requests"] == 0


# Texts planted in a local decontamination task, one that rows of each mode copy: the scripted synthetic STS replies,
# a sentence of the corpus fixture (tides.md), a source row of the translated set (write_labeled).
PLANTED = {
    "synthetic": "for the sts example",
    "corpus": "The Moon pulls hardest on the side of the Earth facing it",
    "translate": "A short explanation of sourdough starters, written for a general reader with examples.",
}


def planted_task(folder: Path) -> Path:
    folder.mkdir()
    spec = {"name": "PlantedTask", "type": "STS", "mteb_task": None, "main_score": "cosine_spearman"}
    (folder / "task.json").write_text(json.dumps(spec))
    lines = [{"sentence1": text, "sentence2": "no", "score": 1.0} for text in PLANTED.values()]
    (folder / "test.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    return folder


@pytest.fixture(scope="module", params=["synthetic", "corpus", "translate"])
def strict_run(request, tmp_path_factory, minilm_dir) -> dict:
    """One small run of a mode with `schema_variant: strict`, relabeling where the mode has it and a decontamination
    task its rows copy from: the chat requests as the server received them, the statistics, the card and the rows."""
    from test_generation_corpus import CORPUS, write_labeled

    mode, tmp_path = request.param, tmp_path_factory.mktemp(request.param)
    small_corpus = tmp_path / "corpus"  # two documents: few enough chunks that every one is queried
    small_corpus.mkdir()
    for name in ("tides.md", "honeybees.txt"):
        (small_corpus / name).write_text((CORPUS / name).read_text())
    relabel = dict(relabel_enabled=True, reference_embedder=str(minilm_dir), relabel_top_k=3)
    settings = {
        "synthetic": relabel,
        "corpus": dict(mode="corpus", corpus_path=str(small_corpus), chunk_tokens=64, **relabel),
        "translate": dict(
            mode="translate",
            translate_path=str(tmp_path / "labeled.jsonl"),
            target_languages=["German"],
            reference_embedder=str(minilm_dir),
        ),
    }[mode]
    write_labeled(tmp_path / "labeled.jsonl")
    gate = dict(decontamination_tasks=[str(planted_task(tmp_path / "planted"))], decontamination_ngram=8)
    generate = load_module(REPO_ROOT / "scripts" / "generate.py", "script_generate_strict").main
    strict = dict(schema_variant="strict", structured_output="json_schema", system_prompt=SYSTEM, num_examples=8)
    out = tmp_path / "out"
    with pytest.MonkeyPatch.context() as env, ScriptedServer(keep_bodies=True) as server:
        env.setenv(TEST_KEY_ENV, TEST_KEY)
        config = write_config(tmp_path / "gen.yaml", server.base_url, out, **strict, **settings, **gate)
        assert generate(["--config", str(config)]) == 0
    return {
        "mode": mode,
        "url": server.base_url,
        "bodies": server.bodies,
        "stats": json.loads((out / "generation_stats.json").read_text()),
        "card": (out / "README.md").read_text(),
        "rows": load_from_disk(str(out / "dataset")).to_list(),
    }


SYSTEM = "You write training data for text embeddings."
# The kinds of request each mode must have sent (scripted_server.classify of the user prompt).
PHASES = {
    "synthetic": {"brainstorm", "generate", "relabel"},
    "corpus": {"corpus", "relabel"},
    "translate": {"translate"},  # forward and back-translation share the template
}


def test_every_request_of_every_mode_takes_the_strict_variant_and_the_system_prompt(strict_run):
    from helpers.scripted_server import classify

    bodies = strict_run["bodies"]
    assert {classify(b["messages"][-1]["content"])[0] for b in bodies} == PHASES[strict_run["mode"]]
    for body in bodies:
        assert body["messages"][0] == {"role": "system", "content": SYSTEM}
        phase = classify(body["messages"][-1]["content"])[0]
        if phase == "brainstorm":  # a list: json_schema takes objects only, so no response_format is sent
            assert "response_format" not in body
            continue
        fmt = body["response_format"]
        assert fmt["type"] == "json_schema" and fmt["json_schema"]["strict"] is True, (phase, fmt)
        schema = fmt["json_schema"]["schema"]
        assert not _keywords(schema) & REFUSED_BY_OPENAI, (phase, _keywords(schema) & REFUSED_BY_OPENAI)
        assert schema["additionalProperties"] is False and schema["required"] == list(schema["properties"])


def test_every_mode_applies_the_quality_gate_and_reports_it_and_its_endpoints(strict_run):
    """The gate's counts and the per-endpoint statistics are in every mode's statistics file and card."""
    from data_generation.parsing import normalize

    stats, card, url = strict_run["stats"], strict_run["card"], strict_run["url"]
    removed = stats["quality"]["rules"].get("contaminated", 0)
    assert removed >= 1 and stats["rejections"]["contaminated"] == removed, stats["quality"]
    assert stats["quality"]["decontamination"]["PlantedTask"]["rows_removed"] == removed
    planted = normalize(PLANTED[strict_run["mode"]]).rstrip(".")
    assert not [r for r in strict_run["rows"] if any(planted in normalize(r[f] or "") for f in ("query", "positive"))]
    assert stats["num_rows"] == len(strict_run["rows"]) and stats["mode"] == strict_run["mode"]
    assert stats["endpoints"][url]["succeeded"] == len(strict_run["bodies"]), stats["endpoints"]
    assert "### Quality gate" in card and f"| contaminated | {removed} |" in card and "| PlantedTask |" in card
    assert "### Endpoints" in card and f"| {url} |" in card

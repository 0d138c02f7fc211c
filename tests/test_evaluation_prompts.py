"""The E5 protocol travels in the model folder: plain mteb on a trained folder scores as our E5 encoder does.

The trainer writes the per-task instructions as SentenceTransformer prompts (synthembed.saving,
instructions.sentence_transformer_prompts); mteb's own SentenceTransformer wrapper picks them by task name, task type
and prompt type. Nothing of synthembed's encoder runs on the plain side: `mteb.evaluate(SentenceTransformer(folder))`.
"""

from __future__ import annotations

import json

import pytest
from helpers.evaluation import (
    DEFAULT_INSTRUCTION,
    make_pair_task,
    make_retrieval_task,
    make_sts_task,
    save_trained_like_model,
)

from synthembed.evaluation.encoder import E5ProtocolEncoder
from synthembed.evaluation.instructions import SYMMETRIC_TASK_TYPES, get_instruction
from synthembed.evaluation.local_tasks import load_local_task
from synthembed.evaluation.runner import evaluate_model
from synthembed.model_folder import QueryTemplate

PREFIX = "Instruct: {}\nQuery: "


@pytest.fixture(scope="module")
def trained_dir(tiny_mistral_dir, tmp_path_factory):
    return save_trained_like_model(tiny_mistral_dir, tmp_path_factory.mktemp("trained"))


@pytest.fixture(scope="module")
def symmetric_bare_dir(tiny_mistral_dir, tmp_path_factory):
    """The same weights saved with `instruct_symmetric_tasks: false`."""
    return save_trained_like_model(tiny_mistral_dir, tmp_path_factory.mktemp("bare"), instruct_symmetric_tasks=False)


@pytest.fixture(scope="module")
def task_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("tasks")
    return [
        make_sts_task(root / "TinySTS", n=12),  # not an mteb name: the type-level "STS" prompt
        make_retrieval_task(root / "SciFact", name="SciFact"),  # "SciFact-query"; documents: "document" (none)
        make_pair_task(root / "TwitterURLCorpus", name="TwitterURLCorpus"),  # "TwitterURLCorpus", both sides
    ]


@pytest.mark.parametrize("symmetric_bare", [False, True])
def test_saved_prompts_follow_mteb_lookup(trained_dir, symmetric_bare_dir, symmetric_bare):
    import mteb
    from mteb.models.abs_encoder import get_prompt
    from mteb.types import PromptType

    folder = symmetric_bare_dir if symmetric_bare else trained_dir
    prompts = json.loads((folder / "config_sentence_transformers.json").read_text())["prompts"]
    assert prompts["query"] == PREFIX.format(DEFAULT_INSTRUCTION) and prompts["document"] == ""
    assert len(prompts) < 150
    benchmark = mteb.get_benchmark("MTEB(eng, v1)").tasks
    more = ("CQADupstackGisRetrieval", "STS22", "T2Retrieval", "NTREXBitextMining", "BUCC")
    checked = list(benchmark) + [mteb.get_task(n) for n in more]
    assert {t.metadata.type for t in checked} >= set(SYMMETRIC_TASK_TYPES)
    for task in checked:
        meta = task.metadata
        expected = PREFIX.format(get_instruction(meta.name, meta.type))
        if symmetric_bare and meta.type in SYMMETRIC_TASK_TYPES:
            expected = ""
        if meta.type == "Retrieval":
            sides = {PromptType.query: expected, PromptType.document: ""}
        else:  # every input, Reranking candidates included
            sides = {None: expected, PromptType.query: expected, PromptType.document: expected}
        for prompt_type, want in sides.items():
            assert get_prompt(prompts, meta, prompt_type) == want, (meta.name, prompt_type)


def plain_mteb_scores(folder, task_dirs, prompts=None) -> dict[str, float]:
    """mteb's own SentenceTransformer wrapper on the folder: its saved prompts, or `prompts` in their place."""
    import mteb
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(folder), device="cpu")
    if prompts is not None:
        model.prompts = prompts
    run = mteb.evaluate(
        model,
        [load_local_task(d) for d in task_dirs],
        cache=None,
        encode_kwargs={"batch_size": 4},
        show_progress_bar=False,
    )
    return {r.task_name: 100 * float(r.get_score(splits=["test"])) for r in run.task_results}


NO_PROMPTS = {"query": "", "document": ""}


def test_plain_mteb_scores_as_the_e5_encoder(trained_dir, task_dirs, tmp_path):
    ours = evaluate_model(
        trained_dir, local_tasks=[str(d) for d in task_dirs], output_dir=tmp_path / "ours", batch_size=4
    )
    plain_scores = plain_mteb_scores(trained_dir, task_dirs)
    assert set(plain_scores) == set(ours["tasks"]) == {"TinySTS", "SciFact", "TwitterURLCorpus"}
    for name, score in ours["tasks"].items():
        assert plain_scores[name] == pytest.approx(score, abs=0.01), name
    # ... and the instruction matters: without prompts the same folder scores differently on some task
    bare_scores = plain_mteb_scores(trained_dir, task_dirs, NO_PROMPTS)
    assert any(abs(bare_scores[n] - s) > 0.01 for n, s in ours["tasks"].items())


def test_symmetric_tasks_bare_in_both_evaluators(trained_dir, symmetric_bare_dir, task_dirs, tmp_path):
    """`instruct_symmetric_tasks: false` travels in the folder: our encoder and plain mteb on its prompts both encode
    STS and pair-classification texts bare (the same weights score as without any prompt there) and keep the
    retrieval query's instruction (as the instructed folder scores)."""
    local = [str(d) for d in task_dirs]
    ours = evaluate_model(symmetric_bare_dir, local_tasks=local, output_dir=tmp_path / "ours", batch_size=4)["tasks"]
    instructed = evaluate_model(trained_dir, local_tasks=local, output_dir=tmp_path / "e5", batch_size=4)["tasks"]
    saved = plain_mteb_scores(symmetric_bare_dir, task_dirs)
    bare = plain_mteb_scores(symmetric_bare_dir, task_dirs, NO_PROMPTS)
    for name in ("TinySTS", "TwitterURLCorpus"):  # STS, PairClassification: bare, unlike the instructed folder
        assert ours[name] == pytest.approx(saved[name], abs=0.01), name
        assert saved[name] == pytest.approx(bare[name], abs=0.01), name
        assert abs(ours[name] - instructed[name]) > 0.01, name
    assert ours["SciFact"] == pytest.approx(instructed["SciFact"], abs=0.01)
    assert saved["SciFact"] == pytest.approx(ours["SciFact"], abs=0.01)


def test_protocol_for_a_model_without_settings(minilm_dir):
    """A baseline (no synthembed_config.json) under the E5 protocol: the instruction comes from the flag."""
    from mteb.types import PromptType

    encoder = E5ProtocolEncoder(minilm_dir, query_template=QueryTemplate().template)
    assert encoder.template is not None and encoder.model.max_seq_length <= 512
    instruction = get_instruction("SciFact", "Retrieval")
    assert encoder.prepare(["q"], "SciFact", "Retrieval", PromptType.query) == [PREFIX.format(instruction) + "q"]
    assert encoder.prepare(["d"], "SciFact", "Retrieval", PromptType.document) == ["d"]
    assert not encoder.normalizes("Classification") and encoder.normalizes("STS")


def test_last_token_baseline_pools_the_eos(tiny_mistral_dir, tmp_path):
    """A last-token model whose tokenizer does not append EOS (intfloat/e5-mistral-7b-instruct under transformers 5)
    pools the EOS under the E5 protocol, as the trainer's own folders do."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.models import Normalize, Pooling, Transformer

    transformer = Transformer(str(tiny_mistral_dir), max_seq_length=16)
    pooling = Pooling(transformer.get_embedding_dimension(), pooling_mode="lasttoken")
    SentenceTransformer(modules=[transformer, pooling, Normalize()]).save(str(tmp_path / "st"))
    tokenizer = SentenceTransformer(str(tmp_path / "st"), device="cpu").tokenizer
    assert tokenizer("a")["input_ids"][-1] != tokenizer.eos_token_id  # the case being fixed

    encoder = E5ProtocolEncoder(tmp_path / "st", query_template=QueryTemplate().template)
    ids = encoder.model.tokenizer("some text")["input_ids"]
    assert ids[-1] == tokenizer.eos_token_id and ids[:-1] == tokenizer("some text")["input_ids"]
    long = encoder.model.tokenize(["word " * 100])["input_ids"][0]
    assert len(long) == 16 and long[-1] == tokenizer.eos_token_id  # truncation keeps it
    plain = E5ProtocolEncoder(tmp_path / "st")  # no protocol: the model exactly as saved
    assert plain.model.tokenizer("a")["input_ids"][-1] != tokenizer.eos_token_id

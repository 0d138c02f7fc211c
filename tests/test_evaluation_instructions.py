"""The per-task instruction table (Wang et al., 2024, Table 15) against mteb's own MTEB(eng, v1) task list."""

from __future__ import annotations

import pytest

from synthembed.evaluation.instructions import CQADUPSTACK_INSTRUCTION, MIRACL_INSTRUCTION, get_instruction
from synthembed.model_folder import QueryTemplate


def test_covers_every_task_of_mteb_eng_v1():
    import mteb

    tasks = mteb.get_benchmark("MTEB(eng, v1)").tasks
    assert len(tasks) == 56
    missing = []
    for task in tasks:
        try:
            get_instruction(task.metadata.name, task.metadata.type)
        except ValueError:
            missing.append(task.metadata.name)
    assert not missing


@pytest.mark.parametrize(
    "name, kind, expected",
    [
        ("STS17", "STS", "Retrieve semantically similar text."),
        ("SummEval", "Summarization", "Given a news summary, retrieve other semantically similar summaries"),
        ("Banking77Classification", "Classification", "Given a online banking query, find the corresponding intents"),
        (
            "SciDocsRR",
            "Reranking",
            "Given a title of a scientific paper, retrieve the titles of other relevant papers",
        ),
        ("TwitterURLCorpus", "PairClassification", "Retrieve tweets that are semantically similar to the given tweet"),
        ("MSMARCO", "Retrieval", "Given a web search query, retrieve relevant passages that answer the query"),
        ("CQADupstackGisRetrieval", "Retrieval", CQADUPSTACK_INSTRUCTION),
        ("trec-covid", "Retrieval", "Given a query on COVID-19, retrieve documents that answer the query"),
        ("miracl", "Retrieval", "Given a question, retrieve Wikipedia passages that answer the question"),
        ("Tatoeba", "BitextMining", "Retrieve parallel sentences."),
        ("Ocnli", "PairClassification", "Retrieve semantically similar text."),
        (
            "Waimai",
            "Classification",
            "Classify the customer review from a food takeaway platform into positive or negative",
        ),
    ],
)
def test_verbatim_strings(name, kind, expected):
    assert get_instruction(name, kind) == expected


def test_every_miracl_task_of_mteb_gets_the_paper_instruction():
    """Wang et al., 2024, §4.4 evaluate MIRACL with one instruction; mteb spells the tasks its own way."""
    import mteb

    tasks = [t for t in mteb.get_tasks() if t.metadata.name.lower().startswith("miracl")]
    text = [t for t in tasks if set(t.metadata.modalities) == {"text"}]
    names = {t.metadata.name for t in text}
    assert {"MIRACLRetrieval", "MIRACLReranking", "MIRACLRetrievalHardNegatives"} <= names
    assert all(get_instruction(t.metadata.name, t.metadata.type) == MIRACL_INSTRUCTION for t in text)
    assert MIRACL_INSTRUCTION == "Given a question, retrieve Wikipedia passages that answer the question"


def test_miracl_prompts_for_plain_mteb():
    from synthembed.evaluation.instructions import sentence_transformer_prompts

    prompts = sentence_transformer_prompts(QueryTemplate())
    expected = QueryTemplate().prompt(MIRACL_INSTRUCTION)
    assert prompts["MIRACLRetrieval-query"] == prompts["MIRACLRetrievalHardNegatives.v2-query"] == expected
    assert prompts["MIRACLReranking"] == expected  # Reranking: queries and candidates alike


def test_unknown_task_raises():
    with pytest.raises(ValueError, match="no E5 instruction"):
        get_instruction("NoSuchTask", "Retrieval")


def test_query_format_is_exact():
    # unilm's get_detailed_instruct (Wang et al., 2024, §3): a real newline, no space before "Query:", one space after it
    assert QueryTemplate().apply("Do X", "text") == "Instruct: Do X\nQuery: text"


@pytest.mark.parametrize(
    "name, kind, expected",
    [
        # the paper's bitext instruction (Table 4's BUCC/Tatoeba), also for NTREX, which it does not evaluate
        ("NTREXBitextMining", "BitextMining", "Retrieve parallel sentences."),
        ("BUCC.v2", "BitextMining", "Retrieve parallel sentences."),
        # multilingual and cross-lingual STS: the one STS instruction
        ("STSBenchmarkMultilingualSTS", "STS", "Retrieve semantically similar text."),
        ("STS22", "STS", "Retrieve semantically similar text."),
        # XQuAD-style retrieval: Table 14's SQuAD training instruction (the paper evaluates none of them)
        ("XQuADRetrieval", "Retrieval", "Retrieve Wikipedia passages that answer the question"),
        ("MLQARetrieval", "Retrieval", "Retrieve Wikipedia passages that answer the question"),
        ("MIRACLRetrieval", "Retrieval", MIRACL_INSTRUCTION),
    ],
)
def test_multilingual_tasks(name, kind, expected):
    import mteb

    assert mteb.get_task(name).metadata.type == kind  # spelt as mteb spells it
    assert get_instruction(name, kind) == expected


def test_every_task_type_the_evaluator_meets_has_an_instruction():
    """Every local-task type, and every mteb type the protocol places instructions for, has one for its tasks."""
    from synthembed.evaluation.instructions import BY_TYPE, TYPE_INSTRUCTIONS
    from synthembed.evaluation.local_tasks import TYPES
    from synthembed.model_folder import MTEB_TASK_TYPES

    for kind in {*TYPES, *MTEB_TASK_TYPES}:
        assert TYPE_INSTRUCTIONS.get(kind) or BY_TYPE.get(kind), kind
    # the local folders of ../shared/evaldata, by their mteb task (or own name)
    for name, kind in [
        ("STSBenchmark", "STS"),
        ("SICK-R", "STS"),
        ("STSBenchmarkMultilingualSTS", "STS"),
        ("NTREXBitextMining", "BitextMining"),
        ("NFCorpus", "Retrieval"),
        ("Banking77Classification", "Classification"),
        ("EmotionClassification", "Classification"),
        ("AmazonCounterfactualClassification", "Classification"),
    ]:
        assert get_instruction(name, kind)

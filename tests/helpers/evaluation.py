"""Shared by the evaluation tests: a model folder shaped like what recipes/train.py saves, and tiny local tasks."""

from __future__ import annotations

import json
from pathlib import Path

QUERY_TEMPLATE = "Instruct: {instruction}\nQuery: {query}"
DEFAULT_INSTRUCTION = "Given a web search query, retrieve relevant passages that answer the query"


def save_trained_like_model(
    base_dir: Path, output_dir: Path, pooling: str = "lasttoken", instruct_symmetric_tasks: bool = True
) -> Path:
    """Seam 2 as the trainer writes it: the real saver (LoRA merged, EOS-appending tokenizer, pooling, Normalize,
    synthembed_config.json, query prompt), applied to an untrained LoRA model on `base_dir`."""
    from transformers import AutoTokenizer

    from synthembed.configs import DataArguments, ModelArguments
    from synthembed.modeling import EmbeddingModel
    from synthembed.saving import export_sentence_transformer

    model_args = ModelArguments(
        model_name_or_path=str(base_dir),
        pooling={"lasttoken": "last_token"}.get(pooling, pooling),
        lora_r=4,
        dtype="float32",
    )
    data_args = DataArguments(
        dataset_mixture=[{"path": str(base_dir)}],
        query_template=QUERY_TEMPLATE,
        default_instruction=DEFAULT_INSTRUCTION,
        instruct_symmetric_tasks=instruct_symmetric_tasks,
    )
    model = EmbeddingModel.from_args(model_args)
    tokenizer = AutoTokenizer.from_pretrained(base_dir)
    export_sentence_transformer(model.state_dict(), model.config, tokenizer, model_args, data_args, output_dir)
    return output_dir


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def make_sts_task(folder: Path, name: str = "TinySTS", mteb_task: str | None = None, n: int = 12) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    spec = {"name": name, "type": "STS", "mteb_task": mteb_task, "main_score": "cosine_spearman", "split": "test"}
    (folder / "task.json").write_text(json.dumps(spec))
    words = ["cat", "dog", "car", "tree", "house", "river", "bird", "train", "apple", "cloud", "stone", "lamp"]
    rows = [
        {
            "sentence1": f"a {words[i % 12]} sits here",
            "sentence2": f"the {words[(i * 5) % 12]} is there",
            "score": i % 6,
        }
        for i in range(n)
    ]
    write_jsonl(folder / "test.jsonl", rows)
    return folder


def make_retrieval_task(folder: Path, name: str = "TinyRetrieval") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    spec = {"name": name, "type": "Retrieval", "mteb_task": None, "main_score": "ndcg_at_10", "split": "test"}
    (folder / "task.json").write_text(json.dumps(spec))
    write_jsonl(
        folder / "corpus.jsonl",
        [
            {"_id": "d1", "title": "Protein", "text": "Women need about 46 grams of protein a day."},
            {"_id": "d2", "title": "", "text": "The fox jumps over the dog."},
            {"_id": "d3", "title": "Embeddings", "text": "Vectors map meaning."},
        ],
    )
    write_jsonl(
        folder / "queries.jsonl",
        [
            {"_id": "q1", "text": "how much protein should a female eat"},
            {"_id": "q2", "text": "what do embeddings do"},
        ],
    )
    (folder / "qrels").mkdir(exist_ok=True)
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td3\t1\n")
    return folder


def make_query_task(folder: Path, queries: list[str]) -> Path:
    """A retrieval task whose test texts that matter are `queries` (each judged against one unrelated document): the
    evaluation set a decontamination test plants texts in. Named after the folder."""
    (folder / "qrels").mkdir(parents=True)
    spec = {"name": folder.name, "type": "Retrieval", "main_score": "ndcg_at_10", "split": "test"}
    (folder / "task.json").write_text(json.dumps(spec))
    write_jsonl(folder / "queries.jsonl", [{"_id": f"q{i}", "text": q} for i, q in enumerate(queries)])
    write_jsonl(folder / "corpus.jsonl", [{"_id": "d", "title": "", "text": "unrelated document"}])
    qrels = "".join(f"q{i}\td\t1\n" for i in range(len(queries)))
    (folder / "qrels/test.tsv").write_text("query-id\tcorpus-id\tscore\n" + qrels)
    return folder


def make_pair_task(folder: Path, name: str = "TinyPairs", n: int = 8) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    spec = {"name": name, "type": "PairClassification", "mteb_task": None, "main_score": "max_ap", "split": "test"}
    (folder / "task.json").write_text(json.dumps(spec))
    words = ["cat", "dog", "car", "tree", "house", "river", "bird", "train"]
    rows = [
        {"sentence1": f"a {words[i]} sits here", "sentence2": f"a {words[(i * 3) % 8]} sits there", "label": i % 2}
        for i in range(n)
    ]
    write_jsonl(folder / "test.jsonl", rows)
    return folder


# A few sentences in German and French with their English translations (the same meaning per row).
PARALLEL = {
    "deu": [
        "Der Hund schläft auf dem Sofa.",
        "Ich trinke jeden Morgen Kaffee.",
        "Der Zug nach Berlin hat Verspätung.",
        "Die Kinder spielen im Garten.",
        "Es regnet seit drei Tagen.",
        "Sie liest ein Buch über Geschichte.",
    ],
    "fra": [
        "Le chien dort sur le canapé.",
        "Je bois du café chaque matin.",
        "Le train pour Berlin est en retard.",
        "Les enfants jouent dans le jardin.",
        "Il pleut depuis trois jours.",
        "Elle lit un livre d'histoire.",
    ],
    "eng": [
        "The dog is sleeping on the sofa.",
        "I drink coffee every morning.",
        "The train to Berlin is late.",
        "The children are playing in the garden.",
        "It has been raining for three days.",
        "She is reading a book about history.",
    ],
}


def write_subset_task(folder: Path, kind: str, mteb_task: str, subset: str, main_score: str, split: str) -> None:
    """task.json of a folder holding one subset of a multilingual mteb task (../shared/evaldata's layout)."""
    folder.mkdir(parents=True, exist_ok=True)
    spec = {"name": folder.name, "type": kind, "mteb_task": mteb_task, "hf_subset": subset}
    (folder / "task.json").write_text(json.dumps(spec | {"main_score": main_score, "split": split}))


def make_multilingual_sts_task(folder: Path, lang: str, subset: str) -> Path:
    """A folder laid out as ../shared/evaldata's STSBMulti-dev-<lang>: one subset of STSBenchmarkMultilingualSTS."""
    write_subset_task(folder, "STS", "STSBenchmarkMultilingualSTS", subset, "cosine_spearman", "dev")
    texts = PARALLEL[lang]
    rows = [
        {"sentence1": texts[i], "sentence2": texts[(i + shift) % len(texts)], "score": 5.0 - shift}
        for i in range(len(texts))
        for shift in (0, 1, 3)
    ]
    write_jsonl(folder / "dev.jsonl", rows)
    return folder


def make_bitext_task(folder: Path, lang: str, subset: str) -> Path:
    """A folder laid out as ../shared/evaldata's NTREX-<lang>-eng: sentence1 in `lang`, sentence2 its English."""
    write_subset_task(folder, "BitextMining", "NTREXBitextMining", subset, "f1", "test")
    write_jsonl(
        folder / "test.jsonl", [{"sentence1": s, "sentence2": e} for s, e in zip(PARALLEL[lang], PARALLEL["eng"])]
    )
    return folder

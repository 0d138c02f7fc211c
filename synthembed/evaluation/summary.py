"""Turn mteb results into summary.json / summary.md: main scores x100, by category, next to the paper's figures."""

from __future__ import annotations

import json
from pathlib import Path
from statistics import mean

# The subsets the paper's English figures are for (MTEB(eng, v1): `en` / `en-en`, Wang et al., 2024, Table 1).
ENGLISH_SUBSETS = ("default", "en", "en-en", "eng", "eng-Latn")

# Category order and labels as in the paper's Table 1.
CATEGORIES = {
    "Classification": "Class.",
    "Clustering": "Clust.",
    "PairClassification": "PairClass.",
    "Reranking": "Rerank",
    "Retrieval": "Retr.",
    "STS": "STS",
    "Summarization": "Summ.",
    "BitextMining": "Bitext",
}

# e5-mistral-7b-instruct "full data": Wang et al., 2024, Table 1 (category averages) and Table 17 (per dataset).
PAPER_CATEGORIES = {
    "Classification": 78.5,
    "Clustering": 50.3,
    "PairClassification": 88.3,
    "Reranking": 60.2,
    "Retrieval": 56.9,
    "STS": 84.6,
    "Summarization": 31.4,
    "average": 66.6,
}
PAPER_TASKS = {
    "BIOSSES": 85.5,
    "SICK-R": 82.6,
    "STS12": 79.7,
    "STS13": 88.4,
    "STS14": 84.5,
    "STS15": 90.4,
    "STS16": 87.7,
    "STS17": 91.8,
    "STS22": 67.0,
    "STSBenchmark": 88.6,
    "SummEval": 31.4,
    "SummEvalSummarization.v2": 31.4,
    "SprintDuplicateQuestions": 95.7,
    "TwitterSemEval2015": 81.6,
    "TwitterURLCorpus": 87.8,
    "AmazonCounterfactualClassification": 78.7,
    "AmazonPolarityClassification": 95.9,
    "AmazonReviewsClassification": 55.8,
    "Banking77Classification": 88.2,
    "EmotionClassification": 49.8,
    "ImdbClassification": 94.8,
    "MassiveIntentClassification": 80.6,
    "MassiveScenarioClassification": 82.4,
    "MTOPDomainClassification": 96.1,
    "MTOPIntentClassification": 86.1,
    "ToxicConversationsClassification": 69.6,
    "TweetSentimentExtractionClassification": 63.7,
    "AskUbuntuDupQuestions": 67.0,
    "MindSmallReranking": 32.6,
    "SciDocsRR": 86.3,
    "StackOverflowDupQuestions": 54.9,
    "ArxivClusteringP2P": 50.5,
    "ArxivClusteringS2S": 45.5,
    "BiorxivClusteringP2P": 43.5,
    "BiorxivClusteringS2S": 40.2,
    "MedrxivClusteringP2P": 38.2,
    "MedrxivClusteringS2S": 37.5,
    "RedditClustering": 57.7,
    "RedditClusteringP2P": 66.5,
    "StackExchangeClustering": 73.1,
    "StackExchangeClusteringP2P": 45.9,
    "TwentyNewsgroupsClustering": 54.3,
    "ArguAna": 61.9,
    "ClimateFEVER": 38.4,
    "CQADupstackRetrieval": 43.0,
    "DBPedia": 48.9,
    "FEVER": 87.8,
    "FiQA2018": 56.6,
    "HotpotQA": 75.7,
    "MSMARCO": 43.1,
    "NFCorpus": 38.6,
    "NQ": 63.5,
    "QuoraRetrieval": 89.6,
    "SCIDOCS": 16.3,
    "SciFact": 76.4,
    "Touche2020": 26.4,
    "TRECCOVID": 87.2,
}


def build_summary(scores: dict[str, float], details: dict[str, dict]) -> dict:
    """scores: task name -> main score (0-1, as mteb reports it); details: task name -> {"type", "mteb_task", ...}."""
    tasks = {name: round(100 * float(value), 2) for name, value in scores.items()}
    by_type: dict[str, list[float]] = {}
    for name, value in tasks.items():
        by_type.setdefault(details.get(name, {}).get("type", "Other"), []).append(value)
    order = list(CATEGORIES) + sorted(set(by_type) - set(CATEGORIES))
    categories = {t: round(float(mean(by_type[t])), 2) for t in order if t in by_type}
    return {
        "tasks": tasks,
        "categories": categories,
        "average": round(float(mean(tasks.values())), 2) if tasks else None,
        "details": details,
    }


def subset_scores(summary: dict, mteb_task: str, skip: tuple[str, ...] = ()) -> dict[str, float]:
    """subset -> score of the per-subset entries of one mteb task in a summary (see runner.score_names), e.g.
    subset_scores(s, "STSBenchmarkMultilingualSTS", skip=("en",)) for the non-English STSBMulti-dev folders."""
    details = summary.get("details", {})
    return {
        details[name]["subset"]: value
        for name, value in summary["tasks"].items()
        if details.get(name, {}).get("mteb_task") == mteb_task
        and details[name].get("subset")
        and details[name]["subset"] not in skip
    }


def paper_score(name: str, detail: dict | None) -> float | None:
    """The paper's e5-mistral figure for a task, looked up by its mteb name (local tasks via `mteb_task`)."""
    detail = detail or {}
    if detail.get("comparable") is False or detail.get("subset") not in (None, *ENGLISH_SUBSETS):
        return None
    for key in (detail.get("mteb_task"), name):
        if key and key in PAPER_TASKS:
            return PAPER_TASKS[key]
        if key and key.lower().startswith("cqadupstack"):
            return None  # sub-forums; the paper reports only their average
    return None


def _fmt(value) -> str:
    return "–" if value is None else f"{value:.2f}"


def summary_markdown(summary: dict, title: str | None = None) -> str:
    """A by-category table (mean over the evaluated tasks) and a per-task table, each next to the paper's figures."""
    details = summary.get("details", {})
    lines = [f"### {title}", ""] if title else []
    lines += [
        "| category | tasks | score | e5-mistral-7b-instruct, same tasks | e5-mistral-7b-instruct, paper Table 1 |",
        "|---|---|---|---|---|",
    ]
    paper_all = []
    for category, value in summary["categories"].items():
        names = [t for t in summary["tasks"] if details.get(t, {}).get("type", "Other") == category]
        paper = [paper_score(t, details.get(t)) for t in names]
        paper_all += paper
        same = round(mean(paper), 2) if paper and None not in paper else None
        lines.append(
            f"| {category} | {len(names)} | {_fmt(value)} | {_fmt(same)} | {_fmt(PAPER_CATEGORIES.get(category))} |"
        )
    same_avg = round(mean(paper_all), 2) if paper_all and None not in paper_all else None
    lines.append(
        f"| **average** | {len(summary['tasks'])} | **{_fmt(summary['average'])}** | {_fmt(same_avg)} "
        f"| {_fmt(PAPER_CATEGORIES['average'])} |"
    )
    lines += ["", "| task | type | main score | score | e5-mistral-7b-instruct (paper) |", "|---|---|---|---|---|"]
    for name, value in summary["tasks"].items():
        d = details.get(name, {})
        lines.append(
            f"| {name} | {d.get('type', '')} | {d.get('main_score', '')} | {_fmt(value)} | {_fmt(paper_score(name, d))} |"
        )
    lines.append("")
    lines.append(
        "Paper figures (full data; Wang et al., 2024): Table 17 per task, averaged over the same tasks where all of "
        "them have one (local tasks without an mteb counterpart have none); Table 1 category averages cover all 56 "
        "tasks."
    )
    return "\n".join(lines) + "\n"


def write_summary(summary: dict, output_dir: str | Path, title: str | None = None) -> tuple[Path, Path]:
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = output_dir / "summary.json", output_dir / "summary.md"
    json_path.write_text(json.dumps(summary, indent=2) + "\n")
    md_path.write_text(summary_markdown(summary, title))
    return json_path, md_path

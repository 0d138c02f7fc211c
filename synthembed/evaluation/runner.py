"""Run mteb on a model with the E5 protocol: resolve tasks (names, a benchmark, local folders), evaluate with mteb's
own evaluators, write mteb's result files and the summary, and return the summary dict."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from synthembed.evaluation.encoder import E5ProtocolEncoder
from synthembed.evaluation.local_tasks import find_local_tasks, load_local_tasks
from synthembed.evaluation.passkey import passkey_tasks, warn_if_cut
from synthembed.evaluation.summary import build_summary, write_summary
from synthembed_common.config import first_line

logger = logging.getLogger(__name__)


class TaskSelectionError(ValueError):
    """An unknown task or benchmark name; the message says which."""


def resolve_tasks(tasks: list[str] | None = None, benchmark: str | None = None, local_tasks: list[str] | None = None):
    """mteb task objects for the named tasks, the benchmark's tasks and the local task folders (in that order)."""
    import mteb

    resolved = []
    if benchmark:
        try:
            resolved += list(mteb.get_benchmark(benchmark).tasks)
        except (KeyError, ValueError) as e:
            raise TaskSelectionError(f"unknown mteb benchmark {benchmark!r} ({first_line(e)[:200]})") from None
    for name in tasks or []:
        try:
            generated = passkey_tasks(name)  # Passkey, Passkey<N>: generated long-context tasks (passkey.py)
        except ValueError as e:
            raise TaskSelectionError(str(e)) from None
        if generated is not None:
            resolved += generated
            continue
        try:
            resolved.append(mteb.get_task(name))
        except (KeyError, ValueError):
            raise TaskSelectionError(f"unknown mteb task {name!r} (see `mteb.get_tasks()` for names)") from None
    resolved += load_local_tasks(find_local_tasks(local_tasks or []))
    if not resolved:
        raise TaskSelectionError("no tasks selected: give `tasks`, `benchmark` or `local_tasks`")
    names = [t.metadata.name for t in resolved]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise TaskSelectionError(f"task(s) selected twice: {', '.join(duplicates)}")
    return resolved


def _offline() -> bool:
    import huggingface_hub

    datasets_offline = os.environ.get("HF_DATASETS_OFFLINE", "").upper() in ("1", "ON", "YES", "TRUE")
    return huggingface_hub.is_offline_mode() or datasets_offline


def _not_cached_line(name: str, path: str) -> str:
    return (
        f"task {name}: its dataset {path} is not in the local cache and HF_HUB_OFFLINE forbids the download "
        "(run once online to cache it, or give a local copy with --local_tasks)"
    )


def check_cached(tasks) -> None:
    """Offline, every Hub task's dataset must be cached (huggingface_hub's or datasets' cache): else one line
    naming the task, before any model loads. Online, or for local tasks, nothing to check."""
    if not _offline():
        return
    import datasets.config
    from huggingface_hub.constants import HF_HUB_CACHE

    for task in tasks:
        if getattr(task, "local_spec", None) is not None or getattr(task, "data_loaded", False):
            continue
        for part in getattr(task.metadata, "tasks", None) or [task]:  # aggregates: every part's dataset
            path = part.metadata.dataset.get("path")
            if not path or Path(path).exists():
                continue
            namespace, _, repo = path.rpartition("/")
            hub = Path(HF_HUB_CACHE) / f"datasets--{path.replace('/', '--')}"
            built = Path(datasets.config.HF_DATASETS_CACHE) / (f"{namespace}___{repo}" if namespace else repo)
            if not (hub.is_dir() or built.is_dir()):
                raise TaskSelectionError(_not_cached_line(part.metadata.name, path))


def _unreachable(error: BaseException) -> bool:
    """The Hub could not be asked: offline and not cached, or no connection (huggingface_hub's and datasets' errors,
    anywhere in the chain mteb raises)."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, ConnectionError) or type(error).__name__ in (
            "OfflineModeIsEnabled",
            "LocalEntryNotFoundError",
        ):
            return True
        error = error.__cause__ or error.__context__
    return False


def _main_split(task) -> str:
    splits = list(task.eval_splits)
    return "test" if "test" in splits else splits[0]


def score_names(task) -> list[tuple[str, str | None]]:
    """(summary key, subset) of each score a task gives. A local folder naming an `hf_subset` of a multilingual mteb
    task is scored per subset under "<mteb task> (<subset>)", e.g. "STSBenchmarkMultilingualSTS (de)",
    "NTREXBitextMining (deu_Latn-eng_Latn)" (the card's "MTEB <task> (<subset>)"); every other task gives one score
    under its mteb name (several subsets of a Hub task: their mean, as mteb's `get_score`)."""
    name = task.metadata.name
    subsets = getattr(task, "local_subsets", None) or {}
    if task.metadata.is_multilingual and any(spec.get("hf_subset") for spec in subsets.values()):
        return [(f"{name} ({subset})", subset) for subset in subsets]
    return [(name, None)]


def subset_score(task_result, split: str, subset: str) -> float:
    """One subset's main score (0-1) from an mteb TaskResult."""
    return float(next(s["main_score"] for s in task_result.scores[split] if s["hf_subset"] == subset))


def task_detail(task, subset: str | None = None) -> dict:
    meta = task.metadata
    local = getattr(task, "local_spec", None)
    subsets = [subset] if subset else list(task.hf_subsets or ["default"])
    if subset:
        local = task.local_subsets[subset]
    return {
        "type": (local or {}).get("category") or meta.type,  # passkey tasks: a category of their own
        "mteb_task": meta.name if not local else local.get("mteb_task"),
        "main_score": meta.main_score,
        "split": _main_split(task),
        "subset": subsets[0] if len(subsets) == 1 else None,
        "languages": meta.hf_subsets_to_langscripts.get(subsets[0]) if len(subsets) == 1 else None,
        "folder": Path(local["folder"]).name if local and local.get("folder") else None,
        "dataset": meta.dataset.get("path") if (not local or local.get("mteb_task")) else f"local/{meta.name}",
        "revision": meta.dataset.get("revision"),
        "local": bool(local),
        "comparable": not local or bool(local.get("mteb_task")),
    }


def evaluate_model(
    model_name_or_path: str | Path,
    *,
    tasks: list[str] | None = None,
    benchmark: str | None = None,
    local_tasks: list[str] | None = None,
    output_dir: str | Path = "eval_results",
    batch_size: int = 32,
    device: str | None = None,
    fp16: bool | None = None,
    bf16: bool = False,
    doc_as_query: bool = False,
    encoder: E5ProtocolEncoder | None = None,
    model_name: str | None = None,
    query_template: str | None = None,
    show_progress_bar: bool = True,
    state=None,
) -> dict:
    """Evaluate and write `output_dir/{results/<model>/<revision>/*.json, summary.json, summary.md}`; return the summary.
    Each task's score is logged as soon as it is known. `state`: accelerate's PartialState of a multi-process launch
    (sharding.py): this rank evaluates its share of the tasks, rank 0 writes everything; every rank returns the
    summary."""
    import mteb

    from synthembed.evaluation import sharding

    output_dir = Path(output_dir)
    selected = resolve_tasks(tasks, benchmark, local_tasks)
    check_cached(selected)
    if encoder is None:
        encoder = E5ProtocolEncoder(
            model_name_or_path,
            device=device,
            batch_size=batch_size,
            fp16=fp16,
            bf16=bf16,
            doc_as_query=doc_as_query,
            model_name=model_name,
            query_template=query_template,
        )
    # Every task needs its instruction before anything runs (Wang et al., 2024, Table 15; task.json may add one).
    if encoder.template:
        for task in selected:
            local = getattr(task, "local_spec", None) or {}
            if local.get("instruction"):
                encoder.instruction_overrides[task.metadata.name] = local["instruction"]
            try:
                encoder.instruction_for(task.metadata.name, task.metadata.type)
            except ValueError as e:
                default = encoder.settings.default_instruction
                if not (local and default):
                    raise TaskSelectionError(f"{e}; add an `instruction` to its task.json") from None
                # A local task of one's own (e.g. built from generated data): the model's own default instruction.
                logger.warning(
                    "%s: no instruction in the table or task.json; using the model's default %r",
                    task.metadata.name,
                    default,
                )
                encoder.instruction_overrides[task.metadata.name] = default
    warn_if_cut(selected, encoder.model.max_seq_length)
    protocol = f"the E5 protocol (template {encoder.template.template!r})" if encoder.template else "no instructions"
    logger.info("Evaluating %s on %d task(s) with %s", model_name_or_path, len(selected), protocol)
    start = time.perf_counter()
    cache = mteb.ResultCache(output_dir)  # mteb writes output_dir/results/<model>/<revision>/<task>.json
    encode_kwargs = {"batch_size": batch_size, "show_progress_bar": show_progress_bar}
    ranks = state.num_processes if state else 1
    owner = sharding.deal([sharding.task_size(t) for t in selected], ranks) if state else [0] * len(selected)
    if state:
        mine = [t.metadata.name for t, r in zip(selected, owner) if r == state.process_index]
        logger.info("Rank %d of %d evaluates %d task(s): %s", state.process_index, ranks, len(mine), ", ".join(mine))
    results = []
    for number, task in enumerate(selected, 1):  # one task at a time: each score is logged when it is known
        if owner[number - 1] != (state.process_index if state else 0):
            continue
        try:
            result = mteb.evaluate(
                encoder,
                [task],
                cache=None if state else cache,  # several processes: rank 0 saves every result below
                overwrite_strategy="always",
                encode_kwargs=encode_kwargs,
                show_progress_bar=show_progress_bar,
            )
        except (
            Exception
        ) as e:  # the dataset could not be fetched (the cache check can miss a task loading other repos)
            if not _unreachable(e):
                raise
            name, path = task.metadata.name, task.metadata.dataset.get("path")
            if _offline():
                raise TaskSelectionError(_not_cached_line(name, path)) from None
            raise TaskSelectionError(f"task {name}: cannot download its dataset {path} ({first_line(e)})") from None
        for task_result in result.task_results:
            split = _main_split(task)
            for key, subset in score_names(task):
                score = subset_score(task_result, split, subset) if subset else task_result.get_score(splits=[split])
                logger.info("[%d/%d] %s: %s %.2f", number, len(selected), key, task.metadata.main_score, 100 * score)
            results.append((number - 1, task_result))
    if state:
        results = sharding.gather_results(results)
        if state.is_main_process:
            for _, task_result in results:
                cache.save_to_cache(task_result, encoder.mteb_model_meta, encode_kwargs=encode_kwargs)
    by_name = {t.metadata.name: t for t in selected}
    scores, details = {}, {}
    for _, task_result in results:
        task = by_name[task_result.task_name]
        for key, subset in score_names(task):
            details[key] = detail = task_detail(task, subset)
            if subset:
                scores[key] = subset_score(task_result, detail["split"], subset)
            else:
                scores[key] = float(task_result.get_score(splits=[detail["split"]]))
            detail["evaluation_time_s"] = round(float(task_result.evaluation_time or 0.0), 1)
    elapsed = time.perf_counter() - start
    summary = build_summary(scores, details)
    summary["model"] = str(model_name_or_path)
    summary["protocol"] = "e5-instruction" if encoder.template else "plain"
    summary["evaluation_time_s"] = round(elapsed, 1)
    summary["mteb_version"] = mteb.__version__
    if state is None or state.is_main_process:
        write_summary(summary, output_dir, title=encoder.name)
        logger.info(
            "Average %.2f over %d task(s) in %.0fs; summary in %s",
            summary["average"],
            len(scores),
            elapsed,
            output_dir,
        )
    return summary

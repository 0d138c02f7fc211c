"""The paper's two-step generation (`mode: synthetic`, Wang et al., 2024, §3.1): brainstorm -> tasks -> one generation
request per example -> validated rows. Stage "brainstorm" brainstorms once for all shards; stage "generate" reads
that shared task list."""

from __future__ import annotations

import json
from collections import Counter

from data_generation.config import GenerationConfig
from data_generation.engine import Mode, ModeResult, Session, shared_brainstorm_dir
from data_generation.parsing import Deduper, normalize, parse_brainstorm, parse_example
from data_generation.plan import Request, brainstorm_requests, generation_requests, in_shard, split_counts
from data_generation.templates import FIXED_INSTRUCTIONS, PROMPT_VERSION, TASK_TYPES, TWO_STEP_TASK_TYPES
from synthembed_common.files import write_text_atomic


def parse_tasks(request: Request, record: dict) -> list[str]:
    return parse_brainstorm(record["content"], record.get("finish_reason"))


def parse_generated(request: Request, record: dict) -> tuple[str, str, str | None]:
    return parse_example(request.task_type, record["content"], record.get("finish_reason"))


def collect_tasks(session: Session, requests: list[Request]) -> tuple[dict[str, list[str]], Counter]:
    """Brainstormed tasks per task type, deduplicated (normalised) in plan order, and brainstorm rejections."""
    tasks: dict[str, list[str]] = {}
    seen: dict[str, set] = {}
    rejections = Counter()
    for request, parsed in session.replies(requests, rejections, parse_tasks):
        for task in parsed:
            if normalize(task) not in seen.setdefault(request.task_type, set()):
                seen[request.task_type].add(normalize(task))
                tasks.setdefault(request.task_type, []).append(task)
    return tasks, rejections


def build_rows(session: Session, requests: list[Request]) -> tuple[list[dict], Counter]:
    rows, rejections, dedup = [], Counter(), Deduper(session.config.dedup_on)
    for request, (query, positive, negative) in session.replies(requests, rejections, parse_generated):
        if dedup.is_duplicate(query, positive, negative):
            rejections["duplicate"] += 1
            continue
        meta = request.meta
        bitext = request.task_type == "bitext"
        rows.append(
            {
                "query": query,
                "positive": positive,
                "negative": negative,
                "instruction": FIXED_INSTRUCTIONS.get(request.task_type) or meta["task"],
                "task_type": request.task_type,
                "language": request.language,
                "source_language": meta["src_lang"] if bitext else None,
                "target_language": meta["tgt_lang"] if bitext else None,
                "generator_model": request.model,
                "placeholders": json.dumps(
                    {k: v for k, v in meta.items() if k != "task"}, ensure_ascii=False, sort_keys=True
                ),
                "prompt_version": PROMPT_VERSION,
            }
        )
    return rows, rejections


def prepare(config: GenerationConfig) -> None:
    return None  # the shared task list of stage "generate" is read by run (the command line checks it is there)


async def run(session: Session, inputs: None) -> ModeResult:
    config = session.config
    brainstorm, generate, no_task, failed, brainstorm_rejections = [], [], {}, Counter(), Counter()
    if config.stage == "generate":  # the shared brainstorm ran once before the shards (stage "brainstorm")
        tasks = json.loads((shared_brainstorm_dir(config) / "tasks.json").read_text())
    else:
        brainstorm = brainstorm_requests(config)
        failed += await session.complete(brainstorm, "brainstorm", parse_tasks)
        tasks, brainstorm_rejections = collect_tasks(session, brainstorm)
        tasks = session.gate.filter_tasks(tasks, brainstorm_rejections)
        text = json.dumps(tasks, indent=1, ensure_ascii=False) + "\n"
        write_text_atomic(session.directory / "tasks.json", text)
    rows, rejections = [], Counter()
    if config.stage != "brainstorm":
        generate, no_task = generation_requests(config, tasks)
        failed += await session.complete(generate, "generate", parse_generated)
        rows, rejections = build_rows(session, generate)
    if no_task:
        rejections["no_brainstormed_task"] += sum(no_task.values())
    counts = split_counts(config.num_examples, config.task_proportions)
    planned = {t: sum(in_shard(config, i) for i in range(counts[t])) for t in TASK_TYPES}
    if config.stage == "brainstorm":
        planned = dict.fromkeys(TASK_TYPES, 0)  # the shards request the examples
    return ModeResult(
        prompt_version=PROMPT_VERSION,
        requested_examples=planned,
        rows=rows,
        rejections=rejections,
        requests=brainstorm + generate,
        unfinished=sum(failed.values()),
        brainstorm={
            "calls": len(brainstorm),
            # stage "generate": the shared brainstorm's stats count its tasks, once for all shards
            "unique_tasks": {} if config.stage == "generate" else {t: len(v) for t, v in tasks.items()},
            "rejections": brainstorm_rejections,
        },
    )


def plan(config: GenerationConfig, inputs: None, assumed_task_chars: int = 120) -> tuple[list, list]:
    """The requests of the run, brainstormed tasks assumed `assumed_task_chars` long; relabeling ranks the examples."""
    tasks = {t: ["x" * assumed_task_chars] for t in TWO_STEP_TASK_TYPES}
    generate, _ = generation_requests(config, tasks)
    return brainstorm_requests(config) + generate, generate


MODE = Mode("synthetic", prepare, run, plan)

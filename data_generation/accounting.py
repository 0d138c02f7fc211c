"""Token and cost accounting per model, task type, language and phase, from the store (so a resumed run counts each
completed request exactly once). Prices are USD per 1M tokens from the recipe's `prices` table."""

from __future__ import annotations

from collections import defaultdict


def _empty():
    return {"requests": 0, "prompt_tokens": 0, "completion_tokens": 0, "cost_usd": 0.0}


class Ledger:
    def __init__(self, prices: dict | None = None, batch_discount: float = 0.5):
        self.prices = prices or {}
        self.batch_discount = batch_discount
        self.tables: dict[str, dict[str, dict]] = {
            k: defaultdict(_empty) for k in ("model", "task_type", "language", "phase")
        }
        self.timed_out: dict[str, dict] = defaultdict(_empty)  # by model, apart from the totals
        self.unpriced: set[str] = set()

    def cost(self, model: str, prompt_tokens: int, completion_tokens: int, batch: bool = False) -> float:
        price = self.prices.get(model)
        if price is None:
            self.unpriced.add(model)
            return 0.0
        usd = (prompt_tokens * price.get("prompt", 0) + completion_tokens * price.get("completion", 0)) / 1e6
        return usd * (self.batch_discount if batch else 1.0)

    def add(self, record: dict, task_type: str, language: str | None, phase: str) -> None:
        usage = record.get("usage") or {}
        prompt, completion = usage.get("prompt_tokens") or 0, usage.get("completion_tokens") or 0
        model = record["request"]["model"]
        usd = self.cost(model, prompt, completion, batch=record.get("mode") == "batch")
        for table, name in (
            ("model", model),
            ("task_type", task_type),
            ("language", language or "n/a"),
            ("phase", phase),
        ):
            row = self.tables[table][name]
            row["requests"] += 1
            row["prompt_tokens"] += prompt
            row["completion_tokens"] += completion
            row["cost_usd"] += usd

    def add_timed_out(self, timed_out: dict[str, list[int]]) -> None:
        """{model: [attempts, estimated prompt tokens]} of attempts that timed out on the client after being sent: the
        server may have served and billed them (completion tokens unknown, counted as 0)."""
        for model, (attempts, prompt_tokens) in timed_out.items():
            row = self.timed_out[model]
            row["requests"] += attempts
            row["prompt_tokens"] += prompt_tokens
            row["cost_usd"] += self.cost(model, prompt_tokens, 0)

    def totals(self) -> dict:
        total = _empty()
        for row in self.tables["phase"].values():
            for k in total:
                total[k] += row[k]
        total["cost_usd"] = round(total["cost_usd"], 6)
        return total

    def to_dict(self) -> dict:
        out = {
            f"by_{table}": {k: {**v, "cost_usd": round(v["cost_usd"], 6)} for k, v in sorted(rows.items())}
            for table, rows in self.tables.items()
        }
        out["total"] = self.totals()
        # requests timed out on the client, possibly billed (estimated prompt tokens; not in the total)
        out["timed_out_possibly_billed"] = {
            k: {**v, "cost_usd": round(v["cost_usd"], 6)} for k, v in sorted(self.timed_out.items())
        }
        out["unpriced_models"] = sorted(self.unpriced)
        return out


def usage_of(config, requests: list, store, timed_out: dict | None = None) -> dict:
    """Tokens and cost of the stored replies of `requests` (each counted once, however often the run resumed), and of
    the client's `timed_out` attempts apart."""
    ledger = Ledger(config.prices, config.batch_discount)
    for request in requests:
        record = store.get(request.key)
        if record is not None:
            ledger.add(record, request.task_type, request.language, request.phase)
    ledger.add_timed_out(timed_out or {})
    return ledger.to_dict()


def merge_usage(usages: list[dict]) -> dict:
    """Sum the `to_dict()` outputs of several shards."""
    merged: dict = {}
    for usage in usages:
        for table, rows in usage.items():
            if table == "unpriced_models":
                merged[table] = sorted(set(merged.get(table, [])) | set(rows))
            elif table == "total":
                tot = merged.setdefault("total", _empty())
                for k in tot:
                    tot[k] += rows.get(k, 0)
            else:
                dest = merged.setdefault(table, {})
                for name, row in rows.items():
                    acc = dest.setdefault(name, _empty())
                    for k in acc:
                        acc[k] += row.get(k, 0)
    return merged


def plan_ceiling(config, requests: list, default_max_tokens: int = 1024, to_relabel: list = ()) -> dict:
    """{requests per phase/task type, cost ceiling} of planned requests (prompt ~ chars / 4, completion at max), plus
    one ranking request per example of `to_relabel` when relabeling is on."""
    ledger = Ledger(config.prices, config.batch_discount)
    mode = "batch" if config.use_batch_api else "online"
    counts: dict[str, int] = defaultdict(int)
    for request in requests:
        counts[f"{request.phase}/{request.task_type}"] += 1
        usage = {
            "prompt_tokens": sum(len(m["content"]) for m in request.messages) // 4,
            "completion_tokens": request.params.get("max_tokens") or default_max_tokens,
        }
        ledger.add(request.record(mode, usage=usage), request.task_type, request.language, request.phase)
    if config.relabel_enabled and to_relabel:  # data_generation.relabel
        from data_generation.relabel import estimated_usage, ranking_model

        for task_type, language, usage in estimated_usage(config, to_relabel):
            counts[f"relabel/{task_type}"] += 1
            record = {"request": {"model": ranking_model(config)}, "usage": usage, "mode": mode}
            ledger.add(record, task_type, language, "relabel")
    return {"requests": dict(sorted(counts.items())), "ceiling": ledger.to_dict()}

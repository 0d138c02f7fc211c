"""The learning curve of a run, from the Trainer's log history: dev scores and training loss against steps."""

from __future__ import annotations

from pathlib import Path

CURVE_NAME = "learning_curve.png"
DEV_SCORES = ("cosine_spearman", "accuracy")  # STS dev sets; held-out training rows (in-batch retrieval)


def dev_series(log_history: list[dict]) -> dict[str, list[tuple[int, float]]]:
    """{"eval_<set>_<score>": [(step, value), ...]} for every dev score logged by the eval loop."""
    series: dict[str, list[tuple[int, float]]] = {}
    for entry in log_history:
        for key, value in entry.items():
            if key.startswith("eval_") and key.endswith(DEV_SCORES):
                series.setdefault(key, []).append((int(entry["step"]), float(value)))
    return series


def dev_metrics(log_history: list[dict]) -> dict[str, dict[str, float]]:
    """First, last and best value of each dev score (for the training summary and the card)."""
    out = {}
    for key, points in dev_series(log_history).items():
        values = [v for _, v in points]
        out[key.removeprefix("eval_")] = {
            "first": round(values[0], 4),
            "last": round(values[-1], 4),
            "best": round(max(values), 4),
            "steps": [points[0][0], points[-1][0]],
        }
    return out


def plot_learning_curve(log_history: list[dict], path: str | Path) -> Path | None:
    """Dev scores (×100) and training loss against steps; None when the run logged neither."""
    series = dev_series(log_history)
    loss = [(int(h["step"]), float(h["loss"])) for h in log_history if "loss" in h and "step" in h]
    if not series and not loss:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [p for p in ("dev", "loss") if (series if p == "dev" else loss)]
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 3.4), dpi=100, squeeze=False)
    for ax, panel in zip(axes[0], panels):
        if panel == "dev":
            for key, points in series.items():
                steps, values = zip(*points)
                ax.plot(steps, [100 * v for v in values], marker="o", label=key.removeprefix("eval_"))
            ax.set_ylabel("dev score x100")
            ax.legend(fontsize=8)
            ax.set_title("Dev set during training", fontsize=10)
        else:
            steps, values = zip(*loss)
            ax.plot(steps, values, color="#555555")
            ax.set_ylabel("training loss (InfoNCE)")
            ax.set_title("Training loss", fontsize=10)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path

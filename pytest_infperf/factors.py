"""The latency study's factor analysis: how batch size, input length, output length and GPU count drive TTFT,
TTLT, normalised latency, throughput and GPU utilisation.

As the thesis did, two views per (engine, model): the Pearson correlation matrix of factors and responses, and
the permutation feature importance of each factor for each response. The importance comes from scikit-learn's
`permutation_importance` on a `RandomForestRegressor` (300 trees, fixed seed) fitted to the records'
configurations: a forest because the responses are not linear in the factors (TTLT grows with batch size and
output length together), permutation because it asks the question the study asks ("how much worse does the
model predict this response without that factor?") without favouring factors with many levels, as impurity
importance does. The importance is measured on the data the forest was fitted to (a grid of a few dozen
configurations has nothing to hold out); the forest's cross-validated R² is reported beside it, so a response
the factors do not explain is not read as explained."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

FACTORS = ("batch_size", "input_len_tokens", "output_len_tokens", "gpus")
RESPONSES = ("ttft_p50_s", "ttlt_s", "normalised_latency_s_per_tok", "throughput_tok_s", "gpu_util_mean_pct")
ESTIMATOR = "RandomForestRegressor(n_estimators=300, random_state=0)"
PERMUTATION_REPEATS = 30
MIN_CONFIGURATIONS = 6  # fewer points than this say nothing about four factors


@dataclass
class FactorAnalysis:
    """One (engine, model)'s factor analysis over its ok records."""

    engine: str
    model: str
    configurations: int
    factors: list[str]  # the factors that vary (a constant factor has no correlation and no importance)
    responses: list[str]  # the responses every configuration has
    correlation: dict[tuple[str, str], float] = field(default_factory=dict)  # (row, column) -> Pearson r
    importance: dict[str, dict[str, tuple[float, float]]] = field(
        default_factory=dict
    )  # resp -> factor -> (mean, sd)
    cv_r2: dict[str, float | None] = field(default_factory=dict)  # response -> out-of-fold R² (5 folds)

    @property
    def variables(self) -> list[str]:
        return [*self.factors, *self.responses]


def _table(records: Sequence[dict[str, Any]]) -> Any:
    """One row per configuration (the medians of its newest record), the factors and responses as columns.
    Only records with every factor take part: HumanEval's prompts have no single input length."""
    import pandas as pd

    latest: dict[tuple[Any, ...], dict[str, Any]] = {}
    for r in sorted(records, key=lambda r: str(r.get("timestamp"))):
        latest[tuple(r.get(f) for f in (*FACTORS, "workload"))] = r
    frame = pd.DataFrame(
        [{name: r.get(name) for name in (*FACTORS, *RESPONSES)} for r in latest.values()],
        columns=[*FACTORS, *RESPONSES],
        dtype=float,
    )
    return frame.dropna(subset=list(FACTORS)).reset_index(drop=True)


def analyse(engine: str, model: str, records: Sequence[dict[str, Any]]) -> FactorAnalysis | None:
    """The analysis of one (engine, model)'s ok offline records, or None where fewer than MIN_CONFIGURATIONS
    configurations or fewer than two varying factors leave nothing to analyse."""
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.inspection import permutation_importance
    from sklearn.metrics import r2_score
    from sklearn.model_selection import KFold, cross_val_predict

    frame = _table(records)
    factors = [f for f in FACTORS if frame[f].nunique() > 1]
    responses = [m for m in RESPONSES if frame[m].notna().all() and frame[m].nunique() > 1]
    if len(frame) < MIN_CONFIGURATIONS or len(factors) < 2 or not responses:
        return None
    result = FactorAnalysis(engine, model, len(frame), factors, responses)
    corr = frame[result.variables].corr(method="pearson")
    result.correlation = {(a, b): float(corr.loc[a, b]) for a in result.variables for b in result.variables}
    features = frame[factors].to_numpy()
    folds = KFold(n_splits=min(5, len(frame)), shuffle=True, random_state=0)
    for response in responses:
        target = frame[response].to_numpy()
        forest = RandomForestRegressor(n_estimators=300, random_state=0)
        out_of_fold = cross_val_predict(
            forest, features, target, cv=folds
        )  # R² over all held-out predictions
        result.cv_r2[response] = float(r2_score(target, out_of_fold))
        forest.fit(features, target)
        permuted = permutation_importance(
            forest, features, target, n_repeats=PERMUTATION_REPEATS, random_state=0, scoring="r2"
        )
        result.importance[response] = {
            f: (float(m), float(s))
            for f, m, s in zip(factors, permuted.importances_mean, permuted.importances_std)
        }
    return result


def analyse_all(records: Sequence[dict[str, Any]]) -> list[FactorAnalysis]:
    """Every (engine, model) of `records` (ok offline records) with a grid worth analysing."""
    by_key: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in records:
        by_key.setdefault((r["engine"], r["model"]), []).append(r)
    found = (analyse(engine, model, rows) for (engine, model), rows in sorted(by_key.items()))
    return [a for a in found if a is not None]


def markdown(analysis: FactorAnalysis) -> list[str]:
    """The correlation matrix and the importance table, as Markdown."""
    variables = analysis.variables
    md = [
        f"Pearson correlation over {analysis.configurations} configurations:",
        "",
        "| | " + " | ".join(variables) + " |",
        "|---|" + "---:|" * len(variables),
    ]
    for a in variables:
        md.append(f"| {a} | " + " | ".join(f"{analysis.correlation[(a, b)]:+.2f}" for b in variables) + " |")
    md += [
        "",
        f"Permutation importance (drop in R² when the factor is shuffled, mean ± sd of "
        f"{PERMUTATION_REPEATS} shuffles; estimator `{ESTIMATOR}`, its out-of-fold R² (5 folds) beside it):",
        "",
        "| response | " + " | ".join(analysis.factors) + " | out-of-fold R² |",
        "|---|" + "---:|" * (len(analysis.factors) + 1),
    ]
    for response, by_factor in analysis.importance.items():
        r2 = analysis.cv_r2.get(response)
        cells = [f"{m:.3f} ± {s:.3f}" for m, s in by_factor.values()] + [
            f"{r2:+.2f}" if r2 is not None else "-"
        ]
        md.append(f"| {response} | " + " | ".join(cells) + " |")
    return md + [""]


def plot(analysis: FactorAnalysis, plt: Any, path: Any) -> None:
    """The correlation heatmap (values in the cells) and the importance bars, side by side, as a PNG."""
    import numpy as np

    variables = analysis.variables
    matrix = np.array([[analysis.correlation[(a, b)] for b in variables] for a in variables])
    fig, axes = plt.subplots(1, 2, figsize=(15, 5.2), gridspec_kw={"width_ratios": [1, 1.2]})
    image = axes[0].imshow(matrix, vmin=-1, vmax=1, cmap="RdBu_r")
    for i in range(len(variables)):
        for j in range(len(variables)):
            axes[0].text(
                j,
                i,
                f"{matrix[i, j]:+.2f}",
                ha="center",
                va="center",
                fontsize=7,
                color="white" if abs(matrix[i, j]) > 0.6 else "black",
            )
    axes[0].set_xticks(range(len(variables)), variables, rotation=35, ha="right", fontsize=7)
    axes[0].set_yticks(range(len(variables)), variables, fontsize=7)
    axes[0].set_title(f"Pearson r over {analysis.configurations} configurations", fontsize=9)
    fig.colorbar(image, ax=axes[0], label="Pearson r")
    responses, factors = list(analysis.importance), analysis.factors
    width = 0.8 / len(factors)
    for k, factor in enumerate(factors):
        means = [analysis.importance[r][factor][0] for r in responses]
        sds = [analysis.importance[r][factor][1] for r in responses]
        axes[1].bar(np.arange(len(responses)) + k * width, means, width, yerr=sds, capsize=2, label=factor)
    axes[1].set_xticks(
        np.arange(len(responses)) + width * (len(factors) - 1) / 2,
        [f"{r}\n(out-of-fold R² {analysis.cv_r2[r]:+.2f})" for r in responses],
        fontsize=7,
    )
    axes[1].set(ylabel="drop in R² when shuffled", title=f"permutation importance ({ESTIMATOR})")
    axes[1].title.set_fontsize(9)
    axes[1].legend(fontsize=7)
    fig.suptitle(f"{analysis.engine} · {analysis.model}: latency factors", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)

"""The suite's report: one table over every benchmark, a Markdown copy, and a figure.

`suite` below is the dict `python -m benchmarks` writes to `benchmarks/results/<machine>.json`:
`{"machine": {...}, "quick": bool, "benchmarks": {name: {"status", "seconds", "result", "error"}}}`.
"""

from __future__ import annotations

import math

STATUS_OK = "ok"


def _fmt(x) -> str:
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return str(x)
    if math.isnan(x):
        return "nan"
    return f"{x:.3g}"


def table_rows(suite: dict) -> list[tuple]:
    """`(benchmark, case, jaxdae, baseline, baseline value, unit, ratio)` for every row, and one
    row per benchmark that did not run (its status in the ratio column)."""
    out = []
    for name, entry in suite["benchmarks"].items():
        if entry["status"] != STATUS_OK:
            out.append((name, entry.get("error", "")[:70], "", "", "", "", entry["status"].upper()))
            continue
        result = entry["result"]
        for r in result.get("rows", []):
            out.append((name, r["case"], _fmt(r["jaxdae"]), r["baseline_name"], _fmt(r["baseline"]), r["unit"],
                        _fmt(r["ratio"]) + "x"))
        for c in result.get("curves", []):
            out.append((name, c["what"], "", "expected order", _fmt(c["expected_order"]), "order",
                        _fmt(c["measured_order"])))
        for k, v in (result.get("roofline") or {}).items():
            if "fraction" in k or k.startswith("vs_"):
                out.append((name, f"roofline: {k}", _fmt(v), "", "", "fraction", ""))
        out += [(name, note[:70], "", "", "", "", "FAILED") for note in result.get("notes", []) if "failed" in note]
    return out


HEADER = ("benchmark", "case", "jaxdae", "baseline", "baseline value", "unit", "ratio")


def text_table(suite: dict) -> str:
    """The table as aligned plain text."""
    lines = [HEADER] + table_rows(suite)
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(HEADER))]
    return "\n".join("  ".join(str(c).ljust(w) for c, w in zip(line, widths)).rstrip() for line in lines)


def markdown(suite: dict) -> str:
    """The table as Markdown, with the machine it ran on (included by the Performance page)."""
    m = suite["machine"]
    dev = m.get("devices", {})
    head = (f"Machine `{m.get('name')}`: {m.get('cpu')} ({m.get('cpu_count')} cores), backend "
            f"`{m.get('backend')}` ({m.get('device_count')} x {dev.get('kind')}), jax "
            f"{m.get('versions', {}).get('jax')}{', CUDA ' + m['cuda'] if m.get('cuda') else ''}; "
            f"{'quick' if suite.get('quick') else 'full'} run, {suite.get('wall_s', 0):.0f} s in all.\n\n")
    rows = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    rows += ["| " + " | ".join(str(c).replace("|", "/") for c in r) + " |" for r in table_rows(suite)]
    return head + "\n".join(rows) + "\n"


def _ratio_panel(ax, suite):
    labels, ratios = [], []
    for name, entry in suite["benchmarks"].items():
        for r in (entry.get("result") or {}).get("rows", []):
            if r["ratio"] == r["ratio"] and r["ratio"] > 0:
                labels.append(f"{name}: {r['case'][:28]} vs {r['baseline_name'][:20]}")
                ratios.append(r["ratio"])
    ax.barh(range(len(ratios)), ratios, color=["tab:green" if x >= 1 else "tab:red" for x in ratios])
    ax.set_yticks(range(len(ratios)), labels, fontsize=6)
    ax.axvline(1.0, color="k", lw=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("ratio (> 1: jaxdae better)")
    ax.set_title("jaxdae against its baselines")


def _scaling_panel(ax, suite):
    for entry in suite["benchmarks"].values():
        for c in (entry.get("result") or {}).get("curves", []):
            x = [s / c["sizes"][0] for s in c["sizes"]]
            y = [s / c["seconds"][0] for s in c["seconds"]]
            line, = ax.loglog(x, y, "o-", label=f"{c['name']} (order {c['measured_order']:.2f})")
            # The expected order through the largest size, where fixed per-call costs matter least.
            ax.loglog(x, [y[-1] * (v / x[-1]) ** c["expected_order"] for v in x], ":", color=line.get_color(), lw=0.8)
    ax.set_xlabel("size / smallest size")
    ax.set_ylabel("cost / cost at smallest size")
    ax.set_title("scaling (dotted: expected order)")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=6)


def _throughput_panel(ax, suite):
    labels, values = [], []
    for name, entry in suite["benchmarks"].items():
        for r in (entry.get("result") or {}).get("rows", []):
            if r["unit"].endswith("/s") and f"{name}: {r['case'][:28]}" not in labels:
                labels.append(f"{name}: {r['case'][:28]}")
                values.append(r["jaxdae"])
    ax.barh(range(len(values)), values, color="tab:blue")
    ax.set_yticks(range(len(values)), labels, fontsize=6)
    ax.set_xscale("log")
    ax.set_xlabel("jaxdae throughput (per second, in each row's unit)")
    ax.set_title("throughput")


def figure(suite: dict):
    """A matplotlib `Figure`: ratios, throughput and scaling curves of one suite run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(16, 5), layout="constrained")
    _ratio_panel(axes[0], suite)
    _throughput_panel(axes[1], suite)
    _scaling_panel(axes[2], suite)
    fig.suptitle(f"jaxdae benchmarks on {suite['machine'].get('name')}")
    return fig

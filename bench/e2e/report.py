"""Turns the rows bench/e2e.sh measured into bench/results/e2e.md and three charts.

Usage: python bench/e2e/report.py ROWS.tsv META.env OUT_DIR
ROWS.tsv has one row per (round, server, model, concurrency) cell; META.env holds key=value lines that
describe the run. Summaries are medians over rounds; error bars and ranges span the rounds' min and max.
"""
import csv
import statistics
import sys
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402

PD, PEER = "pd-inference", "fastapi-onnxruntime"
LABELS = {PD: "pd-inference (Swift)", PEER: "FastAPI + uvicorn + onnxruntime"}
COLORS = {PD: "#1f6fb4", PEER: "#e8772e"}
TARGET_RPS_RATIO, TARGET_RSS_RATIO, HEADLINE_CONCURRENCY = 3.0, 1 / 3, 64


def load(tsv: Path):
    rows = list(csv.DictReader(tsv.open(), delimiter="\t"))
    for r in rows:
        for k in ("round", "concurrency", "errors", "requests"):
            r[k] = int(r[k])
        for k in ("rps", "p50_ms", "p90_ms", "p99_ms", "max_ms", "cpu_us_per_req", "peak_rss_mib", "rss_mib",
                  "pss_mib", "wrk_cpu_pct", "other_cpu_pct"):
            r[k] = float(r[k])
    return rows


def ordered(values):
    seen = []
    for v in values:
        if v not in seen:
            seen.append(v)
    return seen


class Summary:
    """Per (server, model, concurrency): the values of every round for each metric."""

    def __init__(self, rows):
        self.cells = defaultdict(lambda: defaultdict(list))
        for r in rows:
            cell = self.cells[(r["server"], r["model"], r["concurrency"])]
            for k, v in r.items():
                if isinstance(v, (int, float)):
                    cell[k].append(v)
        self.models = ordered(r["model"] for r in rows)
        self.concurrencies = sorted({r["concurrency"] for r in rows})
        self.rows = rows

    def median(self, server, model, conc, key):
        return statistics.median(self.cells[(server, model, conc)][key])

    def spread(self, server, model, conc, key):
        values = self.cells[(server, model, conc)][key]
        return min(values), max(values)

    def total(self, server, model, conc, key):
        return sum(self.cells[(server, model, conc)][key])

    def peak_rss(self, server, key="peak_rss_mib"):
        """Median over rounds of each round's largest value over all cells of the server."""
        per_round = defaultdict(float)
        for r in self.rows:
            if r["server"] == server:
                per_round[r["round"]] = max(per_round[r["round"]], r[key])
        return statistics.median(per_round.values())


def fmt(v, digits=1):
    return f"{v:,.{digits}f}"


def met(ok: bool) -> str:
    return "**met**" if ok else "**not met**"


def headline(s: Summary):
    lines, verdicts = [], {}
    for model in s.models:
        if HEADLINE_CONCURRENCY in s.concurrencies:
            a = s.median(PD, model, HEADLINE_CONCURRENCY, "rps")
            b = s.median(PEER, model, HEADLINE_CONCURRENCY, "rps")
            ok = a >= TARGET_RPS_RATIO * b
            verdicts[(model, "rps")] = (a / b, ok)
            lines.append(f"- **{model}, throughput at concurrency {HEADLINE_CONCURRENCY}:** {fmt(a, 0)} vs {fmt(b, 0)} "
                         f"req/s, **{a / b:.2f}x** (target at least {TARGET_RPS_RATIO:.0f}x: {met(ok)})")
        parts, all_lower = [], True
        for c in s.concurrencies:
            a, b = s.median(PD, model, c, "p99_ms"), s.median(PEER, model, c, "p99_ms")
            all_lower &= a < b
            parts.append(f"c={c}: {fmt(a, 2)} vs {fmt(b, 2)} ms ({b / a:.1f}x lower)" if a < b
                         else f"c={c}: {fmt(a, 2)} vs {fmt(b, 2)} ms (**{a / b:.2f}x higher**)")
        verdicts[(model, "p99")] = all_lower
        lines.append(f"- **{model}, p99 latency:** {'; '.join(parts)} (target lower at every level: {met(all_lower)})")
    a, b = s.peak_rss(PD), s.peak_rss(PEER)
    ok = a < TARGET_RSS_RATIO * b
    verdicts["rss"] = (a / b, ok)
    pa, pb = s.peak_rss(PD, "pss_mib"), s.peak_rss(PEER, "pss_mib")
    lines.append(f"- **Peak resident memory** (largest over the run, both models loaded): {fmt(a)} vs {fmt(b)} MiB, "
                 f"**{a / b:.2f}x** (target under 0.33x: {met(ok)}); proportional set size, which counts pages "
                 f"shared between the peer's processes once: {fmt(pa)} vs {fmt(pb)} MiB ({pa / pb:.2f}x)")
    return lines, verdicts


def markdown(s: Summary, meta: dict, out: Path):
    lines, _ = headline(s)
    secs, rounds = meta["secs"], meta["rounds"]
    other = [r["other_cpu_pct"] for r in s.rows]
    other_median, other_max = statistics.median(other), max(other)
    md = [
        "# End-to-end: pd-inference against a FastAPI + uvicorn + onnxruntime v2 server",
        "",
        f"{meta['started']}, {meta['machine']}; load average {meta['load']}. "
        f"Revision `{meta['revision']}`, {meta['swift']}; peer on {meta['python']} with {meta['peer_packages']}.",
        "",
        f"Command: `{meta['command']}` ({secs} s per cell, {rounds} rounds, about {meta['minutes']} minutes). "
        "Charts and this file are written by the script.",
        "",
        f"Other work on the machine (CPU used by anything but the server under test and wrk) during the kept "
        f"cells: median {other_median:.0f}%, largest {other_max:.0f}% of one CPU; a cell above "
        f"{meta['max_other_cpu']}% was measured again once the machine was quiet, up to {meta['cell_tries']} tries "
        f"({meta.get('retry_waited', '0')} s of waiting in all).",
        "",
        "## Headline (medians over rounds; pd-inference first)",
        "",
        *lines,
        "",
        "![Throughput against concurrency](e2e-throughput.png)",
        "![p99 latency against concurrency](e2e-p99.png)",
        "![Peak resident memory](e2e-memory.png)",
        "",
        "## What ran",
        "",
        "- **Work:** one-row Open Inference Protocol v2 JSON requests, `POST /v2/models/{model}/infer`, the same "
        "body for both servers (`bench/make_body.py 1 784` for `mlp`, `1 64` for `digits`: seeded floats in "
        "[-1, 1]). Before measuring, each round checks that both servers return the same outputs for each body.",
        f"- **pd-inference:** `.build/release/pd-inference` (`swift build -c release`), `{meta['pd_settings']}`; "
        "`TELEMETRY_ENABLED` left at its default, true (request metrics and spans; no OTLP endpoint is set, and "
        "`LOG_LEVEL=warning` skips the info-level access log lines). `MAX_QUEUE_DELAY_MS=0` starts a batch as soon "
        "as a worker is free, so batches hold the requests that arrived while both workers were busy; with the "
        "default 2 ms every request at concurrency 1 waits 2 ms for company. "
        "`bench/e2e/configs.sh pd` compares delays 0, 1 and 2 ms and batch sizes 8 and 32.",
        f"- **Peer** (`bench/peers/app.py`): `{meta['peer_settings']}`. One InferenceSession per model per "
        "worker, created at start; body parsed with orjson into numpy, outputs serialized with orjson "
        "(numpy-aware). `bench/e2e/configs.sh peer` compares 1, 2 and 4 workers, onnxruntime intra-op threads 1 "
        "or 2, and the model call on the event loop or in Starlette's thread pool: one worker per CPU with one "
        "onnxruntime thread, called on the event loop, was the fastest or tied; 4 workers gained nothing "
        "consistent on 2 CPUs and took 1.8x the memory; intra-op threads 2 in one worker spent 2-3x the CPU per "
        "request.",
        f"- **Load:** {meta['wrk']} with `bench/e2e/infer.lua`, `-t2` (`-t1` at concurrency 1), `--timeout 30s` "
        "(a timed-out request would count as an error, not as a latency), on the same 2 CPUs as the server under "
        "test. Each round starts both servers afresh, warms each model on each server for 2 s at concurrency 8, "
        "then measures every (model, concurrency) cell on both servers back to back; odd rounds start with "
        "pd-inference, even rounds with the peer.",
        "- **Columns:** latency percentiles from wrk's per-request histogram; errors are non-2xx responses plus "
        "socket errors; CPU µs/req is the server's user + system CPU time over the cell (from /proc, summed over "
        "every process of the server: for the peer the uvicorn supervisor, the multiprocessing resource tracker "
        "and the workers) divided by the requests completed; peak RSS is VmHWM, reset at the start of the cell "
        "(`/proc/PID/clear_refs` 5) and summed over the same processes, so the peer's shared library pages count "
        "once per process; PSS (end of cell) splits shared pages among the processes that map them; wrk CPU % and "
        "other CPU % are the load generator's CPU and everything else's (machine busy time from /proc/stat less "
        "the server's and wrk's), as a share of one CPU over the cell.",
        "",
        "## Medians over rounds",
        "",
        "| model | concurrency | server | req/s | p50 ms | p90 ms | p99 ms | max ms | errors (all rounds) "
        "| CPU µs/req | peak RSS MiB |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for model in s.models:
        for c in s.concurrencies:
            for server in (PD, PEER):
                m = lambda k: s.median(server, model, c, k)  # noqa: E731
                md.append(f"| {model} | {c} | {server} | {fmt(m('rps'), 0)} | {m('p50_ms'):.2f} | {m('p90_ms'):.2f} "
                          f"| {m('p99_ms'):.2f} | {m('max_ms'):.1f} | {s.total(server, model, c, 'errors')} "
                          f"| {m('cpu_us_per_req'):.0f} | {m('peak_rss_mib'):.1f} |")
    md += [
        "",
        "## Every cell",
        "",
        "| round | server | model | concurrency | req/s | p50 ms | p90 ms | p99 ms | max ms | errors | CPU µs/req "
        "| peak RSS MiB | PSS MiB | wrk CPU % | other CPU % |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in s.rows:
        md.append(f"| {r['round']} | {r['server']} | {r['model']} | {r['concurrency']} | {fmt(r['rps'], 0)} "
                  f"| {r['p50_ms']:.3f} | {r['p90_ms']:.3f} | {r['p99_ms']:.3f} | {r['max_ms']:.1f} | {r['errors']} "
                  f"| {r['cpu_us_per_req']:.0f} | {r['peak_rss_mib']:.1f} | {r['pss_mib']:.1f} | {r['wrk_cpu_pct']:.0f} | {r['other_cpu_pct']:.0f} |")
    (out / "e2e.md").write_text("\n".join(md) + "\n")


def line_chart(s: Summary, key: str, title: str, ylabel: str, path: Path, log_y: bool):
    fig, axes = plt.subplots(1, len(s.models), figsize=(5.2 * len(s.models), 4.2), squeeze=False)
    for ax, model in zip(axes[0], s.models):
        for server in (PD, PEER):
            med = [s.median(server, model, c, key) for c in s.concurrencies]
            lo = [m - s.spread(server, model, c, key)[0] for m, c in zip(med, s.concurrencies)]
            hi = [s.spread(server, model, c, key)[1] - m for m, c in zip(med, s.concurrencies)]
            ax.errorbar(s.concurrencies, med, yerr=[lo, hi], marker="o", capsize=3, color=COLORS[server],
                        label=LABELS[server])
        if key == "rps" and HEADLINE_CONCURRENCY in s.concurrencies:
            a = s.median(PD, model, HEADLINE_CONCURRENCY, key)
            b = s.median(PEER, model, HEADLINE_CONCURRENCY, key)
            ax.annotate(f"{a / b:.1f}x", (HEADLINE_CONCURRENCY, a), textcoords="offset points", xytext=(-8, 6),
                        ha="right", fontsize=10, fontweight="bold")
        ax.set_xscale("log", base=2)
        ax.set_xticks(s.concurrencies, [str(c) for c in s.concurrencies])
        ax.minorticks_off()
        if log_y:
            ax.set_yscale("log")
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        else:
            ax.set_ylim(bottom=0)
        ax.set_title(f"model {model}")
        ax.set_xlabel("concurrent connections")
        ax.set_ylabel(ylabel)
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(fontsize=8, loc="best")
    fig.suptitle(f"{title}\npoints: median over rounds, bars: lowest to highest round", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def memory_chart(s: Summary, path: Path):
    fig, axes = plt.subplots(1, len(s.models), figsize=(5.2 * len(s.models), 4.4), squeeze=False, sharey=True)
    width = 0.38
    for i, (ax, model) in enumerate(zip(axes[0], s.models)):
        xs = range(len(s.concurrencies))
        for k, server in enumerate((PD, PEER)):
            med = [s.median(server, model, c, "peak_rss_mib") for c in s.concurrencies]
            bars = ax.bar([x + (k - 0.5) * width for x in xs], med, width, color=COLORS[server],
                          label=LABELS[server] if i == 0 else None)
            ax.bar_label(bars, fmt="%.0f", fontsize=8, padding=2)
        ax.set_xticks(list(xs), [str(c) for c in s.concurrencies])
        ax.set_title(f"model {model}")
        ax.set_xlabel("concurrent connections")
        if i == 0:
            ax.set_ylabel("peak resident memory (MiB)")
        ax.grid(True, axis="y", alpha=0.3)
        ax.margins(y=0.12)
    fig.suptitle("Peak resident memory per cell (VmHWM summed over the server's processes), lower is better")
    fig.legend(loc="lower center", ncol=2, fontsize=9, frameon=False)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main():
    tsv, meta_file, out = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
    meta = dict(line.split("=", 1) for line in meta_file.read_text().splitlines() if "=" in line)
    s = Summary(load(tsv))
    out.mkdir(parents=True, exist_ok=True)
    line_chart(s, "rps", "Throughput, one-row v2 JSON requests on 2 CPUs (higher is better)", "requests per second",
               out / "e2e-throughput.png", log_y=False)
    line_chart(s, "p99_ms", "p99 latency, one-row v2 JSON requests on 2 CPUs (lower is better)",
               "p99 latency (ms, log scale)", out / "e2e-p99.png", log_y=True)
    memory_chart(s, out / "e2e-memory.png")
    markdown(s, meta, out)
    lines, _ = headline(s)
    print("\n".join(lines))
    print(f"wrote {out / 'e2e.md'} and {out}/e2e-{{throughput,p99,memory}}.png")


if __name__ == "__main__":
    main()

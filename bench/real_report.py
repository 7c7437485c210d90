"""Rows, totals and markdown tables of the real-scan bench (real_bench.py).

A total is never an average of per-file rates: CER is all edits over all reference characters, keyword recall
all keywords found over all keywords, pages/s all pages over all seconds, so long files weigh more.
"""

from __future__ import annotations

from collections.abc import Sequence

import real_corpus

Row = dict[str, object]
PIPELINE_NAME = "pipeline"
_SUMMED = ("pages", "seconds", "errors", "ref_chars", "loose_errors", "loose_ref_chars", "kw_found", "kw_total")


def file_row(system: str, file: real_corpus.RealFile, outcome: dict[str, object]) -> Row:
    texts = outcome.get("texts")
    s = real_corpus.score(file, texts if isinstance(texts, list) else [])
    seconds = float(str(outcome["seconds"]))
    row: Row = {
        "system": system,
        "file": file.name,
        "state": outcome["state"],
        "pages": file.pages,
        "seconds": round(seconds, 2),
        "pages_per_s": round(file.pages / seconds, 4) if seconds > 0 else None,
        "cer": round(s.strict.cer, 4) if file.truths is not None else None,
        "cer_loose": round(s.loose.cer, 4) if file.truths is not None else None,
        "errors": s.strict.errors,
        "ref_chars": s.strict.ref_chars,
        "loose_errors": s.loose.errors,
        "loose_ref_chars": s.loose.ref_chars,
        "kw_found": s.keywords_found,
        "kw_total": s.keywords_total,
        "keywords_missed": list(s.missed),
        "cer_per_page": s.cer_per_page,
    }
    extra = ("error", "failedPages", "warnings", "meanConfidence", "pageResults", "stagesS", "pageS")
    return row | {k: outcome[k] for k in extra if k in outcome}


def _summed(rows: Sequence[Row], key: str) -> dict[str, float]:
    total: dict[str, float] = {}
    for r in rows:
        part = r.get(key)
        for name, value in part.items() if isinstance(part, dict) else ():
            total[name] = total.get(name, 0.0) + float(value or 0)
    return total


def _costs(rows: Sequence[Row], pages: float) -> Row:
    """Pipeline only: stage wall seconds per page, and the OCR workers' seconds per page by text source."""
    counts: dict[str, int] = {}
    for r in rows:
        results = r.get("pageResults")
        for page in results if isinstance(results, list) else ():
            counts[str(page.get("text", "ocr"))] = counts.get(str(page.get("text", "ocr")), 0) + 1
    stages, workers = _summed(rows, "stagesS"), _summed(rows, "pageS")
    if not stages or not pages:
        return {}
    return {
        "stage_s_per_page": {name: round(s / pages, 3) for name, s in stages.items()},
        "worker_s_per_page": {name: round(s / counts[name], 3) for name, s in workers.items() if counts.get(name)},
        "pages_by_text": counts,
    }


def _aggregate(rows: Sequence[Row], whole_run: bool = False) -> Row:
    sums = {k: sum(float(str(r[k])) for r in rows) for k in _SUMMED}
    if any("batch_wall_s" in r for r in rows):
        # Files processed at once overlap: only the whole batch has a wall time; a subset of it has none.
        sums["seconds"] = float(str(rows[0]["batch_wall_s"])) if whole_run else 0.0
    return _costs(rows, sums["pages"]) | {
        "files": len(rows),
        "done": sum(1 for r in rows if r["state"] == "DONE"),
        "pages": int(sums["pages"]),
        "seconds": round(sums["seconds"], 2),
        "pages_per_s": round(sums["pages"] / sums["seconds"], 4) if sums["seconds"] else None,
        "cer": round(sums["errors"] / sums["ref_chars"], 4) if sums["ref_chars"] else None,
        "cer_loose": round(sums["loose_errors"] / sums["loose_ref_chars"], 4) if sums["loose_ref_chars"] else None,
        "keyword_recall": round(sums["kw_found"] / sums["kw_total"], 4) if sums["kw_total"] else None,
    }


def _systems(rows: Sequence[Row]) -> list[str]:
    return list(dict.fromkeys(str(r["system"]) for r in rows))


def totals(rows: Sequence[Row], files: Sequence[str]) -> dict[str, Row]:
    return {
        s: _aggregate([r for r in rows if r["system"] == s and r["file"] in files], whole_run=True)
        for s in _systems(rows)
    }


def by_cause(rows: Sequence[Row], files: Sequence[real_corpus.RealFile]) -> dict[str, dict[str, Row]]:
    causes = list(real_corpus.CAUSE_TAGS) + [real_corpus.PLAIN]
    grouped: dict[str, dict[str, Row]] = {}
    for cause in causes:
        names = {f.name for f in files if cause in f.causes}
        if names:
            grouped[cause] = {
                s: _aggregate([r for r in rows if r["system"] == s and r["file"] in names]) | {"names": sorted(names)}
                for s in _systems(rows)
            }
    return grouped


def _pct(value: object) -> str:
    return "n/a" if value is None else f"{100 * float(str(value)):.1f} %"


def _rate(value: object) -> str:
    return "n/a" if value is None else f"{float(str(value)):.3f}"


def _speed_ratio(agg: Row, reference: Row | None) -> str:
    if reference is None or not agg["pages_per_s"] or not reference["pages_per_s"]:
        return ""
    return f"{float(str(agg['pages_per_s'])) / float(str(reference['pages_per_s'])):.2f}x"


def _cost_row(label: str, agg: Row) -> str:
    stage: dict[str, float] = agg.get("stage_s_per_page") or {}  # type: ignore[assignment]
    worker: dict[str, float] = agg.get("worker_s_per_page") or {}  # type: ignore[assignment]
    counts: dict[str, int] = agg.get("pages_by_text") or {}  # type: ignore[assignment]

    def cell(d: dict[str, float] | dict[str, int], key: str) -> str:
        return str(d[key]) if key in d else ""

    return (
        f"| {label} | {cell(stage, 'prep')} | {cell(stage, 'ocr')} | {cell(counts, 'ocr')} | {cell(worker, 'ocr')} | "
        f"{cell(counts, 'existing')} | {cell(worker, 'existing')} |"
    )


def _cost_table(total: dict[str, Row], causes: dict[str, dict[str, Row]]) -> list[str]:
    """Where the pipeline's time goes, per cause: stage wall time per page, OCR worker time per page by source."""
    lines = [
        "| pipeline cost (per page) | prep wall s | ocr wall s | OCRed pages | worker s/OCRed page | "
        "kept pages | worker s/kept page |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    if PIPELINE_NAME in total:
        lines.append(_cost_row("all files", total[PIPELINE_NAME]))
    for cause, per_system in causes.items():
        if PIPELINE_NAME in per_system:
            lines.append(_cost_row(cause, per_system[PIPELINE_NAME]))
    return lines


def targets(total: dict[str, Row]) -> list[str]:
    """The issue's targets for the pipeline against OCRmyPDF --deskew --clean --rotate-pages, from this run."""
    ours, clean = total.get(PIPELINE_NAME), next((v for k, v in total.items() if "--clean" in k), None)
    if ours is None or clean is None or None in (ours["cer"], clean["cer"], ours["pages_per_s"], clean["pages_per_s"]):
        return []
    checks = [
        ("CER at most 0.9x OCRmyPDF clean's", float(str(ours["cer"])) <= 0.9 * float(str(clean["cer"])),
         f"{_pct(ours['cer'])} vs 0.9 x {_pct(clean['cer'])}"),
        ("keyword recall at least OCRmyPDF clean's",
         float(str(ours["keyword_recall"])) >= float(str(clean["keyword_recall"])),
         f"{_pct(ours['keyword_recall'])} vs {_pct(clean['keyword_recall'])}"),
        ("every file DONE", ours["done"] == ours["files"], f"{ours['done']}/{ours['files']}"),
        ("pages/s at least 4x OCRmyPDF clean's",
         float(str(ours["pages_per_s"])) >= 4 * float(str(clean["pages_per_s"])), _speed_ratio(ours, clean)),
    ]  # fmt: skip
    return ["| target | met | measured |", "| --- | --- | --- |"] + [
        f"| {name} | {'yes' if met else 'NO'} | {measured} |" for name, met, measured in checks
    ]


def markdown(report: dict[str, object]) -> str:
    total: dict[str, Row] = report["totals"]  # type: ignore[assignment]
    causes: dict[str, dict[str, Row]] = report["causes"]  # type: ignore[assignment]
    rows: list[Row] = report["files"]  # type: ignore[assignment]
    clean = next((v for k, v in total.items() if "--clean" in k), None)
    out = [
        "| system | files DONE | pages | CER | CER loose | keyword recall | pages/s | speed vs OCRmyPDF clean |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for system, agg in total.items():
        out.append(
            f"| {system} | {agg['done']}/{agg['files']} | {agg['pages']} | {_pct(agg['cer'])} | "
            f"{_pct(agg['cer_loose'])} | {_pct(agg['keyword_recall'])} | {_rate(agg['pages_per_s'])} | "
            f"{_speed_ratio(agg, clean)} |"
        )
    out += ["", *targets(total)]
    out += ["", "| cause (files) | system | pages | CER | keyword recall | pages/s |"]
    out.append("| --- | --- | ---: | ---: | ---: | ---: |")
    for cause, per_system in causes.items():
        for system, agg in per_system.items():
            label = f"{cause} ({', '.join(map(str, agg['names']))})"  # type: ignore[call-overload]
            out.append(
                f"| {label} | {system} | {agg['pages']} | {_pct(agg['cer'])} | {_pct(agg['keyword_recall'])} | "
                f"{_rate(agg['pages_per_s'])} |"
            )
    out += ["", *_cost_table(total, causes)]
    out += ["", "| file | system | state | pages | CER | keywords | pages/s | note |"]
    out.append("| --- | --- | --- | ---: | ---: | ---: | ---: | --- |")
    for r in sorted(rows, key=lambda r: (str(r["file"]), str(r["system"]))):
        note = str(r.get("error") or "; ".join(map(str, r.get("warnings") or [])))[:90]  # type: ignore[call-overload]
        out.append(
            f"| {r['file']} | {r['system']} | {r['state']} | {r['pages']} | {_pct(r['cer'])} | "
            f"{r['kw_found']}/{r['kw_total']} | {_rate(r['pages_per_s'])} | {note} |"
        )
    return "\n".join(out)

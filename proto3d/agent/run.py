"""The run folder: atomic file writes and the static HTML report.

Layout (documented in docs/agent.md):

    run.json                      category and settings (what --replay re-runs)
    design/bounds.json            metricizer
    design/parts.json             part decomposer
    design/arrangement.json       arrangement proposer
    versions/NNN/program.pdsl     every program the coder wrote
    versions/NNN/version.json     step, parent, diagnostics, lints, visibility, score, verdict
    versions/NNN/sheet.png        contact sheet shown to the inspector (and views/*.png)
    calls/NNNN-role.{json,md,png} the transcript: every model call, replayable
    final/                        program.pdsl, shape.glb, parts.json, sheet.png of the best version
    summary.json                  status, iterations, tokens, cost, timings
    report.html                   per version: program diff, sheet, diagnostics, inspector feedback
    .lock                         held (flock) by the process running in the folder

Every text file goes through `write_text`, which redacts keys and credentials.
"""

from __future__ import annotations

import contextlib
import difflib
import fcntl
import html
import json
from pathlib import Path

from proto3d.files import json_text, write_atomic
from proto3d.llm.client import redact


class RunInUse(Exception):
    """Another live process is running in the same run folder."""


@contextlib.contextmanager
def run_lock(run_dir: str | Path):
    """Hold `RUN/.lock` while this process works in the run folder.

    The operating system releases the lock when the process ends, however it ends (kill -9,
    power loss aside), so a `running` summary whose lock is free was left by a dead process.
    """
    path = Path(run_dir) / ".lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = read_summary(run_dir).get("pid", "unknown")
            message = f"{run_dir} is in use by another proto3d process (pid {pid}); wait for it or stop it"
            raise RunInUse(message) from None
        yield


def read_summary(run_dir: str | Path) -> dict:
    """The summary.json of a run folder, or {} when there is none (or it is unreadable)."""
    try:
        summary = json.loads((Path(run_dir) / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return summary if isinstance(summary, dict) else {}


def write_text(path: str | Path, text: str) -> None:
    """Write a text file of the run folder, atomically and with keys and credentials redacted."""
    write_atomic(path, redact(text), parents=True)


def write_run_json(path: str | Path, value) -> None:
    """A JSON file of the run folder: the shared `json_text`, indented 2, redacted as every file of the run."""
    write_text(path, json_text(value, indent=2))


_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1100px;padding:0 1em;color:#222}
h1{margin-bottom:.2em} h2{border-top:1px solid #ccc;padding-top:1em}
table{border-collapse:collapse;margin:.5em 0} td,th{border:1px solid #ddd;padding:3px 8px;text-align:left}
pre{background:#f6f6f6;padding:.6em;overflow-x:auto;font-size:12px}
.add{background:#e6ffec}.del{background:#ffebe9}.hunk{color:#888}
.ok{color:#1a7f37}.bad{color:#cf222e} img{max-width:100%;border:1px solid #ddd}
"""


def write_report(run_dir: str | Path, summary: dict, design: dict, versions: list[dict]) -> None:
    """`report.html`: one self-contained page, images linked relative to the run folder."""
    e = html.escape
    out = [
        f"<!doctype html><meta charset=utf-8><title>proto3d: {e(summary.get('category', ''))}</title>",
        f"<style>{_CSS}</style>",
        f"<h1>{e(summary.get('category', ''))}</h1>",
    ]
    status = summary.get("status", "running")
    out.append(
        f"<p>status <b class={'ok' if status == 'accepted' else 'bad'}>{e(status)}</b>"
        f" — {e(summary.get('reason', ''))}</p>"
    )
    usage = summary.get("usage", {})
    rows = [(k, v) for k, v in summary.items() if k in ("iterations", "best_version", "seconds")]
    rows += [("tokens", token_count(usage, "tokens")), ("cached tokens", token_count(usage, "cached_tokens"))]
    rows += [("cost", usage.get("cost", 0))]
    out.append("<table>" + "".join(f"<tr><th>{e(str(k))}<td>{e(str(v))}" for k, v in rows) + "</table>")
    if summary.get("by_role"):
        out.append(
            "<table><tr><th>role<th>calls<th>tokens in<th>of which cached<th>tokens out<th>cost<th>latency s"
        )
        for role, u in summary["by_role"].items():
            out.append(
                f"<tr><td>{e(role)}<td>{u['calls']}<td>{token_count(u, 'prompt_tokens')}"
                f"<td>{token_count(u, 'cached_tokens')}<td>{token_count(u, 'completion_tokens')}"
                f"<td>{u['cost']}<td>{u['latency']}"
            )
        out.append("</table>")
    final = Path(run_dir, "final")
    if summary.get("best_version") and (final / "program.pdsl").exists():
        out.append(
            "<h2 id=final>Final</h2><p>"
            + " · ".join(
                f"<a href='final/{name}'>{name}</a>"
                for name in ("program.pdsl", "shape.glb", "parts.json", "sheet.png")
                if (final / name).exists()
            )
            + "</p>"
        )
        if (final / "sheet.png").exists():
            out.append("<img src='final/sheet.png'>")
        out.append("<pre>" + e((final / "program.pdsl").read_text(encoding="utf-8")) + "</pre>")
    polish = summary.get("polish")
    if polish:
        out.append(
            f"<p>polish: version {polish['version']} (score {e(str(polish['score_after']))}) from version "
            f"{polish['from']} (score {e(str(polish['score_before']))}); kept version {polish['kept']}</p>"
            if polish.get("ran")
            else f"<p>polish: not run ({e(polish.get('reason', ''))})</p>"
        )
    if design.get("bounds"):
        out.append(f"<h2>Design</h2><p>bounds (w, d, h) m: {e(str(design['bounds'].get('bounds')))}</p>")
    if design.get("parts"):
        out.append("<table><tr><th>part<th>count<th>description")
        for p in design["parts"].get("parts", []):
            out.append(f"<tr><td>{e(p['label'])}<td>{p['count']}<td>{e(p.get('description', ''))}")
        out.append("</table>")
    if design.get("arrangement"):
        out.append("<table><tr><th>instance<th>shape<th>size<th>position<th>rotation")
        for inst in design["arrangement"].get("instances", []):
            out.append(
                "<tr>"
                + "".join(
                    f"<td>{e(str(inst.get(k, '')))}"
                    for k in ("part", "shape", "size", "position", "rotation")
                )
            )
        out.append("</table>")
    programs = {v["number"]: v.get("program", "") for v in versions}
    for v in versions:
        n = v["number"]
        title = f"v{n:03d} — {v['step']}" + (f" (from v{v['parent']:03d})" if v.get("parent") else "")
        out.append(f"<h2 id=v{n}>{e(title)}</h2>")
        errors = v.get("errors", [])
        out.append(
            f"<p class={'bad' if errors else 'ok'}>{'does not compile' if errors else 'compiles'}"
            + (f"; score {v['score']}" if v.get("score") is not None else "")
            + "</p>"
        )
        out.append("<pre>" + _diff_html(programs.get(v.get("parent"), ""), v.get("program", "")) + "</pre>")
        diags = errors + v.get("lints", [])
        if diags:
            out.append("<pre>" + e("\n".join(diags)) + "</pre>")
        if Path(run_dir, "versions", f"{n:03d}", "sheet.png").exists():
            out.append(f"<img src='versions/{n:03d}/sheet.png'>")
        verdict = v.get("verdict")
        if verdict:
            out.append(
                f"<p>inspector: <b>{'accept' if verdict.get('accept') else 'reject'}</b>, "
                f"score {e(str(verdict.get('score')))} — {e(verdict.get('summary', ''))}</p>"
            )
            if verdict.get("problems"):
                out.append("<table><tr><th>part<th>line<th>problem<th>fix")
                for p in verdict["problems"]:
                    out.append(
                        f"<tr><td>{e(str(p.get('part', '')))}<td>{e(str(p.get('line', '')))}"
                        f"<td>{e(p.get('issue', ''))}<td>{e(p.get('fix', ''))}"
                    )
                out.append("</table>")
    write_text(Path(run_dir) / "report.html", "\n".join(out) + "\n")


def token_count(usage: dict, key: str) -> str:
    """A token count, or "n/a" when no call of it was counted (a person answered every one)."""
    calls = usage.get("calls", 0)
    if calls and usage.get("uncounted_calls", 0) == calls:
        return "n/a"
    return str(usage.get(key, 0))


def _diff_html(old: str, new: str) -> str:
    """Unified diff with added/removed lines highlighted; the whole program when there is no parent."""
    if not old:
        return html.escape(new)
    lines = []
    for line in difflib.unified_diff(old.splitlines(), new.splitlines(), "before", "after", lineterm="", n=2):
        cls = {"+": "add", "-": "del", "@": "hunk"}.get(line[:1], "")
        if line.startswith(("+++", "---")):
            continue
        lines.append(f"<span class={cls}>{html.escape(line)}</span>" if cls else html.escape(line))
    return "\n".join(lines) or "(no change)"

"""The agent loop: designer → coder → visual inspector, as in 3DFroMLLM, writing a run folder.

    design   metricizer (bounds) → part decomposer (labels, counts) → arrangement proposer
    code     coder (arrangement → coarse program) → refiner (each part made to look real),
             each followed by bounded repairs from the compiler's diagnostics
    inspect  lints fixed first; then renders + part legend + lints + visibility → inspector
             verdict; rejected → the coder applies the fixes; repeat within the budget
    polish   accepted with problems listed → one more coder round applies them and is inspected

The best-scored inspected version is kept (an accepted one first). Every model call goes
through a `Recorder`, so a run can be resumed after an interruption and replayed offline (see proto3d.llm.record).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from proto3d import compiler, prompts
from proto3d.agent import variants as agent_variants
from proto3d.agent.questions import plan_questions
from proto3d.agent.run import read_summary, run_lock, write_report, write_run_json, write_text
from proto3d.agent.schema import (
    Answer,
    Arrangement,
    Bounds,
    Designs,
    Parts,
    ReplyError,
    VariantVerdicts,
    Verdict,
    check_arrangement,
    check_checks,
    check_designs,
    check_parts,
    check_variant_verdicts,
    extract_json,
    extract_program,
    response_schema,
    validate,
    without_nulls,
)
from proto3d.compiler import CompiledShape
from proto3d.dataset.variants import stable_key
from proto3d.errors import Diagnostic, Proto3dError
from proto3d.files import write_atomic
from proto3d.grammar import parse
from proto3d.grammar.constraint import answer_grammar
from proto3d.grammar.source import normalise
from proto3d.llm.client import (
    Backend,
    Constraint,
    LLMConfig,
    LLMError,
    ManualBackend,
    Reply,
    image_part,
    slug,
    text_part,
)
from proto3d.llm.record import Recorder, ReplayExhausted

PROGRAM = "program.pdsl"  # the file name diagnostics are formatted with


INSPECTOR_VIEWS = ("front", "left", "back", "top", "iso")
INSPECTOR_SIZE = 512  # pixels a view; one image a view keeps them after a model's own downscaling


@dataclass
class Inspection:
    """What the renderer tells the inspector about one compiled version."""

    images: list[Path]  # PNGs shown to the inspector, in order
    visibility: dict  # part instance name -> visible pixels over all views
    invisible: list[str]  # part instances seen in no view
    description: str = "one image of the shape"  # what the images are, as the inspector's prompt says it
    sheet: Path | None = None  # the contact sheet people read (report.html, final/sheet.png)
    captions: list[str] = field(default_factory=list)  # text sent right before each image, if any


def render_views(shape, folder: Path) -> Inspection:
    """The default renderer hook: one image a view (shaded | labelled part colours) with its
    caption as the text before it, the contact sheet for people, per-instance visibility. The
    caption is text, not drawn in the image: it is said once, and a 1024 × 512 image costs a
    vision model two 512-px tiles where a captioned 1024 × 550 one costs four."""
    from proto3d.renderer import contact_sheet, render
    from proto3d.renderer.save import png_bytes
    from proto3d.renderer.sheet import inspector_image, view_caption

    renders = render(shape, views=INSPECTOR_VIEWS, size=INSPECTOR_SIZE, passes=("rgb", "part", "instance"))
    renders.save(folder / "views", passes=("rgb",))
    write_atomic(folder / "sheet.png", png_bytes(contact_sheet(shape, renders)), parents=True)
    images = []
    for view in renders.views:
        images.append(folder / "inspector" / f"{view.name}.png")
        write_atomic(images[-1], png_bytes(inspector_image(shape, view, caption="")), parents=True)
    visibility: dict[str, int] = {}
    for view in renders.visible_pixels().values():
        for name, n in view["instances"].items():
            visibility[name] = visibility.get(name, 0) + n
    captions = [f"Image {i}: {view_caption(v.camera)}." for i, v in enumerate(renders.views, 1)]
    description = (
        f"{len(images)} images below, one a view, each {INSPECTOR_SIZE} px high: the shaded render on the left; "
        "on the right the same view with every part in a flat colour and its name in a box joined by a line "
        "to a pixel of that part. Each image comes right after its caption, which says where the camera "
        "looks from and where the object's front (−Y), +X and +Z point in it."
    )
    return Inspection(
        images, visibility, renders.invisible_instances(), description, folder / "sheet.png", captions
    )


def preview_views(shape, folder: Path) -> Inspection:
    """The refiner's look at the coarse version: the contact sheet at 256 px a view (about a
    third of `render_views`' CPU time; no views saved). Written to folder/preview.png."""
    from proto3d.renderer import contact_sheet, render
    from proto3d.renderer.save import png_bytes

    renders = render(shape, size=256, passes=("rgb", "part", "instance"))
    write_atomic(folder / "preview.png", png_bytes(contact_sheet(shape, renders, cell=160)), parents=True)
    description = (
        "one contact sheet. For each view (front, left, back, iso) the shaded render is on the left and "
        "the same view with every part in a flat colour, labelled with its name, on the right"
    )
    return Inspection([folder / "preview.png"], {}, [], description=description)


def variant_sheet(shapes: list, captions: list[str], path: Path, cell: int = 256) -> None:
    """The sheet the inspector judges a family on: one iso view per variant, numbered, 4 to a row.

    Every variant is seen by the same camera, framed on all of them, so sizes compare."""
    import numpy as np
    from PIL import Image, ImageDraw

    from proto3d.renderer import render
    from proto3d.renderer.camera import named_view
    from proto3d.renderer.save import png_bytes

    columns = min(4, len(shapes))
    rows = -(-len(shapes) // columns)
    sheet = Image.new("RGB", (columns * cell, rows * (cell + 18)), "white")
    draw = ImageDraw.Draw(sheet)
    union = (np.min([s.bbox[0] for s in shapes], axis=0), np.max([s.bbox[1] for s in shapes], axis=0))
    camera = named_view("iso", union, cell)
    for i, (shape, caption) in enumerate(zip(shapes, captions)):
        view = render(shape, views=[camera], size=cell, passes=("rgb",)).views[0]
        x, y = (i % columns) * cell, (i // columns) * (cell + 18)
        sheet.paste(Image.fromarray(view.rgb[..., :3]), (x, y + 18))
        draw.text((x + 4, y + 3), caption, fill="black")
    write_atomic(path, png_bytes(sheet), parents=True)


def _anchor_baseline(parent: Version | None) -> CompiledShape | None:
    """What a version's anchors are compared with (W109): its parent's shape, or, when the parent
    was itself flagged for moved anchors, what the parent was compared with, so that a fix that
    moves them back is clean rather than flagged again."""
    if parent is None:
        return None
    if any(d.code == "W109" for d in parent.lints):
        return parent.anchors_from
    return parent.shape


def _compile(text: str, filename: str):
    return compiler.compile_text(text, filename=filename, limits=compiler.Limits(max_seconds=10.0))


@dataclass
class Toolchain:
    """The stages the loop drives; tests swap `inspect` for a renderer-free stand-in."""

    compile: Callable = _compile  # (text, filename) -> CompiledShape, raises Proto3dError
    inspect: Callable[..., Inspection] = render_views  # (shape, folder) -> Inspection
    export: Callable = compiler.export  # (shape, path) -> None
    manifest: Callable = compiler.parts_manifest  # (shape) -> dict
    variant_sheet: Callable = variant_sheet  # (shapes, captions, png path) -> None
    preview: Callable[..., Inspection] | None = None  # (shape, folder) -> Inspection; None: see below

    def __post_init__(self) -> None:
        # The real renderer previews at a smaller size; a stand-in `inspect` stands in for the preview too.
        if self.preview is None:
            self.preview = preview_views if self.inspect is render_views else self.inspect


@dataclass
class Version:
    """One program the coder wrote, and everything learnt about it."""

    number: int
    step: str  # coder | refiner | repair | lint-fix | feedback | params | variants | ranges
    parent: int | None
    program: str
    errors: list[Diagnostic] = field(default_factory=list)
    lints: list[Diagnostic] = field(default_factory=list)
    shape: CompiledShape | None = None
    inspection: Inspection | None = None
    verdict: dict | None = None
    anchors_from: CompiledShape | None = None  # what W109 compared this version's anchors with

    @property
    def ok(self) -> bool:
        return self.shape is not None

    @property
    def score(self) -> float | None:
        return self.verdict["score"] if self.verdict else None

    def to_json(self) -> dict:
        return {
            "number": self.number,
            "step": self.step,
            "parent": self.parent,
            "compiled": self.ok,
            "errors": [d.format(PROGRAM) for d in self.errors],
            "lints": [d.format(PROGRAM) for d in self.lints],
            "diagnostics": [d.to_json() for d in self.errors + self.lints],
            "visibility": self.inspection.visibility if self.inspection else None,
            "invisible": self.inspection.invisible if self.inspection else None,
            "score": self.score,
            "verdict": self.verdict,
        }


class BudgetExhausted(Exception):
    pass


class RunFailed(Exception):
    pass


class _Caller:
    """Model calls through a recorder, within the budget; JSON answers checked with corrective retries."""

    def __init__(
        self,
        calls: Path,
        config: LLMConfig,
        backend: Backend | None,
        progress: Callable[[str], None],
        replay_from: str | Path | None = None,
    ):
        self.config = config
        self.budget = config.budget
        self.progress = progress
        self.recorder = Recorder(calls, backend)
        self.replay_from = replay_from
        self._start = time.monotonic()

    def _ask(self, role: str, messages: list[dict], constraint: Constraint | None = None) -> Reply:
        total, b = self.recorder.total, self.budget
        if b.tokens and total.tokens >= b.tokens:
            raise BudgetExhausted(f"token budget ({b.tokens}) used")
        if b.cost and total.cost >= b.cost:
            raise BudgetExhausted(f"cost budget ({b.cost:g}) used")
        if b.seconds and self.replay_from is None and time.monotonic() - self._start >= b.seconds:
            raise BudgetExhausted(f"time budget ({b.seconds:g} s) used")
        return self.recorder.complete(role, messages, constraint)

    def _ask_json(
        self,
        role: str,
        prompt,
        schema: type[Answer],
        check: Callable[[dict], list[str]] | None = None,
        retries: int = 2,
        soft_check: bool = False,
    ) -> dict:
        """Ask for JSON; on invalid JSON, schema violations or failed checks, say what is wrong and ask again.

        With `soft_check`, an answer that still fails only `check` after the retries is used anyway
        (the coder and the inspector can still make a good object of it).
        """
        messages = [{"role": "user", "content": prompt}]
        constraint = Constraint(schema.__name__.lower(), json_schema=response_schema(schema))
        for attempt in range(retries + 1):
            reply = self._ask(role, messages, constraint)
            try:
                value = extract_json(reply.text)
                errors = validate(value, schema)
                checked = not errors and check is not None
                errors = errors or (check(value) if check else [])
            except ReplyError as exc:
                errors, checked = [str(exc)], False
            if not errors or (soft_check and checked and attempt == retries):
                return without_nulls(value)
            messages = messages + [
                {"role": "assistant", "content": reply.text},
                {
                    "role": "user",
                    "content": prompts.render("correction.md", errors="\n".join(f"- {e}" for e in errors)),
                },
            ]
            if attempt < retries:
                self.progress(
                    f"{role}: answer rejected ({errors[0]}); asking again, {attempt + 1} of {retries}"
                )
        raise RunFailed(f"{role}: no valid answer after {retries + 1} attempts: {'; '.join(errors)}")


class Agent(_Caller):
    """One object, one run folder. `backend=None` replays `replay_from` offline.

    `plan` is one design of several (`plan_designs`): its name and description join the
    category in every prompt and its part list replaces the decomposer. `check_variants` > 0
    samples that many variants of the accepted program (see proto3d.agent.variants);
    `vocabulary` ({label: description}) limits the decomposer's labels. `one_step` has the coder
    write the detailed program at once from the arrangement; `one_step=False` is the paper's
    coarse program and refiner (in recorded runs the coarse program only transcribed the
    arrangement, and its refiner call costs a whole coder prompt). `polish`: after an
    accept that lists problems, one more coder round applies them and is inspected, and the
    better version is kept. `questions`: the inspector first answers yes/no questions
    generated from the plan (proto3d.agent.questions), then scores.
    """

    def __init__(
        self,
        category: str,
        run_dir: str | Path,
        config: LLMConfig,
        backend: Backend | None,
        tools: Toolchain | None = None,
        progress: Callable[[str], None] = lambda message: None,
        replay_from: str | Path | None = None,
        plan: dict | None = None,
        check_variants: int = 0,
        vocabulary: dict | None = None,
        allow_other: bool = False,
        one_step: bool = True,
        polish: bool = True,
        questions: bool = False,
    ):
        super().__init__(Path(replay_from or run_dir) / "calls", config, backend, progress, replay_from)
        self.category = category
        self.dir = Path(run_dir)
        self.tools = tools or Toolchain()
        self.plan = plan
        self.check_variants = check_variants
        self.vocabulary = vocabulary
        self.allow_other = allow_other
        self.one_step = one_step
        self.polish = polish
        self.questions = questions
        self.subject = f"{category} (design: {plan['name']}, {plan['description']})" if plan else category
        self.versions: list[Version] = []
        self.design: dict = {}
        self.iterations = 0
        self.timings: dict[str, float] = {}
        self.resumed_from: str | None = None  # the status the folder's previous run ended with
        self.params: dict | None = None  # the accepted program's params, final ranges
        self.variant_check: dict | None = None
        self.polish_check: dict | None = None  # what the polish step did, for summary.json

    # ---------------------------------------------------------------- the loop

    def run(self) -> dict:
        """Run to acceptance, budget end or failure; return the summary (also in summary.json).

        Raises RunInUse, touching nothing, when another process is running in the folder.
        """
        with run_lock(self.dir):
            return self._run()

    def _run(self) -> dict:
        self.resumed_from = read_summary(self.dir).get("status")
        if self.resumed_from == "running":  # we hold the lock, so the process that wrote it is gone
            self.resumed_from = "interrupted"
            self.progress(
                "the previous run in this folder was interrupted (its process ended while running); resuming"
            )
        write_run_json(self.dir / "run.json", self._settings())
        status, reason = "running", ""
        self._write_summary(status, reason)
        try:
            with self._timed("design"):
                self._design()
            status, reason = self._improve()
        except BudgetExhausted as exc:
            status, reason = "budget", str(exc)
        except ReplayExhausted as exc:
            status, reason = "replay-ended", str(exc)
        except (LLMError, RunFailed) as exc:
            status, reason = "failed", str(exc)
        except KeyboardInterrupt:
            self._write_summary("interrupted", "interrupted; run the same command again to resume")
            raise
        except Exception as exc:  # a bug must not leave the folder `running`; it is reported like any failure
            status, reason = "failed", f"internal error: {type(exc).__name__}: {exc}"
        best = self._best()
        if best is None and status not in ("failed", "replay-ended"):
            status, reason = "failed", reason or "no program compiled"
        try:
            self._prune()
            if best is not None:
                with self._timed("final"):
                    self._finalize(best)
        except Exception as exc:  # e.g. an export that fails: said in the summary, not as a traceback
            problem = f"cannot write the final version: {type(exc).__name__}: {exc}"
            status, reason = "failed", f"{reason}; {problem}" if status == "failed" else problem
        return self._write_summary(status, reason)

    def _prune(self) -> None:
        """Remove what an earlier run in this folder left and this one did not rewrite
        (a resumed run that diverged from its recording may write fewer versions)."""
        for folder in (self.dir / "versions").glob("[0-9][0-9][0-9]"):
            if int(folder.name) > len(self.versions):
                shutil.rmtree(folder)
        if self._best() is None:
            shutil.rmtree(self.dir / "final", ignore_errors=True)

    def _improve(self) -> tuple[str, str]:
        with self._timed("code"):
            task = prompts.render(
                "coder_task_detailed.md" if self.one_step else "coder_task_coarse.md", category=self.subject
            )
            current = self._code("coder", "coder", "coder.md", None, task=task, **self._design_values())
            if not current.ok:
                raise RunFailed(f"the first program did not compile after {self.budget.repairs} repairs")
        if not self.one_step:
            current = self._refined(current)
        while True:
            current = self._fix_lints(current)
            if self.budget.iterations and self.iterations >= self.budget.iterations:  # 0: no limit
                return "budget", f"iteration budget ({self.budget.iterations}) used"
            self.iterations += 1
            verdict = self._inspect(current)
            if verdict["accept"]:
                if self.polish:
                    current = self._polished(current)
                    verdict = current.verdict
                if self.check_variants:
                    with self._timed("variants"):
                        try:
                            self._family(current)
                        except (BudgetExhausted, LLMError, RunFailed) as exc:  # the accepted prototype stands
                            self.variant_check = {"sampled": 0, "reason": f"the family check stopped: {exc}"}
                return "accepted", f"accepted by the inspector with score {verdict['score']:g}"
            if self.budget.iterations and self.iterations >= self.budget.iterations:
                return "budget", f"iteration budget ({self.budget.iterations}) used"
            with self._timed("code"):
                fixed = self._code(
                    "coder",
                    "feedback",
                    "feedback.md",
                    current,
                    score=f"{verdict['score']:g}",
                    problems=_problems(verdict),
                )
            current = fixed if fixed.ok else current

    def _refined(self, coarse: Version) -> Version:
        """The refiner's version of the coarse program, written after seeing its render and lints."""
        view, images = self._coarse_view(coarse)
        with self._timed("code"):
            refined = self._code(
                "refiner",
                "refiner",
                "refiner.md",
                coarse,
                images,
                parts=self._parts_text(),
                view=view,
                lints=_diags(coarse.lints) or "no problems found",
            )
        return refined if refined.ok else coarse

    def _fix_lints(self, current: Version) -> Version:
        """Bounded lint-fix rounds: the version whose lints the coder last fixed, or `current`."""
        for _ in range(self.budget.lint_rounds):
            if not current.lints:
                break
            with self._timed("code"):
                fixed = self._code("lint-fix", "lint-fix", "lints.md", current, lints=_diags(current.lints))
            current = fixed if fixed.ok else current
        return current

    def _polished(self, accepted: Version) -> Version:
        """After an accept that lists problems, one coder round applies them (budget permitting) and is
        inspected; the polished version is kept if it is accepted with at least the same score."""
        problems = accepted.verdict.get("problems") or []
        record = self.polish_check = {"from": accepted.number, "score_before": accepted.score}
        if not problems:
            record.update(ran=False, reason="the accept listed no problems", kept=accepted.number)
            return accepted
        if self.budget.iterations and self.iterations >= self.budget.iterations:
            record.update(ran=False, reason="no inspection round left in the budget", kept=accepted.number)
            return accepted
        try:
            with self._timed("code"):
                polished = self._code(
                    "coder",
                    "polish",
                    "feedback.md",
                    accepted,
                    score=f"{accepted.score:g}",
                    problems=_problems(accepted.verdict),
                )
                polished = self._fix_lints(polished) if polished.ok else polished
            if not polished.ok:
                record.update(ran=False, reason="the polished program did not compile", kept=accepted.number)
                return accepted
            self.iterations += 1
            verdict = self._inspect(polished, polish_of=accepted)
        except (BudgetExhausted, LLMError, RunFailed) as exc:  # the accepted prototype stands
            record.update(ran=False, reason=f"the polish step stopped: {exc}", kept=accepted.number)
            return accepted
        better = verdict["accept"] and polished.score >= accepted.score
        kept = polished if better else accepted
        record.update(ran=True, version=polished.number, score_after=polished.score, kept=kept.number)
        return kept

    # ---------------------------------------------------------------- the family

    def _family(self, accepted: Version) -> None:
        """Make the accepted program a sound family: params (asked for once if there are none),
        variants checked by the compiler (one coder round on failures, then ranges narrowed) and
        by the inspector on a sheet (rejected variants narrow the ranges again). The result is a
        version with the final ranges written in, carrying the accepted verdict."""
        current = accepted
        if not current.shape.params:
            current = self._adopted(current, self._code("coder", "params", "params.md", current))
        if not current.shape.params:
            self.params, self.variant_check = {}, {"sampled": 0, "reason": "the program has no params"}
            return
        n = self.check_variants
        program, key = parse(current.program, PROGRAM), stable_key(current.program)
        samples = agent_variants.check_samples(program, current.shape.params, n, key)
        failing = [s for s in samples if not s.ok]
        if failing:
            fixed = self._adopted(
                current, self._code("coder", "variants", "variants.md", current, failures=_failures(failing))
            )
            if fixed is not current and fixed.shape.params:  # kept only if fewer samples fail
                parsed, fixed_key = parse(fixed.program, PROGRAM), stable_key(fixed.program)
                again = agent_variants.check_samples(parsed, fixed.shape.params, n, fixed_key)
                if sum(not s.ok for s in again) < len(failing):
                    current, program, key, samples = fixed, parsed, fixed_key, again
        drawn = [s for s in samples if not s.end]
        original = current.shape.params
        specs, samples, rounds = agent_variants.narrow_until_sound(program, original, n, key, samples)
        shown = [s for s in samples if not s.end]
        verdicts = self._judge_variants(current, shown)
        blamed = [
            agent_variants.Sample(
                s.name, {k: x for k, x in s.params.items() if k in (v.get("params") or s.params)}
            )
            for s, v in zip(shown, verdicts)
            if not v["plausible"]
        ]
        if blamed:
            specs, _, more = agent_variants.narrow_until_sound(
                program, agent_variants.narrowed(specs, blamed), n, key
            )
            rounds += 1 + more
        self.params = agent_variants.ranges_json(specs, original)
        self.variant_check = {
            "sampled": len(drawn),
            "compiled": sum(s.shape is not None for s in drawn),
            "lint_free": sum(s.ok for s in drawn),
            "accepted_by_inspector": len(shown) - len(blamed),
            "shown_to_inspector": len(shown),
            "coder_rounds": int(bool(failing)),
            "narrowing_rounds": rounds,
        }
        if specs != original:
            ranged = Version(
                len(self.versions) + 1,
                "ranges",
                current.number,
                agent_variants.with_ranges(current.program, specs),
            )
            self._compile(ranged)
            self.versions.append(ranged)
            self._save_version(ranged)
            current = self._adopted(current, ranged)
        if current is not accepted:
            current.verdict = accepted.verdict
            if (
                current.step == "ranges" and current.parent == accepted.number
            ):  # the same shape at the defaults
                current.inspection = accepted.inspection
            self._save_version(current)

    def _adopted(self, current: Version, candidate: Version) -> Version:
        """`candidate` if it compiles with the same parts and no attachment lint, else `current`."""
        sound = candidate.ok and not [d for d in candidate.lints if d.code in agent_variants.ATTACHMENT_LINTS]
        same_parts = sound and [(p.label, len(p.instance_ids)) for p in candidate.shape.parts] == [
            (p.label, len(p.instance_ids)) for p in current.shape.parts
        ]
        return candidate if same_parts else current

    def _judge_variants(self, version: Version, shown: list) -> list[dict]:
        """The inspector's verdict on each variant, from a sheet of their iso views."""
        self.progress(f"inspector: {len(shown)} variants")
        path = self.dir / "versions" / f"{version.number:03d}" / "variants.png"
        with self._timed("render"):
            self.tools.variant_sheet(
                [s.shape for s in shown], [f"{i}" for i in range(1, len(shown) + 1)], path
            )
        listing = "\n".join(
            f"{i}. " + ", ".join(f"{k} = {v:g}" for k, v in s.params.items()) for i, s in enumerate(shown, 1)
        )
        prompt = prompts.render(
            "variant_inspector.md", category=self.subject, count=len(shown), variants=listing
        )
        with self._timed("inspect"):
            answer = self._ask_json(
                "inspector",
                [text_part(prompt), image_part(path)],
                VariantVerdicts,
                lambda a: check_variant_verdicts(a, len(shown)),
            )
        verdicts = sorted(answer["variants"], key=lambda v: v["variant"])
        write_run_json(
            path.with_suffix(".json"), [{**v, "values": s.params} for s, v in zip(shown, verdicts)]
        )
        return verdicts

    # ---------------------------------------------------------------- designer

    def _design(self) -> None:
        frame = self._frame()
        self.progress("designer: bounds")
        bounds = self._ask_json(
            "metricizer", prompts.render("metricizer.md", category=self.subject, frame=frame), Bounds
        )
        write_run_json(self.dir / "design" / "bounds.json", bounds)
        self.design["bounds"] = bounds
        frame = self._frame()  # now with the front the metricizer named
        if self.plan:  # the designer listed this design's parts when it proposed the designs
            parts = {"parts": self.plan["parts"]}
        else:
            self.progress("designer: parts")
            prompt = prompts.render(
                "decomposer.md", category=self.category, frame=frame, bounds=self._bounds_text()
            )
            if self.vocabulary is not None:
                prompt += vocabulary_text(self.vocabulary, self.allow_other)
            parts = self._ask_json(
                "decomposer", prompt, Parts, lambda p: check_parts(p, self.vocabulary, self.allow_other)
            )
        write_run_json(self.dir / "design" / "parts.json", parts)
        self.design["parts"] = parts
        self.progress("designer: arrangement")
        arrangement = self._ask_json(
            "arranger",
            prompts.render(
                "arranger.md",
                category=self.subject,
                frame=frame,
                bounds=self._bounds_text(),
                parts=self._parts_text(),
            ),
            Arrangement,
            lambda a: check_arrangement(a, parts, bounds["bounds"]),
            soft_check=True,
        )
        write_run_json(self.dir / "design" / "arrangement.json", arrangement)
        self.design["arrangement"] = arrangement

    def _front(self) -> str:
        """Which side of this object faces −Y, in the metricizer's words (a generic rule if it gave none)."""
        front = self.design.get("bounds", {}).get("front")
        front = front.strip().rstrip(".") if isinstance(front, str) else ""
        return front or FRONT_FALLBACK

    def _frame(self) -> str:
        """The coordinate frame, and once the metricizer has answered, where this object's front is."""
        frame = prompts.template("frame.md").strip()
        if "bounds" not in self.design:
            return frame
        return f"{frame}\nThe front of this {self.category}, the side facing −Y: {self._front()}."

    def _bounds_text(self) -> str:
        return " × ".join(f"{v:g}" for v in self.design["bounds"]["bounds"])

    def _parts_text(self) -> str:
        return "\n".join(
            f"- `{p['label']}` ×{p['count']}" + (f": {p['description']}" if p.get("description") else "")
            for p in self.design["parts"]["parts"]
        )

    def _design_values(self) -> dict:
        return {
            "category": self.subject,
            "bounds": json.dumps(self.design["bounds"]["bounds"]),
            "parts": self._parts_text(),
            "arrangement": compact_arrangement(self.design["arrangement"]),
            "front": self._front(),
        }

    # ---------------------------------------------------------------- coder

    def _coder_system(self) -> str:
        return coder_system()

    def _code(
        self,
        role: str,
        step: str,
        template: str,
        parent: Version | None,
        images: Sequence[Path] = (),
        **values,
    ) -> Version:
        """Ask the coder (role) for a program, then repair it from diagnostics until it compiles.

        `images` (PNG paths) follow the prompt's text in the user message."""
        self.progress(f"{role}: writing")
        values.setdefault("category", self.subject)
        values.setdefault("front", self._front())
        if parent is not None:
            values["numbered"] = _numbered(parent.program)
        prompt = prompts.render(template, **values)
        if images:
            prompt = [text_part(prompt)] + [image_part(p) for p in images]
        version = self._program_version(role, step, prompt, parent)
        for attempt in range(self.budget.repairs):
            if version.ok:
                break
            self.progress(f"repair {attempt + 1}/{self.budget.repairs}")
            prompt = prompts.render(
                "repair.md",
                diagnostics=_diags(version.errors),
                offending=_offending(version.program, version.errors),
                numbered=_numbered(version.program),
            )
            version = self._program_version("repair", "repair", prompt, version)
        return version

    def _program_version(self, role: str, step: str, prompt: str | list, parent: Version | None) -> Version:
        # The system message is the same bytes in every coder-family call: a prefix-caching
        # server reads it from its cache after the first call.
        messages = [{"role": "system", "content": self._coder_system()}, {"role": "user", "content": prompt}]
        grammar = self.config.constrain == "grammar"
        reply = self._ask(role, messages, Constraint("pdsl", grammar=answer_grammar()) if grammar else None)
        try:
            program = normalise(extract_program(reply.text))  # lines numbered as the parser numbers them
        except ReplyError:
            program = ""
        version = Version(len(self.versions) + 1, step, parent.number if parent else None, program)
        if not program.strip():
            version.errors = [
                Diagnostic(
                    "E000",
                    "the reply contained no program",
                    hint="answer with the whole program in a ```pdsl fenced block",
                )
            ]
        else:
            with self._timed("compile"):
                self._compile(version, parent)
            if reply.truncated and not version.ok:
                version.errors.insert(
                    0,
                    Diagnostic(
                        "E000",
                        "your answer was cut off: it reached the token limit before the program ended",
                        hint="write a shorter program: loops, symmetric, radial and let instead of repeated lines",
                    ),
                )
        self.versions.append(version)
        self._save_version(version)
        return version

    def _coarse_view(self, version: Version) -> tuple[str, list[Path]]:
        """The coarse version rendered for the refiner: (what the images show, the images)."""
        folder = self.dir / "versions" / f"{version.number:03d}"
        preview = self.tools.preview
        assert preview is not None  # set by Toolchain.__post_init__
        with self._timed("render"):
            try:
                shown = preview(version.shape, folder)
            except Proto3dError as exc:
                if any(d.code == "R001" for d in exc.diagnostics):  # no OpenGL context: nothing to show
                    raise RunFailed(exc.format()) from None
                return (
                    f"no image: the coarse program could not be rendered ({exc.diagnostics[0].message})",
                    [],
                )
        return shown.description, [
            _shrunk(png, folder / f"refiner-{i}.png") for i, png in enumerate(shown.images, 1)
        ]

    def _compile(self, version: Version, parent: Version | None = None) -> None:
        """Compile `version`; its lints include W109 for anchors that moved since `parent`."""
        program = version.program
        try:
            shape = self.tools.compile(program, PROGRAM)
        except Proto3dError as exc:
            version.errors = [d.with_source(program) for d in exc.diagnostics] or [
                Diagnostic("E000", str(exc))
            ]
        except Exception as exc:  # a compiler bug must not end the run; it is shown like any error
            version.errors = [Diagnostic("E999", f"internal compiler error: {type(exc).__name__}: {exc}")]
        else:
            version.shape = shape
            version.lints = [d.with_source(program) for d in shape.diagnostics if d.severity != "error"]
            version.anchors_from = _anchor_baseline(parent)
            if version.anchors_from is not None:
                moved = compiler.moved_anchors(version.anchors_from, shape)
                version.lints += [d.with_source(program) for d in moved]

    # ---------------------------------------------------------------- inspector

    def _inspect(self, version: Version, polish_of: Version | None = None) -> dict:
        self.progress(f"inspector: round {self.iterations}" + (" (polish)" if polish_of else ""))
        folder = self.dir / "versions" / f"{version.number:03d}"
        with self._timed("render"):
            try:
                version.inspection = self.tools.inspect(version.shape, folder)
            except Proto3dError as exc:  # e.g. a blank render: no need to ask the inspector
                if any(d.code == "R001" for d in exc.diagnostics):  # no OpenGL context: nothing to retry
                    raise RunFailed(exc.format()) from None
                version.verdict = _render_failure(exc)
                self._save_version(version)
                return version.verdict
        insp = version.inspection
        shape = version.shape
        built = ", ".join(f"`{p.label}` ×{len(p.instance_ids)}" for p in shape.parts) or "none"
        planned = {p["label"] for p in self.design["parts"]["parts"]}
        missing = sorted(planned - {p.label for p in shape.parts})
        visibility = ", ".join(f"{k}: {v}" for k, v in insp.visibility.items()) or "unknown"
        if insp.invisible:
            visibility += f". Seen in no view: {', '.join(insp.invisible)}"
        questions = self._questions()
        prompt = prompts.render(
            "inspector.md",
            category=self.subject,
            frame=self._frame(),
            round=self._round_text(version, polish_of),
            questions=_questions_text(questions),
            checks_example=_CHECKS_EXAMPLE if questions else "",
            images=insp.description,
            bounds=self._bounds_text(),
            measured=" × ".join(f"{v:.3g}" for v in shape.bbox[1] - shape.bbox[0]),
            parts=self._parts_text(),
            built=built,
            missing=f"\nPlanned parts missing from the program: {', '.join(missing)}.\n" if missing else "",
            lints=_diags(version.lints) or "no problems found",
            visibility=visibility,
            numbered=_numbered(version.program),
        )
        content = [text_part(prompt)]
        for caption, image in zip(insp.captions or [""] * len(insp.images), insp.images):
            content += ([text_part(caption)] if caption else []) + [image_part(image)]
        with self._timed("inspect"):
            version.verdict = self._ask_json(
                "inspector",
                content,
                Verdict,
                (lambda v: check_checks(v, len(questions))) if questions else None,
                soft_check=True,
            )
        if questions:
            version.verdict["questions"] = questions
        self._save_version(version)
        return version.verdict

    def _questions(self) -> list[str]:
        if not self.questions:
            return []
        return plan_questions(
            self.design["bounds"]["bounds"],
            self.design["parts"]["parts"],
            self.design["arrangement"].get("instances", []),
        )

    def _round_text(self, version: Version, polish_of: Version | None) -> str:
        """Which inspection round this is, what is left of the budget, and the score to compare with."""
        n, total, b = self.iterations, self.budget.iterations, self.budget
        out = [
            f"This is inspection round {n} of at most {total}." if total else f"This is inspection round {n}."
        ]
        if polish_of is not None:
            out.append(
                f"It is a polish round: version {polish_of.number} was accepted with score "
                f"{polish_of.score:g}, and the coder has since applied the problems listed with that accept. "
                "The better of the two versions is kept: score this one on the same rubric, higher only if "
                "it really is better, and accept it only if it is still a good prototype."
            )
        elif total and n >= total:
            out.append(
                "It is the last round: a rejected version's fixes will not be applied, and the best-scored "
                "version so far is kept."
            )
        elif total:
            out.append(
                f"If you reject, the coder applies your fixes and the result is inspected again "
                f"({total - n} more round{'s' if total - n != 1 else ''} at most)."
            )
        else:
            out.append("If you reject, the coder applies your fixes and the result is inspected again.")
        used = self.recorder.total
        if b.tokens:
            out.append(f"About {max(0, b.tokens - used.tokens)} of the run's {b.tokens} tokens are left.")
        if b.cost:
            out.append(
                f"About {max(0.0, b.cost - used.cost):.2f} of the run's cost budget {b.cost:g} is left."
            )
        previous = [v for v in self.versions if v.verdict and v.number < version.number]
        if previous and polish_of is None:
            last = previous[-1]
            out.append(
                f"The previous inspected version ({last.number}) scored {last.score:g}"
                + (f": {last.verdict['summary']}" if last.verdict.get("summary") else ".")
            )
        return " ".join(out)

    def _best(self) -> Version | None:
        scored = [v for v in self.versions if v.score is not None]
        if scored:
            # an accepted version wins; then the score; ties go to the later version
            return max(reversed(scored), key=lambda v: (bool(v.verdict["accept"]), v.score))
        compiled = [v for v in self.versions if v.ok]
        return compiled[-1] if compiled else None

    # ---------------------------------------------------------------- run folder

    def _settings(self) -> dict:
        c = self.config
        manual = isinstance(self.recorder.live, ManualBackend)
        return {
            "category": self.category,
            "model": "manual" if manual else c.model,  # a person answered every call
            "roles": {} if manual else c.roles,
            "base_url": c.base_url,
            "temperature": c.temperature,
            "max_tokens": c.max_tokens,
            "budget": asdict(c.budget),
            "replay_from": str(self.replay_from) if self.replay_from else None,
            "plan": self.plan,
            "check_variants": self.check_variants,
            "vocabulary": self.vocabulary,
            "allow_other": self.allow_other,
            "one_step": self.one_step,
            "polish": self.polish,
            "questions": self.questions,
        }

    def _save_version(self, version: Version) -> None:
        folder = self.dir / "versions" / f"{version.number:03d}"
        write_text(folder / PROGRAM, version.program)
        write_run_json(folder / "version.json", version.to_json())
        if version.verdict is not None:
            write_run_json(folder / "verdict.json", version.verdict)
        write_report(self.dir, self._summary("running", ""), self.design, self._version_dicts())

    def _version_dicts(self) -> list[dict]:
        return [{**v.to_json(), "program": v.program} for v in self.versions]

    def _finalize(self, best: Version) -> None:
        folder = self.dir / "final"
        write_text(folder / PROGRAM, best.program)
        self.tools.export(best.shape, folder / "shape.glb")
        write_run_json(folder / "parts.json", self.tools.manifest(best.shape))
        if best.inspection is None:
            try:
                best.inspection = self.tools.inspect(best.shape, self.dir / "versions" / f"{best.number:03d}")
            except Proto3dError:
                return  # nothing to draw; the failure is in the version's verdict
        if best.inspection.sheet is not None:
            write_atomic(folder / "sheet.png", best.inspection.sheet.read_bytes(), parents=True)

    def _summary(self, status: str, reason: str) -> dict:
        best = self._best()
        return {
            "category": self.category,
            "status": status,
            "reason": reason,
            "iterations": self.iterations,
            "versions": len(self.versions),
            "best_version": best.number if best else None,
            "best_score": best.score if best else None,
            "usage": self.recorder.total.to_json(),
            "by_role": {role: u.to_json() for role, u in self.recorder.by_role.items()},
            "seconds": round(time.monotonic() - self._start, 3),
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
            "replayed_calls": self.recorder.replayed,
            "replay_mismatches": self.recorder.mismatches,
            "resumed_from": self.resumed_from,
            "pid": os.getpid(),
            "design": self.plan["name"] if self.plan else None,
            "params": self.params,
            "variant_check": self.variant_check,
            "polish": self.polish_check,
        }

    def _write_summary(self, status: str, reason: str) -> dict:
        summary = self._summary(status, reason)
        write_run_json(self.dir / "summary.json", summary)
        write_report(self.dir, summary, self.design, self._version_dicts())
        return summary

    @contextlib.contextmanager
    def _timed(self, name: str):
        start = time.monotonic()
        try:
            yield
        finally:
            self.timings[name] = self.timings.get(name, 0.0) + time.monotonic() - start


def plan_designs(
    category: str,
    folder: str | Path,
    config: LLMConfig,
    backend: Backend | None,
    count: int,
    vocabulary: dict | None = None,
    allow_other: bool = False,
    progress: Callable[[str], None] = lambda m: None,
) -> dict:
    """`count` structurally different designs of `category` from one designer call.

    The call is recorded in FOLDER/calls (so a second start replays it) and the answer, each
    design with its folder name (`slug`), is written to FOLDER/designs.json and returned with
    the call's usage: {"category", "designs": [{name, description, parts, slug}], "usage"}.
    """
    folder = Path(folder)
    with run_lock(folder):
        caller = _Caller(folder / "calls", config, backend, progress)
        prompt = prompts.render(
            "designs.md",
            category=category,
            count=count,
            frame=prompts.template("frame.md").strip(),
            vocabulary=vocabulary_text(vocabulary, allow_other) if vocabulary is not None else "",
        )
        progress("designer: designs")
        answer = caller._ask_json(
            "designer", prompt, Designs, lambda d: check_designs(d, count, vocabulary, allow_other)
        )
        plan = {
            "category": category,
            "designs": [{**d, "slug": slug(d["name"])} for d in answer["designs"]],
            "usage": caller.recorder.total.to_json(),
        }
        write_run_json(folder / "designs.json", plan)
    return plan


def replay(
    run_dir: str | Path,
    out_dir: str | Path,
    tools: Toolchain | None = None,
    progress: Callable[[str], None] = lambda m: None,
) -> dict:
    """Re-run a recorded run fully offline into `out_dir`; the settings come from its run.json."""
    from proto3d.llm.client import Budget

    settings = json.loads((Path(run_dir) / "run.json").read_text(encoding="utf-8"))
    config = LLMConfig(
        model=settings["model"],
        roles=settings["roles"],
        base_url=settings["base_url"],
        budget=Budget(**settings["budget"]),
    )
    agent = Agent(
        settings["category"],
        out_dir,
        config,
        None,
        tools,
        progress,
        replay_from=run_dir,
        plan=settings.get("plan"),
        check_variants=settings.get("check_variants", 0),
        vocabulary=settings.get("vocabulary"),
        allow_other=settings.get("allow_other", False),
        one_step=settings.get("one_step", False),
        polish=settings.get("polish", False),  # runs recorded before the polish step had none
        questions=settings.get("questions", False),
    )
    return agent.run()


FRONT_FALLBACK = "the side a person faces when using it"


def coder_system() -> str:
    """The coder-family system prompt: rules, language reference, examples. The same bytes for
    every call of every run, so prefix-caching servers reuse it; an example the reference
    already shows in full is not repeated."""
    reference = prompts.coder_reference().strip()
    examples = "\n\n".join(
        f"`{name}`:\n\n```pdsl\n{text.rstrip()}\n```"
        for name, text in prompts.examples()
        if text.strip() not in reference
    )
    return prompts.render("coder_system.md", language=reference, examples=examples)


def compact_arrangement(arrangement: dict) -> str:
    """The arrangement as JSON with one line per instance (indented JSON spends a line per number)."""
    instances = arrangement.get("instances", [])
    rest = "".join(f", {json.dumps(k)}: {json.dumps(v)}" for k, v in arrangement.items() if k != "instances")
    return '{"instances": [\n' + ",\n".join(json.dumps(i) for i in instances) + "\n]" + rest + "}"


def vocabulary_text(labels: dict, allow_other: bool) -> str:
    """The vocabulary as the designer reads it, appended to its prompt."""
    listing = "\n".join(f"- `{label}`: {description}" for label, description in labels.items())
    other = (
        "- `other`: a visible part with no counterpart above"
        if allow_other
        else "No other label is allowed: a part with no counterpart joins the label it is attached to."
    )
    return prompts.render("vocabulary.md", labels=listing, other=other)


def _failures(failing: list) -> str:
    out = []
    for s in failing[:8]:  # the first few are enough to show the pattern
        values = ", ".join(f"{k} = {v:g}" for k, v in s.params.items())
        out.append(
            f"- {s.name} ({values}):\n"
            + "\n".join(f"    {line}" for p in s.problems for line in p.splitlines())
        )
    return "\n".join(out)


def _shrunk(png: Path, out: Path, longest: int = 1024) -> Path:
    """`png` scaled down to at most `longest` pixels a side (written to `out`), or `png` if it is
    that small: the refiner needs the layout at a glance, not the inspector's detail, and a
    1660 × 758 sheet costs a vision model twice the tokens of a 1024 × 468 one."""
    from PIL import Image

    with Image.open(png) as image:
        if max(image.size) <= longest:
            return png
        image.thumbnail((longest, longest), Image.Resampling.LANCZOS)
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
    write_atomic(out, buffer.getvalue(), parents=True)
    return out


def _numbered(program: str) -> str:
    lines = program.split("\n")
    width = len(str(len(lines)))
    return "\n".join(f"{i:>{width}} | {line}" for i, line in enumerate(lines, 1))


def _diags(diagnostics: list[Diagnostic]) -> str:
    return "\n".join(d.format(PROGRAM) for d in diagnostics)


def _offending(program: str, diagnostics: list[Diagnostic]) -> str:
    """Each line an error points at, with one line of context either side, numbered."""
    lines = program.split("\n")
    wanted = sorted(
        {n for d in diagnostics if d.line for n in range(d.line - 1, d.line + 2) if 1 <= n <= len(lines)}
    )
    if not wanted:
        return "(the diagnostics name no line)"
    out, previous = [], None
    for n in wanted:
        if previous is not None and n != previous + 1:
            out.append("...")
        marker = ">" if any(d.line == n for d in diagnostics) else " "
        out.append(f"{marker}{n:>4} | {lines[n - 1]}")
        previous = n
    return "\n".join(out)


def _problems(verdict: dict) -> str:
    out = []
    for i, p in enumerate(verdict.get("problems", []), 1):
        where = f"`{p['part']}`" + (f" (line {p['line']})" if p.get("line") else "")
        out.append(f"{i}. {where}: {p['issue']} — fix: {p['fix']}")
    if verdict.get("summary"):
        out.insert(0, f"Overall: {verdict['summary']}\n")
    return "\n".join(out) or "(no specific problems listed; improve the overall likeness)"


_CHECKS_EXAMPLE = '"checks": [{"question": 1, "answer": true, "note": "all four legs meet the seat"}],\n '


def _questions_text(questions: list[str]) -> str:
    """The checklist the inspector answers before it scores, empty without questions."""
    if not questions:
        return ""
    listing = "\n".join(f"{i}. {q}" for i, q in enumerate(questions, 1))
    return (
        "\nBefore you score, answer each of these yes/no questions from what the images show (they come "
        'from the plan, so "no" means the prototype differs from it), in `checks`, one entry per question in '
        f'this order:\n\n{listing}\n\nEvery "no" that matters is also one of your problems.\n'
    )


def _render_failure(exc: Proto3dError) -> dict:
    return {
        "accept": False,
        "score": 0,
        "summary": "the shape could not be rendered",
        "problems": [
            {
                "part": "(whole shape)",
                "line": d.line or None,
                "issue": d.message,
                "fix": d.hint or "make every part visible and of a real size",
            }
            for d in exc.diagnostics
        ],
    }

"""Exercises of lab 01 (hierarchical features), checked by value and by behaviour.

In the lab: ``from course_lib.exercises.lab01 import *`` then ``bind_exercises(globals(), EXERCISES)`` creates
``q1``..``q4``; each reads the learner's variables, and the lab's own measurements, from the notebook.

1. :class:`BestStageFarDomain`: ``best_stage_eurosat``, the stage whose probe is best on EuroSAT, judged against
   the lab's table ``summary``.
2. :class:`FreezeUpToStage`: ``frozen_model`` frozen up to and including ``blocks.3``, and ``n_trainable``, the
   number of parameters that still train.
3. :class:`ProbeOneStage`: ``X_stage``, the EuroSAT features after ``blocks.4``, and ``acc_stage``, their
   cross-validated probe accuracy, compared with the lab's features ``feats`` and its ``summary``.
4. :class:`ReferencesOnNearDomain`: the X-ray section's shortcut test on ants vs bees, which the lab did not run:
   ``aspect_acc``, the aspect-ratio probe's accuracy there, and ``transfer_margin``, how far the pretrained final
   stage leads the strongest cheap reference (random init, raw pixels, aspect ratio).
5. :class:`XrayEvidence`: ``xray_reading``, a written answer: is the high NORMAL vs PNEUMONIA score evidence of
   transfer, and what would be? The check looks for this run's four scores, its verdict on the 682 X-rays and the
   parts the rubric grades (instructor copy, docs/RUBRICS.md).
"""
from __future__ import annotations

import copy
import re

import numpy as np
import torch
from torch import nn

from .. import models, probing
from ..checks import Incorrect, NotAttempted, Problem, WrittenAnswer, ____, bind_exercises  # noqa: F401  (re-exported for the lab)

__all__ = ["BestStageFarDomain", "EXERCISES", "FreezeUpToStage", "ProbeOneStage", "ReferencesOnNearDomain", "XrayEvidence", "____",
           "bind_exercises"]


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _lab_value(problem: Problem, name: str, what: str):
    value = problem.namespace.get(name)
    if value is None:
        raise NotAttempted(f"run the lab's cells above first: they create `{name}` ({what}), which this check "
                           "compares your answer with.")
    return value


def _cell(summary, dataset: str, kind: str, stage: str) -> str:
    c = probing.curve(summary, dataset, kind)
    return f"{_pct(c.loc[stage, 'mean'])} ± {_pct(c.loc[stage, 'std'])}"


class BestStageFarDomain(Problem):
    """Read the best stage on the far domain from the lab's own table."""

    vars = ("best_stage_eurosat",)
    dataset = "eurosat"
    hints = ("`summary` has one row per data set, kind of features and stage, with the mean accuracy in `mean`. "
             "Keep the rows of `eurosat` with pretrained features.",
             "`probing.curve(summary, 'eurosat')` gives those rows indexed by stage; `.idxmax()` of a column returns "
             "the index of its largest value.")
    solution_code = ("eurosat_curve = probing.curve(summary, 'eurosat', probing.PRETRAINED)\n"
                     "best_stage_eurosat = eurosat_curve['mean'].idxmax()\n"
                     "# or: best_stage_eurosat = probing.best_stage(summary, 'eurosat')")

    def verify(self, best_stage_eurosat):
        summary = _lab_value(self, "summary", "the layer-wise probe table")
        c = probing.curve(summary, self.dataset, probing.PRETRAINED)
        stages = list(c.index)
        if not isinstance(best_stage_eurosat, str) or best_stage_eurosat not in stages:
            raise Incorrect(f"`best_stage_eurosat` must be a stage name, one of {stages}; got {best_stage_eurosat!r}.")
        best, final = str(c["mean"].idxmax()), stages[-1]
        got = best_stage_eurosat
        if got != best:
            if got == final:
                why = (f"the final stage {final!r} measured {_cell(summary, self.dataset, probing.PRETRAINED, final)}, "
                       f"but {best!r} measured {_cell(summary, self.dataset, probing.PRETRAINED, best)}. Far from "
                       "ImageNet, the last stages specialise in ImageNet's objects; the middle stages' textures and "
                       "patterns carry over better.")
            elif got == probing.best_stage(summary, self.dataset, probing.RANDOM):
                why = (f"{got!r} is where the *random-init* network probes best; with pretrained weights {best!r} wins "
                       f"({_cell(summary, self.dataset, probing.PRETRAINED, best)}).")
            elif "hymenoptera" in set(summary["dataset"]) and got == probing.best_stage(summary, "hymenoptera"):
                why = (f"{got!r} is the best stage on hymenoptera, the near domain; on eurosat {best!r} measured "
                       f"{_cell(summary, self.dataset, probing.PRETRAINED, best)} against "
                       f"{_cell(summary, self.dataset, probing.PRETRAINED, got)} for yours.")
            else:
                why = (f"{got!r} measured {_cell(summary, self.dataset, probing.PRETRAINED, got)}, {best!r} "
                       f"{_cell(summary, self.dataset, probing.PRETRAINED, best)}: take the highest mean.")
            raise Incorrect(why)
        gap = c.loc[best, "mean"] - c.loc[final, "mean"]
        if best == final:
            return f"{best!r}: on this run the final features probe best on eurosat too."
        return (f"{best!r}: {_cell(summary, self.dataset, probing.PRETRAINED, best)}, {100 * gap:.1f} points above the "
                f"final stage {final!r}. For a far domain, try features from the middle of the network, not only the "
                "head's input; compare the gap with the spread before you trust it.")


def _check_backward_reaches_only_trainable(model: nn.Module) -> None:
    """Behaviour: a backward pass reaches exactly the trainable parameters (the model's mode is restored)."""
    was_training = model.training
    model.eval()
    try:
        model.zero_grad(set_to_none=True)
        model(torch.randn(1, 3, 64, 64)).float().sum().backward()
        grads = {n for n, p in model.named_parameters() if p.grad is not None}
    finally:
        model.zero_grad(set_to_none=True)
        model.train(was_training)
    frozen_with_grad = [n for n, p in model.named_parameters() if n in grads and not p.requires_grad]
    if frozen_with_grad:  # pragma: no cover - torch never does this
        raise Incorrect(f"frozen tensors got gradients: {frozen_with_grad[:3]}.")


class FreezeUpToStage(Problem):
    """Freeze a network up to and including one stage, and count what still trains."""

    vars = ("frozen_model", "n_trainable")
    stage = "blocks.3"
    hints = ("`models.freeze(model, until=stage)` freezes every layer up to and including `stage`; the later stages "
             "and the head keep training.",
             "`models.count_parameters(model, trainable_only=True)` counts the parameters with requires_grad=True. "
             "Use a fresh copy of the network, not the one the lab extracts features with.")
    solution_code = ("frozen_model = models.load_model(model_name)          # a fresh copy\n"
                     "models.freeze(frozen_model, until='blocks.3')\n"
                     "n_trainable = models.count_parameters(frozen_model, trainable_only=True)\n"
                     "models.parameter_table(frozen_model)                    # per stage: params and trainable")

    def verify(self, frozen_model, n_trainable):
        if not isinstance(frozen_model, nn.Module):
            raise Incorrect(f"`frozen_model` should be a network (e.g. from models.load_model), got "
                            f"{type(frozen_model).__name__}.")
        names = models.stage_names(frozen_model)
        if self.stage not in names:
            raise Incorrect(f"this network has no stage {self.stage!r} (its stages: {names}); use the lab's "
                            "tf_efficientnet_lite0.")
        if isinstance(n_trainable, bool) or not isinstance(n_trainable, (int, np.integer)):
            raise Incorrect(f"`n_trainable` should be a whole number of parameters, got {n_trainable!r}.")
        n_trainable = int(n_trainable)

        def count_if(until):  # what freezing up to `until` (None: all but the head) leaves trainable, on a copy
            twin = copy.deepcopy(frozen_model)
            models.freeze(models.unfreeze(twin), until=until)
            return models.count_parameters(twin, trainable_only=True)

        i = names.index(self.stage)
        expected = count_if(self.stage)
        total = models.count_parameters(frozen_model)
        have = models.count_parameters(frozen_model, trainable_only=True)
        if have != expected:
            near = {names[j]: count_if(names[j]) for j in (i - 1, i + 1) if 0 <= j < len(names)}
            match = [s for s, n in near.items() if n == have]
            if have == total:
                why = "nothing is frozen: every parameter still trains. Call models.freeze(frozen_model, until=...)."
            elif have == count_if(None):
                why = ("only the head trains: that is `models.freeze(model)` with no `until`, feature extraction. "
                       f"Here the stages after {self.stage!r} should train too.")
            elif match:
                why = (f"it matches freezing up to {match[0]!r}: `until` includes the stage you name, so freeze with "
                       f"until={self.stage!r} to keep {self.stage!r} frozen and train from {names[i + 1]!r} on.")
            else:
                why = "compare `models.parameter_table(frozen_model)` with what you meant to freeze."
            raise Incorrect(f"`frozen_model` has {have:,} trainable parameters; frozen up to and including "
                            f"{self.stage!r} it would have {expected:,}: {why}")
        _check_backward_reaches_only_trainable(frozen_model)
        if n_trainable != expected:
            if n_trainable == total:
                why = "that is every parameter of the network, frozen or not: count only requires_grad=True."
            elif n_trainable == total - expected:
                why = "that is the number of *frozen* parameters; the question asks for those that still train."
            elif n_trainable == count_if(None):
                why = "that is the head alone; the stages after the frozen ones train too."
            else:
                why = "use models.count_parameters(frozen_model, trainable_only=True)."
            raise Incorrect(f"`n_trainable` = {n_trainable:,}, but {expected:,} parameters of `frozen_model` train: "
                            f"{why}")
        return (f"{expected:,} of {total:,} parameters ({expected / total:.0%}) still train: freezing the first "
                f"{i + 1} stages, the early edge and texture detectors, removes only {total - expected:,} parameters "
                "(early stages are narrow), but it also saves their backward pass.")


class ProbeOneStage(Problem):
    """Extract one stage's features yourself and cross-validate a probe on them, as the lab does."""

    vars = ("X_stage", "acc_stage")
    dataset = "eurosat"
    stage = "blocks.4"
    tolerance = 0.04
    hints = ("`features.extract_features(model, tables['eurosat'], layers=['blocks.4'], transform=transform)` returns "
             "a Features object; its `.X` is the N x D matrix (maps averaged over space).",
             "`train.cross_val_probe(X, labels, n_splits=n_splits, seed=seed)` returns a dict; its 'mean' is the "
             "cross-validated accuracy, as a fraction.")
    solution_code = ("eurosat = tables['eurosat']\n"
                     "X_stage = features.extract_features(model, eurosat, layers=['blocks.4'], transform=transform).X\n"
                     "acc_stage = train.cross_val_probe(X_stage, eurosat.labels, n_splits=n_splits, seed=seed)['mean']")

    def verify(self, X_stage, acc_stage):
        feats = _lab_value(self, "feats", "the lab's pretrained features per data set")
        summary = _lab_value(self, "summary", "the layer-wise probe table")
        lab = feats[self.dataset].layers
        widths = {s: m.shape[1] for s, m in lab.items()}
        X = np.asarray(getattr(X_stage, "X", X_stage))
        n, d = len(next(iter(lab.values()))), widths[self.stage]
        if X.ndim != 2:
            raise Incorrect(f"`X_stage` should be an N x D matrix (one row per image), got shape {X.shape}. Maps are "
                            "averaged over space: extract_features does it for you.")
        if X.shape[0] != n:
            raise Incorrect(f"`X_stage` has {X.shape[0]} rows but the lab's {self.dataset} table has {n} images; use "
                            "the whole table (the probe cross-validates over all of it), not one split.")
        if X.shape[1] != d:
            same = [s for s, w in widths.items() if w == X.shape[1]]
            where = f": that is the width of {same}" if same else ""
            raise Incorrect(f"`X_stage` has {X.shape[1]} columns{where}; {self.stage!r} outputs {d} channels. "
                            f"Pass layers=[{self.stage!r}].")
        if not np.allclose(X, lab[self.stage], rtol=1e-3, atol=1e-4):
            rand = self.namespace.get("random_feats")
            if rand is not None and np.allclose(X, rand[self.dataset].layers[self.stage], rtol=1e-3, atol=1e-4):
                raise Incorrect("these are the random-init network's features; use the pretrained `model`.")
            raise Incorrect(f"`X_stage` has the right shape but other values than the lab's {self.stage!r} features "
                            "(largest difference "
                            f"{float(np.abs(X - lab[self.stage]).max()):.3g}): pass transform=transform, so the "
                            "images are resized and normalised as in the lab.")
        if isinstance(acc_stage, dict):
            raise Incorrect("`acc_stage` is the whole dict cross_val_probe returns; take its 'mean'.")
        try:
            acc = float(acc_stage)
        except (TypeError, ValueError):
            raise Incorrect(f"`acc_stage` should be a number (an accuracy), got {type(acc_stage).__name__}.") from None
        if 1 < acc <= 100:
            raise Incorrect(f"`acc_stage` = {acc:g} looks like a percentage; give the accuracy as a fraction (0..1).")
        want = float(probing.curve(summary, self.dataset).loc[self.stage, "mean"])
        if acc >= 0.995 and want < 0.98:
            raise Incorrect(f"{_pct(acc)} is what a probe scores on the images it was fitted on; the lab measured "
                            f"{_pct(want)} on held-out folds. Score on images the probe has not seen "
                            "(train.cross_val_probe does).")
        if abs(acc - want) > self.tolerance:
            raise Incorrect(f"`acc_stage` = {_pct(acc)}, but a cross-validated probe on these features measured "
                            f"{_pct(want)} in the lab: use train.cross_val_probe with "
                            f"n_splits={self.namespace.get('n_splits', 5)}.")
        best = probing.best_stage(summary, self.dataset)
        best_cell = _cell(summary, self.dataset, probing.PRETRAINED, best)
        return (f"{X.shape[0]} images x {X.shape[1]} channels, probe accuracy {_pct(acc)} (lab: {_pct(want)}); "
                f"the best stage on {self.dataset} measured {best_cell} at {best!r}. "
                "A stage's pooled output is a ready-made feature vector: no training of the network needed.")


class ReferencesOnNearDomain(Problem):
    """Run the X-ray section's shortcut test on a data set the lab did not run it on: ants vs bees."""

    vars = ("aspect_acc", "transfer_margin")
    dataset = "hymenoptera"
    tolerance = 0.03
    hints = ("`probing.aspect_ratio_feature(tables['hymenoptera'])` is one number per photo; "
             "`probing.reference_probe(X, table, 'aspect ratio', seeds=seeds, n_splits=n_splits)` cross-validates a "
             "probe on it and returns one row per fold: average its 'accuracy'.",
             "The cheap references on hymenoptera are the random-init final stage and the raw pixels (both in "
             "`summary`, e.g. `facts['hymenoptera']`) and your aspect ratio. Subtract the *largest* of the three "
             "from the pretrained final stage: a lead over the weakest reference proves little.")
    solution_code = ("hym = tables['hymenoptera']\n"
                     "aspect_rows = probing.reference_probe(probing.aspect_ratio_feature(hym), hym, 'aspect ratio',\n"
                     "                                      seeds=seeds, n_splits=n_splits)\n"
                     "aspect_acc = aspect_rows['accuracy'].mean()\n"
                     "f = facts['hymenoptera']\n"
                     "transfer_margin = f['final'] - max(f['final_random'], f['raw_pixels'], aspect_acc)")

    def _references(self) -> dict[str, float]:
        summary = _lab_value(self, "summary", "the layer-wise probe table")
        table = _lab_value(self, "tables", "the lab's data sets")[self.dataset]
        seeds = self.namespace.get("seeds", [self.namespace.get("seed", 0)])
        rows = probing.reference_probe(probing.aspect_ratio_feature(table), table, "aspect ratio", seeds=seeds,
                                       n_splits=self.namespace.get("n_splits", 5))
        raw = sorted(k for k in set(summary.loc[summary["dataset"] == self.dataset, "features"])
                     if k.startswith("raw pixels"))
        random_final = probing.curve(summary, self.dataset, probing.RANDOM)["mean"].iloc[-1]
        refs = {"random init, final stage": float(random_final), "aspect ratio": float(rows["accuracy"].mean())}
        refs.update({kind: probing.reference(summary, self.dataset, kind)["mean"] for kind in raw})
        return refs

    def _check_aspect(self, acc, want: float, summary) -> None:
        if isinstance(acc, (dict, str)) or not np.isscalar(acc):
            raise Incorrect(f"`aspect_acc` should be one number, the mean of the folds' 'accuracy', got "
                            f"{type(acc).__name__}.")
        acc = float(acc)
        if 1 < acc <= 100:
            raise Incorrect(f"`aspect_acc` = {acc:g} looks like a percentage; give it as a fraction (0..1).")
        if abs(acc - want) <= self.tolerance:
            return
        xray = [r for r in summary.itertuples() if r.features == "aspect ratio" and abs(r.mean - acc) < 1e-6]
        if xray:
            raise Incorrect(f"{_pct(acc)} is the aspect-ratio probe on {xray[0].dataset}, read from `summary`; "
                            f"run it on the {self.dataset} photos (tables[{self.dataset!r}]).")
        raise Incorrect(f"`aspect_acc` = {_pct(acc)}, but the aspect-ratio probe on {self.dataset} with the lab's "
                        f"seeds and {self.namespace.get('n_splits', 5)} folds measures {_pct(want)}.")

    def verify(self, aspect_acc, transfer_margin):
        summary = _lab_value(self, "summary", "the layer-wise probe table")
        refs = self._references()
        self._check_aspect(aspect_acc, refs["aspect ratio"], summary)
        pre = probing.curve(summary, self.dataset)["mean"]
        final, best = float(pre.iloc[-1]), float(pre.max())
        strongest = max(refs, key=refs.get)
        want = final - refs[strongest]
        try:
            got = float(transfer_margin)
        except (TypeError, ValueError):
            raise Incorrect(f"`transfer_margin` should be a number, got {type(transfer_margin).__name__}.") from None
        if abs(got - want) > self.tolerance:
            if abs(got - 100 * want) <= 100 * self.tolerance:
                why = "that is in percentage points; give it as a fraction, like the accuracies."
            elif abs(got + want) <= self.tolerance:
                why = "the sign is reversed: pretrained minus the reference."
            elif abs(got - (best - refs[strongest])) <= self.tolerance < abs(best - final):
                why = "that uses the best pretrained stage; compare the final stage, what a transferred head reads."
            else:
                weaker = [k for k in refs if k != strongest and abs(got - (final - refs[k])) <= self.tolerance]
                why = (f"that is the lead over {weaker[0]} ({_pct(refs[weaker[0]])}), not the strongest reference"
                       if weaker else "pretrained final stage minus the largest of the three references")
            raise Incorrect(f"`transfer_margin` = {got:.3f}, expected {want:.3f}: {why}.")
        listed = "; ".join(f"{k} {_pct(v)}" for k, v in refs.items())
        if want > 0.05:
            reading = ("no cheap reference comes close, so here, unlike on the X-rays, the pretrained score is "
                       "evidence of transfer")
        else:
            reading = "a cheap reference comes as close as on the X-rays: the score alone is no evidence of transfer"
        return (f"pretrained final stage {_pct(final)}; references: {listed}. It leads the strongest reference "
                f"({strongest}) by {100 * want:.1f} points: {reading}. Run the cheap references next to a score before you "
                "believe it, on every data set.")


class XrayEvidence(WrittenAnswer):
    vars = ("xray_reading", "facts", "summary", "entries")
    XRAY, MORE = "xray_normal_vs_pneumonia", "far_domain_poor/xray_more_bacteria_vs_virus"
    MIN_WORDS = 100
    TOO_SHORT = ("{n} words: the answer needs at least {min_words} to give the scores, what they say about transfer "
                 "and what comparison would be evidence.")
    PARTS = {"which cue the cheap references read (what differs between the classes' scans)":
             r"shortcut|shape|aspect|exposure|\bcue",
             "what would be evidence of transfer (a task without that cue, folds by patient, the same references)":
             r"bacteri|viral|patient|without (the|that|this) (shortcut|cue)"}
    hints = ("Read section 4's printed facts for `xray_normal_vs_pneumonia` (pretrained final stage, random init final "
             "stage, raw pixels) and its table (the aspect-ratio row). How far apart are they?",
             "If a probe that sees only the scan's shape scores that high, what does the pretrained score prove? Then "
             "read the verdict your run recorded for the 682 bacterial vs viral X-rays, and its power line.")
    solution_code = ('xray_reading = """On NORMAL vs PNEUMONIA my run scored <a> with pretrained final features, '
                     '<b> with random weights, <c> with 16 x 16 raw pixels and <d> with the aspect ratio alone. The '
                     'classes were scanned at different shapes and exposures: a shortcut that cheap references read '
                     'as well as ImageNet features, so the high score is no evidence of transfer. Evidence needs a '
                     'task without that cue, folds by patient and the same references: on the 682 bacterial vs viral '
                     'X-rays pretrained beat random init by <diff>, verdict <inconclusive>, and the power line says '
                     'the design cannot place a gain of a few points on either side of the 5-point margin."""')

    def run_parts(self, facts, summary, entries):
        entry = entries.get(self.MORE)
        if entry is None:
            raise NotAttempted("run section 4's 682-X-ray cells first: they record the verdict this answer reads.")
        return {"the verdict your run recorded for pretrained vs random init on the 682 bacterial vs viral X-rays":
                re.escape(entry["verdict"])}

    def quoted(self, facts, summary, entries):
        f = facts[self.XRAY]
        return {"the pretrained final stage's NORMAL vs PNEUMONIA score your run printed": (f["final"], 0.006),
                "the random-init final stage's score": (f["final_random"], 0.006),
                "the raw-pixel reference's score": (f["raw_pixels"], 0.006),
                "the aspect-ratio reference's score": (probing.reference(summary, self.XRAY, "aspect ratio")["mean"],
                                                       0.006)}


EXERCISES = [BestStageFarDomain, FreezeUpToStage, ProbeOneStage, ReferencesOnNearDomain, XrayEvidence]

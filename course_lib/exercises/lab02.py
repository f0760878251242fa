"""Exercises of lab 02 (feature extraction vs fine-tuning), checked by value and by behaviour.

In the lab: ``from course_lib.exercises.lab02 import *`` then ``bind_exercises(globals(), EXERCISES)`` creates
``q1``..``q4``; each reads the learner's variables from the notebook.

1. :class:`FreezeBackbone`: ``frozen_net``, a model whose backbone is frozen and whose head still trains.
2. :class:`BackboneLearningRate`: ``optimizer`` for ``ft_net`` with a head group and a 10x smaller backbone rate.
3. :class:`PickStrategy`: ``pick_strategy(summary, dataset, size)``, the decision table's rule for one cell (the
   cheapest strategy within 2 points, or the best one's seed spread, of the best), asked before the table is shown
   and checked on made-up cells that catch the usual slips and on every cell of the lab's sweep (``summary``).
4. :class:`HeadFromProbe`: ``lp_net``, a network whose head predicts exactly what the fitted linear ``probe`` does
   (the first half of LP-FT).
5. :class:`AdviseAColleague`: ``advice``, a written recommendation for a far-domain task at 40 images per class,
   from this run's sweep (``summary``) and ledger (``run.ledger``); the rubric grades the reasoning.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch import nn

from .. import checks, models, strategies
from ..checks import Incorrect, NotAttempted, Problem, WrittenAnswer, ____, bind_exercises  # noqa: F401  (re-exported for the lab)

__all__ = ["AdviseAColleague", "BackboneLearningRate", "EXERCISES", "FreezeBackbone", "HeadFromProbe", "PickStrategy", "____",
           "bind_exercises"]


def _model(value, name: str) -> nn.Module:
    if not isinstance(value, nn.Module):
        raise Incorrect(f"`{name}` should be a model (a torch nn.Module, e.g. from models.load_model), "
                        f"got {type(value).__name__}.")
    return value


def _split(net: nn.Module) -> tuple[str, list[tuple[str, nn.Parameter]], list[tuple[str, nn.Parameter]]]:
    """(head module name, head parameters, backbone parameters) by name."""
    head = models.head_name(net)
    params = list(net.named_parameters())
    is_head = [n.startswith(head + ".") for n, _ in params]
    return head, [p for p, h in zip(params, is_head) if h], [p for p, h in zip(params, is_head) if not h]


class FreezeBackbone(Problem):
    vars = ("frozen_net",)
    hints = ("Every parameter has a `requires_grad` flag; a frozen one gets no gradient and never changes.",
             "Set `requires_grad = False` on every parameter of the network, then back to True on the head's: "
             "`net.get_classifier()` is the head (or call `models.freeze(net)`, which does both).")
    solution_code = ("for p in net.parameters():\n"
                     "    p.requires_grad = False          # freeze everything\n"
                     "for p in net.get_classifier().parameters():\n"
                     "    p.requires_grad = True           # the new head trains\n"
                     "frozen_net = net                     # or, in one call: frozen_net = models.freeze(net)")

    def verify(self, frozen_net):
        net = _model(frozen_net, "frozen_net")
        head, head_params, backbone = _split(net)
        still = [(n, p) for n, p in backbone if p.requires_grad]
        if still:
            n_still = sum(p.numel() for _, p in still)
            raise Incorrect(f"{len(still)} backbone tensors ({n_still:,} parameters) still train, e.g. `{still[0][0]}`. "
                            "Freeze every parameter outside the head: with a few hundred images, millions of "
                            "trainable weights overfit and cost a backward pass through the whole network.")
        frozen_head = [n for n, p in head_params if not p.requires_grad]
        if frozen_head:
            raise Incorrect(f"the head (`{head}`) is frozen too ({', '.join(frozen_head)}): nothing would learn. "
                            "Keep the head trainable.")
        n_head = sum(p.numel() for _, p in head_params)
        n_trainable = models.count_parameters(net, trainable_only=True)
        if n_trainable != n_head:  # pragma: no cover - the two checks above already imply this
            raise Incorrect(f"{n_trainable:,} parameters train but the head has {n_head:,}.")
        # Behaviour: one backward pass reaches the head and nothing else.
        was_training = net.training
        net.eval()
        try:
            size = int((getattr(net, "pretrained_cfg", None) or {}).get("input_size", (3, 64, 64))[-1])
            net.zero_grad(set_to_none=True)
            net(torch.randn(2, 3, min(size, 64), min(size, 64))).float().sum().backward()
            got_grad = [n for n, p in net.named_parameters() if p.grad is not None]
        finally:
            net.zero_grad(set_to_none=True)
            net.train(was_training)
        if any(not n.startswith(head + ".") for n in got_grad) or not got_grad:
            raise Incorrect(f"after a backward pass these tensors got gradients: {got_grad[:5]}; only the head's should.")
        total = models.count_parameters(net)
        return (f"only the head's {n_head:,} parameters train, {total / n_head:,.0f}x fewer than the {total:,} of the "
                "whole network; a backward pass stops at the head, so an epoch costs little more than inference.")


class BackboneLearningRate(Problem):
    vars = ("ft_net", "optimizer")
    hints = ("An optimizer takes a list of parameter groups: `[{'params': [...], 'lr': ...}, {...}]`.",
             "Split `ft_net.named_parameters()` by name: names starting with `models.head_name(ft_net) + '.'` "
             "belong to the head. Head at `lr_head`, everything else at `lr_head / 10`.")
    solution_code = ("head = models.head_name(ft_net)\n"
                     "head_params = [p for n, p in ft_net.named_parameters() if n.startswith(head + '.')]\n"
                     "backbone_params = [p for n, p in ft_net.named_parameters() if not n.startswith(head + '.')]\n"
                     "optimizer = torch.optim.AdamW([{'params': head_params, 'lr': lr_head},\n"
                     "                               {'params': backbone_params, 'lr': lr_head / 10}])\n"
                     "# course_lib does the same: train.make_optimizer(ft_net, lr_head, lr_head / 10)")

    def verify(self, ft_net, optimizer):
        net = _model(ft_net, "ft_net")
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise Incorrect(f"`optimizer` should be a torch optimizer (e.g. torch.optim.AdamW), got "
                            f"{type(optimizer).__name__}.")
        head, head_params, backbone = _split(net)
        lr_of: dict[int, float] = {}
        for group in optimizer.param_groups:
            for p in group["params"]:
                lr_of[id(p)] = float(group["lr"])
        missing = [n for n, p in net.named_parameters() if p.requires_grad and id(p) not in lr_of]
        if missing:
            raise Incorrect(f"{len(missing)} trainable tensors of `ft_net` are in no group, e.g. `{missing[0]}`: the "
                            "optimizer would never update them. Put every parameter in one of the two groups.")
        head_lrs = {lr_of[id(p)] for _, p in head_params if p.requires_grad}
        back_lrs = {lr_of[id(p)] for _, p in backbone if p.requires_grad}
        if len(head_lrs) != 1 or len(back_lrs) != 1:
            raise Incorrect(f"the head trains at rates {sorted(head_lrs)} and the backbone at {sorted(back_lrs)}; "
                            "give each one rate (one group each).")
        lr_head, lr_back = head_lrs.pop(), back_lrs.pop()
        if lr_head <= 0 or lr_back <= 0:
            raise Incorrect(f"learning rates must be positive, got head {lr_head:g} and backbone {lr_back:g}.")
        if np.isclose(lr_back, 10 * lr_head, rtol=1e-6):
            raise Incorrect(f"the rates are swapped: head {lr_head:g}, backbone {lr_back:g}. The head is new and random "
                            "and needs the large step; the pretrained backbone only needs nudging.")
        if not np.isclose(lr_head / lr_back, 10.0, rtol=1e-6):
            raise Incorrect(f"head {lr_head:g} and backbone {lr_back:g}: a ratio of {lr_head / lr_back:g}, not 10. "
                            "The backbone's rate should be 10 times smaller than the head's.")
        return (f"head at {lr_head:g}, backbone at {lr_back:g}. The random head needs large steps; the pretrained "
                "layers already compute useful features, and large steps would overwrite them (section 5 measures it).")


def _cell_summary(curves: dict, dataset: str = "near", size: str = "10", others: dict | None = None) -> pd.DataFrame:
    """A made-up ``summary`` (the sweep's shape) with one cell: curves = {strategy: (mean, std)}; `others` adds rows
    of other data sets or sizes: {(dataset, size): curves}."""
    rows = []
    for (d, sz), cell in {(dataset, size): curves, **(others or {})}.items():
        for strategy, (mean, std) in cell.items():
            n = 40.0 if sz == "all" else float(sz)
            rows.append({"dataset": d, "strategy": strategy, "size": sz, "n_per_class": n, "mean": mean, "std": std,
                         "n_seeds": 3, "seconds": 1.0})
    return pd.DataFrame(rows)


def _wrong_rules(cell: pd.DataFrame, tolerance: float) -> dict[str, str]:
    """What the usual slips return on one cell (rows of one data set and size), keyed by an explanation of the slip."""
    order = [s for s in strategies.COST_ORDER if s in set(cell["strategy"])]
    best = cell.loc[cell["mean"].idxmax()]

    def cheapest_within(margins):
        close = set(cell.loc[cell["mean"] >= best["mean"] - margins, "strategy"])
        return next(s for s in order if s in close)

    return {
        "picking the most accurate strategy, whatever it costs (a strategy within the noise of the best is as good, "
        "and the cheaper one wins)": str(best["strategy"]),
        "picking the cheapest strategy, whatever its accuracy (only strategies within the margin of the best "
        "qualify)": order[0],
        "a margin of 2 points only (when the best one's seeds spread wider, its spread is the margin: the "
        "measurements cannot tell apart what lies inside it)": cheapest_within(tolerance),
        "a margin of the seeds' spread only (the margin is never smaller than 2 points, however steady the best "
        "one is)": cheapest_within(float(best["std"])),
        "a margin of each candidate's own spread (the margin is the best one's spread, or 2 points, the same for "
        "every candidate)": cheapest_within(np.maximum(tolerance, cell["std"].to_numpy())),
    }


class PickStrategy(Problem):
    """Write the decision table's rule for one cell; checked on made-up cells built to catch the usual slips, and on
    every cell of the lab's own sweep (``summary``) when it exists. Asked before the table is shown."""

    vars = ("pick_strategy",)
    summary_var = "summary"
    tolerance = 0.02
    hints = ("`summary` has one row per data set, strategy and size (`summary['size']` holds strings: '5', '10', "
             "'all'), with the seeds' `mean` and `std`. Select the rows of one data set and size first.",
             "Take the row with the best mean; the margin is max(0.02, that row's std). Keep every strategy whose mean "
             "is at least best - margin, and return the first of them in `strategies.COST_ORDER` (cheapest first).")
    solution_code = ("def pick_strategy(summary, dataset, size, tolerance=0.02):\n"
                     "    cell = summary[(summary['dataset'] == dataset) & (summary['size'] == str(size))]\n"
                     "    best = cell.loc[cell['mean'].idxmax()]\n"
                     "    margin = max(tolerance, best['std'])      # 2 points, or the best one's seed spread\n"
                     "    close = set(cell.loc[cell['mean'] >= best['mean'] - margin, 'strategy'])\n"
                     "    return next(s for s in strategies.COST_ORDER if s in close)   # the cheapest of them\n"
                     "# course_lib: strategies.best_strategies(summary, dataset, size, tolerance)[0]")
    # (what the cell shows, curves {strategy: (mean, std)}, other rows in the same summary): every answer differs
    # from at least one slip of _wrong_rules, and no mean sits on a margin's edge.
    CASES = (
        ("a clear winner", {"probe": (0.80, 0.01), "last_k": (0.70, 0.02), "full_ft": (0.60, 0.03)}, None),
        ("fine-tuning worth its cost", {"probe": (0.80, 0.01), "last_k": (0.81, 0.01), "full_ft": (0.90, 0.01)}, None),
        ("a tie within 2 points", {"probe": (0.84, 0.0), "last_k": (0.855, 0.0), "full_ft": (0.83, 0.01)}, None),
        ("a tie within the best one's spread", {"probe": (0.80, 0.01), "full_ft": (0.84, 0.06)}, None),
        ("2 points with a steady best", {"probe": (0.85, 0.0), "last_k": (0.865, 0.005)}, None),
        ("a noisy candidate, a steady best", {"probe": (0.80, 0.10), "full_ft": (0.85, 0.01)}, None),
        ("other data sets and sizes in the same summary", {"probe": (0.70, 0.01), "full_ft": (0.90, 0.01)},
         {("far", "10"): {"probe": (0.95, 0.0), "full_ft": (0.50, 0.0)},
          ("near", "5"): {"probe": (0.99, 0.0), "full_ft": (0.10, 0.0)}}),
    )

    def _call(self, fn, summary, dataset, size):
        try:
            got = fn(summary, dataset, size)
        except Exception as e:
            extra = (" `summary['size']` holds strings ('5', '10', 'all'): compare with str(size)."
                     if isinstance(size, int) else "")
            raise Incorrect(f"`pick_strategy(summary, {dataset!r}, {size!r})` raised {type(e).__name__}: {e}.{extra}")
        if isinstance(got, (list, tuple)) and got:
            raise Incorrect(f"`pick_strategy` returned {type(got).__name__} {list(got)}: return one strategy name, "
                            "the cheapest of those that tie with the best.")
        if not isinstance(got, str):
            raise Incorrect(f"`pick_strategy` should return a strategy name such as 'probe', got {got!r}.")
        return got

    def _judge(self, fn, summary, dataset, size, what):
        want = strategies.best_strategies(summary, dataset, size, self.tolerance)[0]
        got = self._call(fn, summary, dataset, size)
        if got == want:
            return got
        cell = summary[(summary["dataset"] == dataset) & (summary["size"] == str(size))]
        shown = ", ".join(f"{r.strategy} {100 * r.mean:.1f}% ± {100 * r.std:.1f}" for r in cell.itertuples())
        slips = [why for why, answer in _wrong_rules(cell, self.tolerance).items() if answer == got]
        reason = (" Your rule returns what " + ("; or ".join(slips)) + " would return." if slips else "")
        raise Incorrect(f"{what} ({dataset}, {size} per class: {shown}): `pick_strategy` returned {got!r}, the table's "
                        f"rule picks {want!r}.{reason}")

    def verify(self, pick_strategy):
        checks.check_function(pick_strategy, "pick_strategy", "(summary, dataset, size)")
        for what, curves, others in self.CASES:
            self._judge(pick_strategy, _cell_summary(curves, others=others), "near", 10, what)
        summary = self.namespace.get(self.summary_var)
        if summary is None:
            return "your rule passes every made-up cell. Run the sweep, then check again: it also reads this lab's."
        cells = summary[["dataset", "size"]].drop_duplicates().itertuples(index=False)
        for dataset, size in cells:
            self._judge(pick_strategy, summary, dataset, size if size == "all" else int(size), "this lab's sweep")
        near_10 = self._call(pick_strategy, summary, "hymenoptera", 10)
        return (f"your rule gives the decision table below, cell by cell; on the near domain at 10 images per class "
                f"it picks {near_10!r}. Extra compute is worth it only when it buys accuracy beyond the noise.")


class HeadFromProbe(Problem):
    vars = ("lp_net",)
    probe_var = "probe"
    features_var = "val_features"
    hints = ("The probe is a scikit-learn Pipeline: `probe.model[0]` is a StandardScaler (mean_, scale_), "
             "`probe.model[-1]` a LogisticRegression (coef_, intercept_). The head sees unscaled features.",
             "Fold the scaler in: w·(x - mean)/scale + b = (w/scale)·x + (b - (w/scale)·mean). With two classes, "
             "coef_ has one row z: logits (-z/2, +z/2) give the same probabilities as sigmoid(z).")
    solution_code = ("lp_net = near.fresh_model()                     # pretrained backbone, new 2-class head\n"
                     "scaler, clf = probe.model[0], probe.model[-1]\n"
                     "w = clf.coef_ / scaler.scale_\n"
                     "b = clf.intercept_ - w @ scaler.mean_\n"
                     "if len(w) == 1:                                  # binary: one row -> two logits\n"
                     "    w, b = np.vstack([-w / 2, w / 2]), np.concatenate([-b / 2, b / 2])\n"
                     "with torch.no_grad():\n"
                     "    lp_net.get_classifier().weight.copy_(torch.from_numpy(w))\n"
                     "    lp_net.get_classifier().bias.copy_(torch.from_numpy(b))\n"
                     "# course_lib: strategies.head_from_probe(probe.model, lp_net.get_classifier())")

    def verify(self, lp_net):
        net = _model(lp_net, "lp_net")
        probe, X = self.namespace.get(self.probe_var), self.namespace.get(self.features_var)
        if probe is None or X is None:
            raise NotAttempted(f"run the cells that create `{self.probe_var}` and `{self.features_var}` first.")
        pipe = getattr(probe, "model", probe)
        X = np.asarray(X, dtype=np.float32)
        head = net.get_submodule(models.head_name(net))
        with torch.no_grad():
            logits = head(torch.from_numpy(X).to(next(head.parameters()).device)).double().cpu()
        want = pipe.predict_proba(X)
        if logits.shape[1] != want.shape[1]:
            raise Incorrect(f"the head has {logits.shape[1]} outputs but the probe {want.shape[1]} classes: give the "
                            "network a head with one output per class (models.replace_head).")
        got = logits.softmax(1).numpy()
        gap = float(np.abs(got - want).max())
        agree = float((got.argmax(1) == want.argmax(1)).mean())
        if gap > 1e-3:
            raise Incorrect(f"on the val features your head's probabilities differ from the probe's by up to {gap:.3f} "
                            f"(same prediction for {agree:.0%} of images). The probe standardises its input first: "
                            "did you fold the scaler's mean_ and scale_ into the weights and bias?")
        return (f"your head reproduces the probe (largest probability gap {gap:.1e}). Fine-tuning from here (LP-FT) "
                "starts at the probe's accuracy instead of chance, so the first gradients are small and the "
                "pretrained features are disturbed less.")


class AdviseAColleague(WrittenAnswer):
    vars = ("advice", "summary", "run")
    FAR = "eurosat"
    MIN_WORDS = 120
    TOO_SHORT = ("{n} words: advice that names a strategy, its evidence, a second step and what is least certain "
                 "needs at least {min_words}.")
    PARTS = {"a second step to try if the first is not enough": r"second|next|then|if (it|that) (is not|isn't)",
             "a concrete setting for it (a backbone learning rate, k stages, LP-FT)":
                 r"lp[-_ ]?ft|last[-_ ]?k|k ?= ?\d|learning rate|backbone rate|lr",
             "what to measure on the colleague's own images before deciding":
                 r"(own|their|colleague'?s?|microscopy) (images|data|slides)|on (their|the) microscopy"}
    hints = (f"Read the decision table and the sweep for {FAR} (the far domain) at the sizes nearest 40 per class; "
             "quote a mean accuracy with its seed spread.",
             "Name one claim your ledger marked inconclusive (e.g. `more_data_finetune`) as the least certain "
             "measurement, and say what would settle it; end with what to measure on their own images.")
    solution_code = ('advice = """Start with a linear probe on frozen Lite0 features: at 20 per class on eurosat, our '
                     'far domain, the probe reached <mean> (seed spread <std>) ... Second, try LP-FT or the last 2 '
                     'stages with a backbone learning rate 10x lower, chosen on an inner split. Least certain: '
                     'more_data_finetune was inconclusive ... Before deciding, measure a probe on their own '
                     'microscopy images with paired folds ..."""')

    def run_parts(self, summary, run):
        from .. import claims

        open_ = sorted({e["claim"] for e in claims.load_ledger(run.ledger) if e["verdict"] == claims.INCONCLUSIVE})
        names = "|".join(checks.name_pattern(c) for c in open_) or r"inconclusive"
        return {"the strategy you recommend, by name (probe, last k, full fine-tuning, LP-FT)":
                    r"probe|last[-_ ]?k|fine-tun|lp[-_ ]?ft|scratch",
                "the least certain measurement: a claim your ledger marked inconclusive, by name": names}

    def more_checks(self, text, summary, run):
        far = summary[summary["dataset"] == self.FAR]
        if not any(checks.quotes_value(text, float(v), 0.006) for v in far["mean"]):
            raise Incorrect(f"quote at least one mean accuracy your sweep measured on {self.FAR} (the far domain), "
                            "e.g. the probe's at the size nearest 40 per class, as it is printed in the table.")


EXERCISES = [FreezeBackbone, BackboneLearningRate, PickStrategy, HeadFromProbe, AdviseAColleague]

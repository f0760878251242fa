"""Exercises of lab 02 (feature extraction vs fine-tuning), checked by value and by behaviour.

In the lab: ``from course_lib.exercises.lab02 import *`` then ``bind_exercises(globals(), EXERCISES)`` creates
``q1``..``q4``; each reads the learner's variables from the notebook.

1. :class:`FreezeBackbone`: ``frozen_net``, a model whose backbone is frozen and whose head still trains.
2. :class:`BackboneLearningRate`: ``optimizer`` for ``ft_net`` with a head group and a 10x smaller backbone rate.
3. :class:`PickStrategy`: ``strategy_near_10``, the strategy for 10 images per class on the near domain, judged
   against the lab's own sweep (``summary``).
4. :class:`HeadFromProbe`: ``lp_net``, a network whose head predicts exactly what the fitted linear ``probe`` does
   (the first half of LP-FT).
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .. import models, strategies
from ..checks import Incorrect, NotAttempted, Problem, ____, bind_exercises  # noqa: F401  (re-exported for the lab)

__all__ = ["BackboneLearningRate", "EXERCISES", "FreezeBackbone", "HeadFromProbe", "PickStrategy", "____",
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


class PickStrategy(Problem):
    """Judged against the lab's own sweep: any strategy within the decision table's tolerance of the best counts."""

    vars = ("strategy_near_10",)
    dataset = "hymenoptera"
    size = 10
    summary_var = "summary"
    tolerance = 0.02
    hints = ("Look at the sweep's plot for the near domain at 10 images per class, or at `summary`.",
             "Several strategies may tie within the seeds' spread; then the cheapest of them is the better choice "
             "(see the cost table).")
    solution_code = ("row = summary[(summary.dataset == 'hymenoptera') & (summary['size'] == '10')]\n"
                     "strategy_near_10 = row.sort_values('mean').strategy.iloc[-1]   # or the cheapest tie:\n"
                     "strategy_near_10 = strategies.best_strategies(summary, 'hymenoptera', 10)[0]")

    def verify(self, strategy_near_10):
        summary = self.namespace.get(self.summary_var)
        if summary is None:
            raise NotAttempted(f"run the data-size sweep first: it creates `{self.summary_var}`, which this check "
                               "compares your answer with.")
        choices = sorted(set(summary.loc[summary["dataset"] == self.dataset, "strategy"]))
        if strategy_near_10 not in choices:
            raise Incorrect(f"`strategy_near_10` must be one of {choices} (the sweep's strategy names), "
                            f"got {strategy_near_10!r}.")
        ties = strategies.best_strategies(summary, self.dataset, self.size, self.tolerance)
        cell = summary[(summary["dataset"] == self.dataset) & (summary["size"] == str(self.size))].set_index("strategy")
        if strategy_near_10 not in cell.index:
            raise Incorrect(f"{strategy_near_10!r} was not run at {self.size} images per class in this profile, so "
                            f"nothing says it would win there; choose among those that were: {sorted(cell.index)}.")
        def acc(s):
            return f"{100 * cell.loc[s, 'mean']:.1f}% ± {100 * cell.loc[s, 'std']:.1f}"
        if strategy_near_10 not in ties:
            best = cell["mean"].idxmax()
            raise Incorrect(f"{strategy_near_10!r} measured {acc(strategy_near_10)} at {self.size} images per class "
                            f"on {self.dataset}; {best!r} measured {acc(best)}. Read the numbers, not the textbook.")
        if strategy_near_10 != ties[0]:
            return (f"{strategy_near_10!r} ({acc(strategy_near_10)}) ties with the best within the seeds' spread, but "
                    f"{ties[0]!r} ({acc(ties[0])}) ties too and costs less: the decision table picks it.")
        return (f"{strategy_near_10!r}: {acc(strategy_near_10)} at {self.size} images per class, the cheapest strategy "
                "within the spread of the best. Close to the pretraining domain, the frozen features already "
                "separate the classes, and a few images cannot fit millions of weights.")


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


EXERCISES = [FreezeBackbone, BackboneLearningRate, PickStrategy, HeadFromProbe]

"""Exercises of lab 04 (the wildlife case study), checked by value and by behaviour.

In the lab: ``from course_lib.exercises.lab04 import *`` then ``bind_exercises(globals(), EXERCISES)`` creates
``q1``..``q4``; each reads the learner's variables from the notebook.

1. :class:`LeakFreeSplit`: ``my_train, my_val`` from the species table, with no visit (event) on both sides.
2. :class:`AutoShare`: ``def auto_share(probs, y, threshold)`` -> (share handled automatically, accuracy on those).
3. :class:`PickUnderBudget`: ``my_pick``, the pipeline to run under ``budget_hours`` per million images (ties within
   one validation error go to the cheaper), read off
   the measured ``cost_table``.
4. :class:`BoxToNormalised`: ``def to_normalised(bbox, width, height)`` for a COCO Camera Traps box.
"""
from __future__ import annotations

import math

import numpy as np

from .. import data, wildlife
from ..checks import (Incorrect, NotAttempted, Problem, ____, bind_exercises,  # noqa: F401  (re-exported for the lab)
                      check_function)

__all__ = ["AutoShare", "BoxToNormalised", "EXERCISES", "LeakFreeSplit", "PickUnderBudget", "____", "bind_exercises"]


class LeakFreeSplit(Problem):
    vars = ("my_train", "my_val")
    hints = ("Frames a few minutes apart at one station show the same animal: which helper groups them?",
             "`wildlife.event_split(table, seed=seed)` keeps each event on one side; so does "
             "`data.group_split(wildlife.with_groups(table, wildlife.event_groups(table)))` for classes with 2+ events.")
    solution_code = "my_train, my_val = wildlife.event_split(species, val_fraction=0.25, seed=seed)"
    correct_message = ("no visit is on both sides, so the val score measures new visits, which is what a deployed "
                       "camera sends.")

    def verify(self, my_train, my_val):
        for name, t in (("my_train", my_train), ("my_val", my_val)):
            if not isinstance(t, data.ImageTable):
                raise Incorrect(f"`{name}` should be an ImageTable (what data.load_dataset and the split helpers "
                                f"return), got {type(t).__name__}.")
        n = len(my_train) + len(my_val)
        if len(my_val) < 0.1 * n or len(my_train) < 0.5 * n:
            raise Incorrect(f"train has {len(my_train)} and val {len(my_val)} images: keep about a quarter for val "
                            "(at least 10%), or the score rests on a handful of frames.")
        shared = sorted({str(p) for p in my_train.paths} & {str(p) for p in my_val.paths})
        if shared:
            raise Incorrect(f"{len(shared)} file(s) are in both train and val, e.g. {shared[0]}.")
        leaks = wildlife.shared_events(my_train, my_val)
        if leaks:
            raise Incorrect(f"{len(leaks)} event(s) have frames on both sides, e.g. {leaks[0]}: the model is scored "
                            "on near-copies of frames it trained on (a random split does this; so does grouping by "
                            "the minute when a visit lasts several minutes). Group by event.")
        seen = np.isin(my_val.labels, np.unique(my_train.labels))
        if seen.mean() < 0.8:
            raise Incorrect(f"only {seen.mean():.0%} of val images belong to a class that train has; a class never "
                            "trained on cannot be predicted. Stratify by class while grouping.")
        return None


class AutoShare(Problem):
    vars = ("auto_share",)
    hints = ("The model handles an image when its *largest* probability (over classes) reaches the threshold.",
             "`conf = probs.max(axis=1)`; `handled = conf >= threshold`; accuracy only over the handled rows; "
             "if none is handled there is no accuracy: return nan.")
    solution_code = ("def auto_share(probs, y, threshold):\n"
                     "    probs, y = np.asarray(probs), np.asarray(y)\n"
                     "    handled = probs.max(axis=1) >= threshold\n"
                     "    if not handled.any():\n"
                     "        return 0.0, float('nan')\n"
                     "    return float(handled.mean()), float((probs.argmax(1) == y)[handled].mean())")
    correct_message = ("this is one point of the Norouzzadeh et al. curve: raise the threshold and fewer images "
                       "are handled, more accurately.")

    CASES = (  # probs, y, threshold, (share, accuracy)
        ([[0.9, 0.1, 0.0], [0.5, 0.3, 0.2], [0.1, 0.1, 0.8], [0.2, 0.7, 0.1]], [0, 1, 2, 0], 0.7, (0.75, 2 / 3)),
        ([[0.6, 0.4], [0.4, 0.6], [0.55, 0.45]], [1, 1, 0], 0.6, (2 / 3, 0.5)),      # 0.6 itself is handled
        ([[0.5, 0.5], [0.45, 0.55]], [0, 1], 0.9, (0.0, float("nan"))),              # nothing handled
        ([[0.3, 0.3, 0.4], [0.05, 0.9, 0.05], [0.95, 0.0, 0.05]], [2, 1, 2], 0.35, (1.0, 2 / 3)),
    )

    def verify(self, auto_share):
        check_function(auto_share, "auto_share", "auto_share(probs, y, threshold) -> (share, accuracy)")
        for probs, y, t, (share, acc) in self.CASES:
            try:
                got = auto_share(np.array(probs), np.array(y), t)
            except Exception as e:  # noqa: BLE001 - report the learner's error, not ours
                raise Incorrect(f"auto_share raised {type(e).__name__}: {e} for threshold {t}.") from None
            if got is None:
                raise Incorrect("auto_share returned None: did you forget a `return` statement?")
            try:
                got_share, got_acc = (float(v) for v in got)
            except (TypeError, ValueError):
                raise Incorrect(f"auto_share should return two numbers (share, accuracy), got {got!r}.") from None
            if not math.isclose(got_share, share, abs_tol=1e-9):
                wrong_axis = float((np.array(probs) >= t).mean())
                why = (" That is the share of *probabilities* above the threshold; count *images* whose top "
                       "probability reaches it.") if math.isclose(got_share, wrong_axis) else ""
                raise Incorrect(f"threshold {t}, probs {probs}: expected share {share:.3f}, got {got_share:.3f}.{why}")
            if math.isnan(acc):
                if not math.isnan(got_acc):
                    raise Incorrect(f"threshold {t}: no image is handled, so there is no accuracy to report; return "
                                    f"nan, not {got_acc}.")
                continue
            if not math.isclose(got_acc, acc, abs_tol=1e-9):
                overall = float((np.array(probs).argmax(1) == np.array(y)).mean())
                why = (" That is the accuracy over *all* images; measure it over the handled ones only."
                       if math.isclose(got_acc, overall) else "")
                raise Incorrect(f"threshold {t}: expected accuracy on handled images {acc:.3f}, got {got_acc:.3f}.{why}")
        return None


class PickUnderBudget(Problem):
    vars = ("my_pick", "cost_table", "budget_hours", "one_error")
    hints = ("Only pipelines with a measured accuracy can be compared: drop the rows whose accuracy is missing. Then "
             "drop those whose hours per million images exceed the budget.",
             "Of those left, accuracies within `one_error` (one validation image) of the best are a tie, and a tie "
             "goes to the cheaper pipeline: `wildlife.pick_pipeline(table, budget_hours, tie=one_error)` does it.")
    solution_code = ("my_pick = wildlife.pick_pipeline(cost_table.dropna(subset=[\"accuracy\"]), budget_hours, "
                     "tie=one_error)")

    def verify(self, my_pick, cost_table, budget_hours, one_error):
        scored = cost_table.dropna(subset=["accuracy"])
        names = list(cost_table["pipeline"])
        if my_pick not in names:
            raise Incorrect(f"`my_pick` must be one of {names}, got {my_pick!r}.")
        want = wildlife.pick_pipeline(scored, budget_hours, tie=one_error)
        rows = cost_table.set_index("pipeline")
        if my_pick == want:
            return (f"{want!r} fits the budget ({rows.loc[want, 'hours_per_million']:.1f} of {budget_hours:g} h per "
                    f"million) and no pipeline that fits is more than one validation error more accurate "
                    f"({rows.loc[want, 'accuracy']:.3f}).")
        row = rows.loc[my_pick]
        if row["accuracy"] != row["accuracy"]:          # NaN: this pipeline was timed but never scored
            raise Incorrect(f"{my_pick!r} has no measured accuracy here: you cannot know it is better.")
        if row["hours_per_million"] > budget_hours:
            raise Incorrect(f"{my_pick!r} needs {row['hours_per_million']:.1f} h per million images, over the budget "
                            f"of {budget_hours:g} h: accuracy you cannot afford to run does not help.")
        if row["accuracy"] >= rows.loc[want, "accuracy"] - one_error - 1e-12:
            raise Incorrect(f"{my_pick!r} ties with {want!r} (within one validation error) but costs more "
                            f"({row['hours_per_million']:.1f} vs {rows.loc[want, 'hours_per_million']:.1f} h): a tie "
                            "goes to the cheaper pipeline.")
        raise Incorrect(f"{my_pick!r} fits the budget but is less accurate ({row['accuracy']:.3f}) than another "
                        "pipeline that fits too: spend the budget on accuracy.")


class BoxToNormalised(Problem):
    vars = ("to_normalised",)
    hints = ("COCO Camera Traps boxes are [x, y, width, height] in pixels, x and y the top-left corner.",
             "Divide x and width by the image width, y and height by the image height.")
    solution_code = ("def to_normalised(bbox, width, height):\n"
                     "    x, y, w, h = bbox\n"
                     "    return [x / width, y / height, w / width, h / height]")
    correct_message = "normalised boxes survive resizing: the 2048x1536 hippo boxes apply unchanged to 341x256 copies."

    CASES = (([614.9, 476.2, 685.6, 374.2], 2048, 1536), ([10, 20, 30, 40], 100, 50), ([0, 0, 341, 256], 341, 256))

    def verify(self, to_normalised):
        check_function(to_normalised, "to_normalised", "to_normalised(bbox, width, height)")
        for bbox, w, h in self.CASES:
            want = [bbox[0] / w, bbox[1] / h, bbox[2] / w, bbox[3] / h]
            got = to_normalised(list(bbox), w, h)
            if got is None:
                raise Incorrect("to_normalised returned None: did you forget a `return` statement?")
            got = [float(v) for v in np.asarray(got).ravel()]
            if len(got) != 4 or not np.allclose(got, want, atol=1e-9):
                swapped = [bbox[0] / h, bbox[1] / w, bbox[2] / h, bbox[3] / w]
                corners = [bbox[0] / w, bbox[1] / h, (bbox[0] + bbox[2]) / w, (bbox[1] + bbox[3]) / h]
                why = (" Width and height are swapped." if np.allclose(got, swapped) else
                       " That is corners (x0, y0, x1, y1); keep width and height." if len(got) == 4
                       and np.allclose(got, corners) else "")
                raise Incorrect(f"bbox {bbox} in a {w}x{h} image: expected {np.round(want, 4).tolist()}, got "
                                f"{np.round(got, 4).tolist()}.{why}")
        return None


EXERCISES = [LeakFreeSplit, AutoShare, PickUnderBudget, BoxToNormalised]

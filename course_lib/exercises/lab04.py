"""Exercises of lab 04 (the wildlife case study), checked by value and by behaviour.

In the lab: ``from course_lib.exercises.lab04 import *`` then ``bind_exercises(globals(), EXERCISES)`` creates
``q1``..``q4``; each reads the learner's variables from the notebook.

1. :class:`VisitGroups`: ``def visit_groups(stations, times, gap_minutes)``: one label per frame, shared by the
   frames of one visit (chained at one station), the unit a leak-free split keeps whole.
2. :class:`AutoShare`: ``def auto_share(probs, y, threshold)`` -> (share handled automatically, accuracy on those).
3. :class:`PickUnderBudget`: ``my_pick``, the pipeline to run under ``budget_hours`` per million images (ties within
   one validation error go to the cheaper), read off
   the measured ``cost_table``.
4. :class:`BoxToNormalised`: ``def to_normalised(bbox, width, height)`` for a COCO Camera Traps box.
5. :class:`Recommendation`: ``recommendation``, the written recommendation to the conservation team, with this run's
   cost of the recommended pipeline, the ledger's verdict for fine-tuned vs scratch and the sample's size (rubric:
   instructor copy and docs/RUBRICS.md).
"""
from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd

from .. import wildlife
from ..checks import (Incorrect, NotAttempted, Problem, WrittenAnswer, ____, bind_exercises,  # noqa: F401  (re-exported for the lab)
                      check_function, name_pattern)

__all__ = ["AutoShare", "BoxToNormalised", "EXERCISES", "PickUnderBudget", "Recommendation", "VisitGroups", "____", "bind_exercises"]


def _partition(labels) -> set[frozenset[int]]:
    """Which frames share a label, whatever the labels are called."""
    groups: dict = {}
    for i, g in enumerate(labels):
        groups.setdefault(g, set()).add(i)
    return {frozenset(v) for v in groups.values()}


def _visits(stations, times, gap_minutes, *, chain=True, by_station=True, windows=False):
    """The right grouping (chain=True, by_station=True) and the usual wrong ones, to recognise a learner's answer."""
    times = pd.to_datetime(pd.Series(list(times)), errors="coerce")
    where = list(stations) if by_station else ["all"] * len(times)
    out = [f"alone:{i}" for i in range(len(times))]
    frame = pd.DataFrame({"s": where, "t": times}).dropna(subset=["t"]).sort_values("t", kind="stable")
    for st, g in frame.groupby("s"):
        event, anchor = 0, None
        for i, t in zip(g.index, g["t"]):
            if windows:
                out[i] = f"{st}#{int(t.timestamp() // (gap_minutes * 60))}"
                continue
            if anchor is not None and (t - anchor).total_seconds() > gap_minutes * 60:
                event += 1
                anchor = t
            anchor = t if chain or anchor is None else anchor
            out[i] = f"{st}#{event}"
    return out


class VisitGroups(Problem):
    vars = ("visit_groups",)
    hints = ("Work station by station, in time order: a frame joins the visit of the frame *just before it* at the "
             "same station when it is at most `gap_minutes` later; otherwise it starts a new visit.",
             "`pd.DataFrame({'station': stations, 'time': pd.to_datetime(pd.Series(times))})`, drop the rows "
             "without a time (each of those frames is its own group), `sort_values('time')`, `groupby('station')`, "
             "then walk each station's frames comparing each time with the previous one.")
    solution_code = ("def visit_groups(stations, times, gap_minutes):\n"
                     "    frame = pd.DataFrame({'station': list(stations), 'time': pd.to_datetime(pd.Series(list(times)))})\n"
                     "    out = [f'alone:{i}' for i in range(len(frame))]        # no time: a group of its own\n"
                     "    for station, g in frame.dropna(subset=['time']).sort_values('time').groupby('station'):\n"
                     "        visit, last = 0, None\n"
                     "        for i, t in zip(g.index, g['time']):\n"
                     "            if last is not None and (t - last).total_seconds() > gap_minutes * 60:\n"
                     "                visit += 1\n"
                     "            out[i], last = f'{station}#{visit}', t\n"
                     "    return out")
    correct_message = ("frames chained at one station are one visit, however long the visit lasts: that is the unit a "
                       "split must keep whole so that val holds only visits the model has never seen.")

    T = staticmethod(lambda hm: pd.Timestamp(f"2024-05-01 {hm}"))
    CASES = (  # stations, times, gap_minutes
        (["A", "A", "A", "A"], ["17:47", "17:48", "17:49", "18:30"], 5),              # a troop over 3 minutes
        (["A"] * 6, ["10:00", "10:04", "10:08", "10:12", "10:16", "11:00"], 5),          # a 16-minute chain
        (["A", "B", "A", "B"], ["09:00", "09:00", "09:02", "09:30"], 5),                 # two cameras at once
        (["B", "B", "B", "A", "A"], ["12:09", "12:01", "12:05", "12:06", "12:04"], 5),   # not in time order
        (["A", "A", "A", "A"], ["06:02", "06:04", "06:06", "06:08"], 3),                 # across a window edge
        (["A", "A", "A", "A"], ["08:00", None, "08:01", None], 5),                       # frames without a time
    )

    def _case(self, stations, times):
        return list(stations), [self.T(t) if t else pd.NaT for t in times]

    def verify(self, visit_groups):
        check_function(visit_groups, "visit_groups", "visit_groups(stations, times, gap_minutes) -> a label per frame")
        for stations, raw, gap in self.CASES:
            st, times = self._case(stations, raw)
            try:
                got = visit_groups(list(st), list(times), gap)
            except Exception as e:  # noqa: BLE001 - report the learner's error, not ours
                raise Incorrect(f"visit_groups raised {type(e).__name__}: {e} for stations {stations}, times "
                                f"{raw}.") from None
            if got is None:
                raise Incorrect("visit_groups returned None: did you forget a `return` statement?")
            got = [str(g) for g in np.asarray(got, dtype=object).ravel()]
            if len(got) != len(st):
                raise Incorrect(f"{len(st)} frames need {len(st)} labels, got {len(got)}.")
            if _partition(got) != _partition(_visits(st, times, gap)):
                raise Incorrect(self._why(got, st, times, gap, stations, raw))
        return None

    @staticmethod
    def _why(got, st, times, gap, stations, raw) -> str:
        case = f"stations {stations}, times {[t or 'no time' for t in raw]}, gap {gap} min: "
        mine = _partition(got)
        if mine == _partition(_visits(st, times, gap, chain=False)):
            return case + ("you measure the gap from a visit's *first* frame; a visit lasting longer than the gap in "
                           "short steps is still one visit. Compare each frame with the previous one (a chain).")
        if mine == _partition(_visits(st, times, gap, windows=True)):
            return case + ("fixed time windows cut a visit in two when it crosses a window's edge. Chain frames: "
                           "each joins the previous frame's visit when it is at most the gap later.")
        if mine == _partition(_visits(st, times, gap, by_station=False)):
            return case + "two cameras firing at the same time saw two visits: group station by station."
        nat = [i for i, t in enumerate(times) if pd.isna(t)]
        if nat and any(len(g & set(nat)) and len(g) > 1 for g in mine):
            return case + ("a frame without a time cannot be chained to anything: give each such frame a group of "
                           "its own.")
        return case + (f"expected the groups {sorted(sorted(g) for g in _partition(_visits(st, times, gap)))} (frame "
                       f"positions), got {sorted(sorted(g) for g in mine)}. Did you sort by time within a station?")


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


class Recommendation(WrittenAnswer):
    vars = ("recommendation", "cost_table", "recommended", "entry", "val_set")
    MIN_WORDS = 150
    TOO_SHORT = ("{n} words: a recommendation the team can act on needs at least {min_words}: the pipeline, its cost, "
                 "the evidence against the others, the limits and a next step.")
    PARTS = {"the budget you hold it against (hours per million frames)": r"budget|per million|hours? per|\bh per",
             "what this sample cannot show, and why": r"cannot|can't|too few|small sample|only \d+|limit",
             "a concrete next step": r"\bnext\b|lila|re-?measure|collect|more (frames|data|images)"}
    hints = ("Section 6 printed the recommended pipeline with its ms per frame and hours per million frames on this "
             "CPU; the claims cell printed the verdict for fine-tuned vs scratch.",
             "Section 12 lists what the sample cannot show: how many val frames is the accuracy measured on, and how "
             "much does one error move it? Then say what you would measure next, on which data.")
    solution_code = ('recommendation = """Run <pipeline>: <ms> ms per frame on this CPU, <h> h per million frames, within '
                     'the 24 h budget ... Fine-tuned vs scratch: <diff>, verdict <verdict> ... The detector pipelines '
                     'cost several times more per frame ... Limits: accuracy on <n> val frames, one error moves it by '
                     '<p> points ... Next: load a full LILA set with the CCT loader, split by event or location, and '
                     're-measure."""')

    @staticmethod
    def _row(cost_table, recommended):
        return cost_table.set_index("pipeline").loc[recommended]

    def run_parts(self, cost_table, recommended, entry, val_set):
        word = recommended.split(":")[-1].split(",")[0].split()[-1]
        return {"the pipeline your run recommends, by name": name_pattern(word) + ("|detect" if "detect" in
                                                                                   recommended else ""),
                "the verdict the ledger recorded for fine-tuned vs scratch": re.escape(entry["verdict"])}

    def quoted(self, cost_table, recommended, entry, val_set):
        row = self._row(cost_table, recommended)
        ms, hours = float(row["ms_per_frame"]), float(row["hours_per_million"])
        return {"its ms per frame on this CPU, as your run printed it": (ms, max(0.6, 0.03 * ms)),
                "its hours per million frames": (hours, max(0.06, 0.03 * hours)),
                "how many val frames the accuracy rests on": (len(val_set), 0)}


EXERCISES = [VisitGroups, AutoShare, PickUnderBudget, BoxToNormalised, Recommendation]

"""The strategies' keys, display names, colours and cost order, shared by every part of the package."""
from __future__ import annotations

STRATEGIES = ("probe", "last_k", "full_ft", "scratch")
LABELS = {"probe": "linear probe (frozen backbone)", "head": "head only (frozen backbone)",
          "last_k": "fine-tune last k stages", "full_ft": "full fine-tuning", "scratch": "from scratch",
          "lp_ft": "LP-FT (probe head, then full fine-tuning)"}
# Cheapest first: when strategies tie, the decision table picks the first of them in this order.
COST_ORDER = ("probe", "head", "last_k", "full_ft", "lp_ft", "scratch")
COLORS = {"probe": "#4C72B0", "head": "#64B5CD", "last_k": "#55A868", "full_ft": "#C44E52", "scratch": "#8172B2",
          "lp_ft": "#CCB974"}
ALL = "all"


def label(strategy: str, k: int | None = None) -> str:
    """Display name of a strategy key (``last_k`` names its k when given)."""
    text = LABELS.get(strategy, strategy)
    return text.replace("last k", f"last {k}") if k is not None else text

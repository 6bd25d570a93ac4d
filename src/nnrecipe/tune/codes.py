"""Finding codes of the search (`nnrecipe explain CODE`)."""

from __future__ import annotations

from nnrecipe.findings import Code

CODES: dict[str, Code] = {
    c.code: c
    for c in (
        Code(
            "no-feasible-trial",
            "No trial both finished and satisfied the constraints",
            "Every trial was pruned, failed, or violated a satisficing constraint (parameter "
            "count, latency, your own), so the search has no answer. A model that breaks a hard "
            "limit is useless however accurate it is.",
            "Loosen --max-params / --max-latency-ms, shrink the search space towards smaller "
            "models (width, depth), or run more trials.",
        ),
        Code(
            "best-at-range-edge",
            "The best setting sits at the edge of its search range",
            "When the best value of a knob is at the boundary of its range, the optimum probably "
            "lies outside: the search could not look there.",
            "Widen that knob's range past the edge (e.g. a higher maximum learning rate) and tune "
            "again; pass your own space (a dict) in the config's tune_space.",
        ),
        Code(
            "trials-failed",
            "Some trials crashed",
            "A trial that raises an error (not a pruned or diverged one) says the program is "
            "broken for some settings; the search silently loses those regions.",
            "Look at the error of a failed trial (rerun its settings with `nnrecipe run` and "
            "--debug), fix the model or data, then rerun the same tune command to resume.",
        ),
    )
}

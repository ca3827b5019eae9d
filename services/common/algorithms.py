"""The kinds of model the trainer knows, by the name settings and jobs use.

Shared so the gateway can refuse an unknown choice when it is saved, not when a job fails.
"""

from __future__ import annotations

AUTO = "auto"
# name -> what a person reads on the screen
FAMILIES: dict[str, str] = {
    "gradient_boosting": "Gradient boosting",
    "random_forest": "Random forest",
    "extra_trees": "Extra trees",
    "linear": "Linear model",
    "nearest_neighbours": "Nearest neighbours",
}
CHOICES = (AUTO, *FAMILIES)

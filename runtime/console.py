"""What a user reads at the end of a stage."""

from __future__ import annotations

from typing import Any


def print_summary(title: str, rows: dict[str, Any]) -> None:
    """A two-column table at the end of a stage: the figures a user looks for first."""
    width = max(len(k) for k in rows)
    line = "-" * (width + 30)
    print(f"\n{line}\n{title}\n{line}")
    for key, value in rows.items():
        if isinstance(value, float):
            value = f"{value:.4g}"
        print(f"{key:<{width}}  {value}")
    print(line)

"""Model cards: what a trained version is, what it learnt from and how well it did.

One card per version folder, `card.json` (what the registry and later steps read) and
`README.md` (what a person reads), written the same way for every model.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass
class ModelCard:
    name: str
    version: str
    created_at: str
    params: dict
    metrics: dict
    data: dict
    sha256: str
    training: dict = field(default_factory=dict)
    details: dict = field(default_factory=dict)
    """Model-specific facts later steps read (e.g. the encoder's language and max length)."""
    summary: list[str] = field(default_factory=list)
    """Sentences for the README beyond the tables (what the numbers mean for this model)."""

    def to_dict(self) -> dict:
        out = asdict(self)
        out.update(out.pop("details"))
        return out

    def markdown(self) -> str:
        lines = [f"# {self.name} {self.version}", "", f"Trained {self.created_at}.", ""]
        lines += [f"- {s}" for s in self.summary]
        for title, values in (("Metrics", self.metrics), ("Data", self.data), ("Training", self.training)):
            shown = {k: v for k, v in values.items() if not isinstance(v, (list, dict))}
            if shown:
                lines += ["", f"## {title}", "", "| | |", "|---|---|"]
                lines += [f"| {k} | {round(v, 4) if isinstance(v, float) else v} |" for k, v in shown.items()]
        lines += ["", f"sha256 `{self.sha256}`"]
        return "\n".join(lines)

    def write(self, folder: Path) -> None:
        folder = Path(folder)
        (folder / "card.json").write_text(json.dumps(self.to_dict(), indent=2, default=str))
        (folder / "README.md").write_text(self.markdown() + "\n")


def read_card(folder: Path) -> dict:
    return json.loads((Path(folder) / "card.json").read_text())

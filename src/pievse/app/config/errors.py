"""The one error of the configuration: every problem of a file, each naming its key."""

from __future__ import annotations

__all__ = ["ConfigError"]


class ConfigError(Exception):
    """The configuration cannot be used. ``problems`` lists every problem found, one per line of
    text, each naming the key (``[ocpp] url``), the value found and what is allowed."""

    def __init__(self, problems: list[str], source: str = "<string>") -> None:
        self.problems = list(problems)
        self.source = source
        super().__init__(self._explain())

    def _explain(self) -> str:
        # "cannot read the file" already names the file: one line says it all.
        if len(self.problems) == 1 and self.problems[0].startswith(f"{self.source}:"):
            return self.problems[0]
        count = "a problem" if len(self.problems) == 1 else f"{len(self.problems)} problems"
        return f"{self.source} has {count}:\n" + "\n".join(f"  {p}" for p in self.problems)

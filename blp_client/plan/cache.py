"""Task results on disk, one JSON file per task hash: what makes a plan resumable.

A file is written to a temporary name and renamed into place, so a plan killed mid-write
leaves either the whole result or none. A file that does not parse (a disk error, a hand
edit) is treated as missing and the task runs again.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

from .runner import RESULT_KEYS, TaskResult


class CacheError(OSError):
    """The cache directory cannot be used (the message says which and why)."""


class ResultCache:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise CacheError(f"cannot create cache directory {directory}: {e.strerror or e}") from e
        if not os.access(directory, os.W_OK | os.X_OK):
            raise CacheError(f"cache directory {directory} is not writable")

    def path(self, key: str) -> Path:
        return self.directory / f"{key}.json"

    def get(self, key: str) -> TaskResult | None:
        try:
            data: Any = json.loads(self.path(key).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict) or any(k not in data for k in RESULT_KEYS):
            return None
        return {k: data[k] for k in RESULT_KEYS}

    def put(self, key: str, result: TaskResult) -> None:
        final = self.path(key)
        tmp = final.with_suffix(f".{os.getpid()}.tmp")
        try:
            tmp.write_text(json.dumps(result, sort_keys=True) + "\n", encoding="utf-8")
            os.replace(tmp, final)
        except OSError as e:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise CacheError(f"cannot write {final}: {e.strerror or e}") from e

    def __len__(self) -> int:
        return sum(1 for _ in self.directory.glob("*.json"))


__all__ = ["CacheError", "ResultCache"]

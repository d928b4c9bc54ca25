"""The phases a job goes through, as people see them in the progress message."""

from __future__ import annotations

from enum import StrEnum


class Phase(StrEnum):
    QUEUED = "queued"
    DOWNLOADING = "downloading"
    UPLOADING = "uploading"
    PROCESSING = "processing"
    ANALYSING = "analysing"

    @property
    def label(self) -> str:
        return self.value.capitalize()

"""The few exception types of the pipeline; each boundary maps them to an outcome in one place."""

from __future__ import annotations

from typing import ClassVar


class PipelineError(Exception):
    """Base class: carries whether a retry can help and which HTTP status a service answers with."""

    retryable: ClassVar[bool] = True
    http_status: ClassVar[int] = 500

    def to_json(self) -> dict[str, object]:
        return {"type": type(self).__name__, "message": str(self), "retryable": self.retryable}


class ConfigError(PipelineError):
    """An environment variable has a value the service cannot use."""

    retryable = False


class BadDocument(PipelineError):
    """The input cannot be processed as it is: not a PDF or image, encrypted, no pages, too many pixels."""

    retryable = False
    http_status = 422


class BadRequest(PipelineError):
    """A stage request that does not name a valid job or input."""

    retryable = False
    http_status = 400


class StageFailed(PipelineError):
    """A stage failed for a reason that may not happen again (a crash, a timeout, a 5xx)."""

    retryable = True
    http_status = 500


class StageTimeout(StageFailed):
    """A stage service did not answer within the caller's timeout (it may still be working on the job)."""


class ServiceUnavailable(PipelineError):
    """A stage service could not be reached at all: the job waits, its attempts are not used up."""

    retryable = True
    http_status = 503


class DiskError(PipelineError):
    """The jobs volume refused a write (ENOSPC, EIO, EROFS)."""

    retryable = True
    http_status = 507


class CallAbandoned(PipelineError):
    """The orchestrator stopped waiting for this stage call (its timeout passed): its outputs are not committed."""

    retryable = True
    http_status = 504


def error_type_named(name: str) -> type[PipelineError] | None:
    """The error class a service named in an answer (`{"error": {"type": name}}`), or None if it is not ours."""
    return _ERROR_TYPES.get(name)


def _subclasses(cls: type[PipelineError]) -> list[type[PipelineError]]:
    return [cls] + [sub for direct in cls.__subclasses__() for sub in _subclasses(direct)]


_ERROR_TYPES = {cls.__name__: cls for cls in _subclasses(PipelineError)}

# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#     http://www.apache.org/licenses/LICENSE-2.0
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.
"""Exceptions for unusable data, and the bundle-run boundary that turns them into a short, readable exit.

Every data problem that the user must fix (a missing dataset folder, a dataset that cannot be downloaded, corrupt
files, a datalist that does not fit the bundle) is a :class:`DatasetError`. Library functions raise it as a normal
exception (each concrete class also derives from the builtin type it replaces: ``FileNotFoundError``, ``ValueError``,
``RuntimeError``), so Python callers catch it as usual.

A bundle run is another matter: MONAI's config evaluator wraps every ``Exception`` raised in a ``"$..."`` expression in
``RuntimeError("Failed to evaluate ConfigExpression ...")``, and the fix ends up in the middle of 60-130 lines of
tracebacks. :func:`exit_on_data_error` (a decorator and a context manager) converts a :class:`DatasetError` into
:class:`DataErrorExit`, a ``SystemExit``: MONAI and ``fire`` let it through (they catch ``Exception``, not
``BaseException``) and Python prints its message, alone, as the last lines on stderr, and exits with status 1.
Written for this project; no code copied.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = [
    "BUNDLE_DATA_HINT",
    "DataErrorExit",
    "DatasetError",
    "DatasetNotFoundError",
    "InvalidDatasetError",
    "exit_on_data_error",
    "format_data_error",
]

_F = TypeVar("_F", bound=Callable[..., Any])

#: the fix added to every data error of a bundle run (the bundle's own options)
BUNDLE_DATA_HINT = (
    "In a bundle run, pass --dataset_dir DIR (the folder that holds the dataset) or --datalist FILE.json (a MONAI "
    "datalist, e.g. one written by `python -m monai_fusion.data prepare`)."
)


class DatasetError(Exception):
    """Base of the data problems a user must fix; the message says what is wrong, with which file, and the fix."""


class DatasetNotFoundError(DatasetError, FileNotFoundError):
    """A dataset folder or datalist file that does not exist."""


class InvalidDatasetError(DatasetError, ValueError):
    """A dataset folder, CSV or datalist whose content is not usable (missing class folders or columns, an empty
    section, classes that differ from the bundle's, bad files ...)."""


class DataErrorExit(SystemExit):
    """Ends a bundle run on a :class:`DatasetError` with just its message (exit status 1).

    A ``SystemExit`` whose code is a string: Python prints that string to stderr, without a traceback, and exits
    with status 1. The original error is kept as ``error`` (and as ``__cause__``).

    Args:
        error: the data error.
        hint: a fix to add after the message (e.g. :data:`BUNDLE_DATA_HINT`); None adds nothing.
    """

    def __init__(self, error: BaseException, hint: str | None = None) -> None:
        super().__init__(format_data_error(error, hint))
        self.error = error


def format_data_error(error: BaseException, hint: str | None = None) -> str:
    """The text a bundle run ends with: a header line, the error's message and the hint, between blank lines.

    Args:
        error: the data error.
        hint: a fix to add after the message; None adds nothing.
    """
    message = str(error).strip() or type(error).__name__
    lines = ["", f"error: the data of this run is not usable ({type(error).__name__}):", message]
    if hint:
        lines.append(hint)
    return "\n".join(lines) + "\n"


class _ExitOnDataError(contextlib.ContextDecorator):
    def __init__(self, hint: str | None) -> None:
        self.hint = hint

    def __enter__(self) -> _ExitOnDataError:
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> bool:
        if isinstance(exc, DatasetError):
            raise DataErrorExit(exc, self.hint) from exc
        return False


def exit_on_data_error(func: _F | None = None, *, hint: str | None = BUNDLE_DATA_HINT) -> Any:
    """Turn a :class:`DatasetError` into :class:`DataErrorExit`: the process ends with the message as its last lines.

    For the boundary between a bundle's JSON and the library; library functions keep raising normal exceptions.
    Other exceptions (bugs) pass unchanged, with their traceback.

    Use as a decorator, a wrapper in a bundle expression, or a context manager::

        prepare = exit_on_data_error(prepare_datalist)
        "datalist_dict": "$monai_fusion.data.exit_on_data_error(bundle_utils.prepare_datalist)(@dataset, ...)"
        with exit_on_data_error(hint="pass --dataset_dir"):
            ...

    Args:
        func: the function to wrap; None gives a context manager (or a decorator taking ``hint``).
        hint: the fix added after the message; default :data:`BUNDLE_DATA_HINT`; None adds nothing.
    """
    guard = _ExitOnDataError(hint)
    if func is None:
        return guard

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with guard:
            return func(*args, **kwargs)

    return wrapper

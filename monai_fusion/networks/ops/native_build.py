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
"""Compile a plain C source shipped in the package into a shared library on first use, cache it, load it with ctypes.

No torch headers and no Python headers are involved, so a build takes a second or two with the system C compiler
(``$CC``, else ``cc``, ``gcc`` or ``clang`` on the ``PATH``). The library is cached per user under
``$MONAI_FUSION_CACHE_DIR``, else ``$XDG_CACHE_HOME/monai_fusion``, else ``~/.cache/monai_fusion`` (a temporary
directory when none of these is writable), in a file named after a hash of the source, the compiler and its version,
the flags and, for ``-march=native`` builds, the CPU's feature flags; so an edited source, another compiler or another
CPU (a shared home directory) gets its own build. A build writes a temporary file in the cache directory and renames
it into place, so concurrent processes (DataLoader workers, ``torchrun`` ranks) never load a half-written library.

Nothing happens at import; :func:`load_native_library` does the work when a caller first needs the library, and
returns the reason instead of raising when the library cannot be built or loaded.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["NativeLibrary", "native_cache_dir", "find_c_compiler", "load_native_library"]

# optimisation flags; -ffast-math is deliberately absent (it would fold the rounding trick of the exp and reorder
# sums), -march=native is retried without when the compiler rejects it
BASE_FLAGS = ("-O3", "-std=gnu11", "-fPIC", "-shared", "-pthread")
NATIVE_FLAGS = ("-march=native",)
BUILD_TIMEOUT_S = 120


@dataclass
class NativeLibrary:
    """Outcome of :func:`load_native_library`.

    Attributes:
        lib: the loaded library, or None when it could not be built or loaded.
        reason: why ``lib`` is None (empty otherwise).
        path: the cached shared library.
        built: whether this call compiled it (False: loaded from the cache).
        build_seconds: time spent compiling (0 when loaded from the cache).
        load_seconds: time to find (hash) and load the cached library, excluding any build.
        command: the compiler command line of the build (or of the failed one).
    """

    lib: ctypes.CDLL | None
    reason: str = ""
    path: Path | None = None
    built: bool = False
    build_seconds: float = 0.0
    load_seconds: float = 0.0
    command: list[str] = field(default_factory=list)


def native_cache_dir() -> Path:
    """The per-user directory for compiled libraries (see the module docstring); not created here."""
    explicit = os.environ.get("MONAI_FUSION_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "monai_fusion"


def find_c_compiler() -> str | None:
    """The C compiler a build would use: ``$CC`` if set (None if it is not an executable), else cc, gcc or clang."""
    explicit = os.environ.get("CC")
    if explicit:
        return shutil.which(explicit)
    for name in ("cc", "gcc", "clang"):
        path = shutil.which(name)
        if path:
            return path
    return None


def _cpu_flags() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return next((line.split(":", 1)[1].strip() for line in f if line.startswith(("flags", "Features"))), "")
    except OSError:
        return platform.processor()


def _compiler_version(compiler: str) -> str:
    try:
        out = subprocess.run([compiler, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as err:
        return f"unknown ({err})"
    return (out.stdout or out.stderr).strip().splitlines()[0] if (out.stdout or out.stderr).strip() else "unknown"


def _writable_dir(preferred: Path) -> Path:
    try:
        preferred.mkdir(parents=True, exist_ok=True)
        if os.access(preferred, os.W_OK):
            return preferred
    except OSError:
        pass
    fallback = Path(tempfile.gettempdir()) / f"monai_fusion-{os.getuid() if hasattr(os, 'getuid') else 'user'}"
    fallback.mkdir(parents=True, exist_ok=True)
    return fallback


def _compile(compiler: str, flags: tuple[str, ...], source: Path, target: Path) -> tuple[bool, list[str], str]:
    """Compile into a temporary file next to ``target`` and rename it into place; (ok, command, compiler output)."""
    fd, tmp = tempfile.mkstemp(prefix=target.stem + ".", suffix=".tmp", dir=target.parent)
    os.close(fd)
    command = [compiler, *flags, str(source), "-o", tmp]
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S)
        if proc.returncode != 0:
            return False, command, (proc.stderr or proc.stdout).strip()
        os.replace(tmp, target)  # atomic: another process sees no library or a complete one
        return True, command, ""
    except (OSError, subprocess.SubprocessError) as err:
        return False, command, f"{type(err).__name__}: {err}"
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def load_native_library(source: Path, name: str) -> NativeLibrary:
    """Build (once per source, compiler, flags and CPU) and load the C ``source`` as a shared library.

    Args:
        source: the C file, shipped in the package.
        name: stem of the cached library's file name.

    Returns:
        a :class:`NativeLibrary`; ``lib`` is None and ``reason`` says why when there is no compiler, the build
        fails or the library does not load. Never raises for those.
    """
    if sys.platform == "win32":
        return NativeLibrary(None, "native kernels are built with a POSIX C compiler; not supported on Windows")
    compiler = find_c_compiler()
    if compiler is None:
        cc = os.environ.get("CC")
        where = f"CC={cc!r} is not an executable" if cc else "no cc, gcc or clang on the PATH"
        return NativeLibrary(None, f"no C compiler found ({where})")
    start = time.perf_counter()
    try:
        code = source.read_bytes()
    except OSError as err:
        return NativeLibrary(None, f"cannot read {source}: {err}")
    version = _compiler_version(compiler)
    build_time = 0.0
    result = NativeLibrary(None)
    for flags in (BASE_FLAGS + NATIVE_FLAGS, BASE_FLAGS):
        key = hashlib.sha256(
            b"\0".join(
                [code, compiler.encode(), version.encode(), " ".join(flags).encode(), platform.machine().encode()]
                + ([_cpu_flags().encode()] if NATIVE_FLAGS[0] in flags else [])
            )
        ).hexdigest()[:16]
        try:
            cache = _writable_dir(native_cache_dir())
        except OSError as err:
            return NativeLibrary(None, f"no writable cache directory ({err})")
        target = cache / f"{name}-{key}.so"
        result.path = target
        if not target.exists():
            build_start = time.perf_counter()
            ok, command, log = _compile(compiler, flags, source, target)
            build_time += time.perf_counter() - build_start
            result.command = command
            if not ok:
                result.reason = f"`{' '.join(command)}` failed: {log[-2000:]}"
                continue
            result.built = True
        try:
            lib = ctypes.CDLL(str(target))
        except OSError as err:
            result.reason = f"cannot load {target}: {err}"
            continue
        result.lib, result.reason = lib, ""
        break
    result.build_seconds = build_time
    result.load_seconds = time.perf_counter() - start - build_time
    return result

"""Building the kernels: the C source beside this file, compiled on first use into the user's cache.

Why this way (measured, see the README's Performance section): the source is one C file of plain loops
that the compiler vectorises for the machine it runs on (``-march=native``); compiling it takes about a
second, once per machine and source version, and a ctypes call costs about a microsecond, far below
the passes it replaces. An extension built at install time would need a compiler at install time and
could not use the CPU's own vector units on a cluster whose nodes differ; Numba would add a 200 MB
dependency and its own threads.

The built library is named by a key: a hash of the source, the compiler's version, the flags and this
CPU (its model and instruction-set flags, since ``-march=native`` code may not run on another CPU).
A new source, compiler or CPU therefore builds anew, and a cache folder shared by different machines
keeps one library per kind of machine. The compiler writes a temporary file that replaces the target
in one rename, under a lock file, so several worker processes starting at once build it once and none
ever loads half a library.

Environment: ``CC`` names the compiler (default: the first of cc, gcc, clang on PATH);
``DIGITNET_KERNELS_CACHE`` the folder (default: the per-user cache, e.g. ~/.cache/digitnet/kernels).
"""

from __future__ import annotations

import hashlib
import os
import platform
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path

import platformdirs

__all__ = ["FLAGS", "SOURCE_FOLDER", "BuildError", "build_key", "built_library", "cache_folder", "compiler"]

SOURCE_FOLDER = Path(__file__).resolve().parent / "c"
SOURCES = ("kernels.c", "body.h")

FLAGS = (
    "-O3",
    "-march=native",  # this CPU's vector units (AVX2, AVX-512): what makes the passes fast
    "-fopenmp-simd",  # honour `#pragma omp simd` (vectorised loops and reductions), no OpenMP threads
    "-fno-math-errno",  # sqrt may become one instruction
    "-fno-strict-aliasing",  # max-pooling's backward reads floats' bits as integers
    "-ffp-contract=off",  # no fused multiply-adds: the same roundings as the NumPy twins' separate steps
    "-fPIC",
    "-shared",
    "-std=c11",
)

X86_FLAGS = ("-mprefer-vector-width=256",)  # 512-bit vectors left short rows scalar: 2x slower, measured

BUILD_TIMEOUT_S = 120


class BuildError(RuntimeError):
    """The kernels could not be built here; the message says why, in one or two lines, and ``advice``
    what would let them be built."""

    def __init__(self, message: str, advice: str = "install a C compiler (e.g. apt-get install gcc)"):
        super().__init__(message)
        self.advice = advice


def compiler() -> list[str] | None:
    """The C compiler's command line: ``CC`` if set, else the first of cc, gcc, clang on PATH; or None."""
    named = os.environ.get("CC", "").strip()
    if named:
        words = shlex.split(named)
        return words if shutil.which(words[0]) else None
    for name in ("cc", "gcc", "clang"):
        found = shutil.which(name)
        if found:
            return [found]
    return None


def cache_folder() -> Path:
    """Where built libraries are kept: ``DIGITNET_KERNELS_CACHE``, or the per-user cache's ``kernels``."""
    named = os.environ.get("DIGITNET_KERNELS_CACHE", "").strip()
    return Path(named) if named else platformdirs.user_cache_path("digitnet") / "kernels"


def _cpu_fingerprint() -> str:
    """The CPU's model and instruction-set flags (Linux), or what the platform module knows elsewhere."""
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return platform.processor() or platform.machine()
    wanted = ("model name", "flags", "Features", "CPU part")  # x86, and the ARM spellings
    lines = {line.split(":")[0].strip(): line for line in text.splitlines() if ":" in line}
    return "\n".join(lines.get(key, "") for key in wanted) + platform.machine()


def _machine_flags() -> tuple[str, ...]:
    return X86_FLAGS if platform.machine().lower() in ("x86_64", "amd64", "i686", "i386") else ()


def _compiler_version(cc: list[str]) -> str:
    try:
        done = subprocess.run([*cc, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as exc:
        raise BuildError(f"the C compiler {cc[0]} did not run: {exc}") from None
    return done.stdout + done.stderr


def build_key(cc: list[str]) -> str:
    """16 hex digits naming one build: source, compiler and its version, flags, CPU."""
    digest = hashlib.sha256()
    for name in SOURCES:
        digest.update((SOURCE_FOLDER / name).read_bytes())
    for part in (" ".join(cc), _compiler_version(cc), " ".join(FLAGS + _machine_flags()), _cpu_fingerprint()):
        digest.update(part.encode())
    return digest.hexdigest()[:16]


def built_library(rebuild: bool = False) -> Path:
    """The path of the built kernels for this machine, compiling them first if they are not cached.

    ``rebuild=True`` compiles anew even if a library is there (one that failed to load). Raises
    BuildError, with the compiler's own first lines, when there is no compiler or it fails.
    """
    cc = compiler()
    if cc is None:
        named = os.environ.get("CC", "").strip()
        where = f"CC={named!r} is not a program on PATH" if named else "no cc, gcc or clang on PATH"
        raise BuildError(f"no C compiler ({where})")
    folder = cache_folder()
    target = folder / f"digitnet_kernels-{build_key(cc)}.so"
    if target.is_file() and not rebuild:
        return target
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with _locked(folder / ".build.lock"):
            if target.is_file() and not rebuild:  # another process built it while this one waited
                return target
            _compile(cc, folder, target)
    except OSError as exc:
        raise BuildError(
            f"the cache folder {folder} cannot be written ({exc.strerror or exc})",
            advice="set DIGITNET_KERNELS_CACHE to a folder you can write",
        ) from None
    return target


def _compile(cc: list[str], folder: Path, target: Path) -> None:
    """Compile into a temporary file in ``folder``, then rename it over ``target`` in one step."""
    fd, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    os.close(fd)
    command = [*cc, *FLAGS, *_machine_flags(), "-o", temporary, str(SOURCE_FOLDER / "kernels.c"), "-lm"]
    try:
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise BuildError(f"the C compiler took over {BUILD_TIMEOUT_S} s") from None
        except OSError as exc:
            raise BuildError(f"the C compiler {cc[0]} did not run: {exc}") from None
        if done.returncode != 0:
            said = " ".join((done.stderr or done.stdout).strip().splitlines()[:2])[:300]
            raise BuildError(
                f"the C compiler {cc[0]} failed (exit {done.returncode}): {said}",
                advice="report this with the compiler's message; set CC to another compiler meanwhile",
            )
        os.chmod(temporary, 0o755 & ~_umask())  # readable by everyone the folder is shared with
        os.replace(temporary, target)
    finally:
        Path(temporary).unlink(missing_ok=True)


class _locked:
    """An exclusive lock on ``path`` (flock) for the with-block: one build at a time per cache folder."""

    def __init__(self, path: Path):
        self.path = path

    def __enter__(self):
        import fcntl  # POSIX only; choice.py keeps other systems on the NumPy path

        # read-only: a lock file another user made (a shared cache) can still be locked
        self.fd = os.open(self.path, os.O_RDONLY | os.O_CREAT, 0o644)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc_info):
        os.close(self.fd)  # closing releases the lock


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask

"""How the set-up builds llama.cpp (llama-cpp-python from source), and where it keeps the build.

Standard library only: the installer imports it before anything is installed.

llama.cpp is compiled for this CPU (`-march=native`). On a CPU with AMX (Intel Xeon since Sapphire Rapids) that
also compiles its AMX kernels, and GCC 12 and older miscompile them: its `_tile_loadconfig` tells the compiler the
instruction reads 8 of the 64 tile-configuration bytes, so the stores of the tile rows and columns are dropped
as dead, and the first prompt read with weights repacked for AMX kills the process (SIGSEGV). Debian 12 ships GCC
12. The build therefore leaves the AMX kernels out (`-mno-amx-*`); every other instruction set this CPU has stays
in. Repacked weights then take llama.cpp's AVX-512/AVX2 layouts, which work, and the app's default
(RAG_LLM_REPACK=0) uses no repacking at all.

The wheel is built once per llama-cpp-python version, build flags, compiler and CPU, and kept outside pip's cache
(pip would reuse a wheel built with other flags, since its cache key is the source alone).
"""

from __future__ import annotations

import hashlib
import os
import platform
import shlex
import subprocess
from pathlib import Path

LLAMA = "llama-cpp-python==0.3.36"
# the multimodal (llava/mtmd) library is not used here; leaving it out halves the build
LLAMA_CMAKE = "-DLLAVA_BUILD=OFF"
NO_AMX = ("-mno-amx-tile", "-mno-amx-int8", "-mno-amx-bf16")


def build_env(environ: dict[str, str] | None = None) -> dict[str, str]:
    """The environment pip builds llama.cpp in: the user's CMAKE_ARGS/CFLAGS/CXXFLAGS are kept, and the AMX kernels
    are left out wherever the compiler knows them (an x86-64 GCC 11+ or clang)."""
    environ = dict(os.environ if environ is None else environ)
    env = {"CMAKE_ARGS": environ.get("CMAKE_ARGS", LLAMA_CMAKE),
           "CMAKE_BUILD_PARALLEL_LEVEL": environ.get("CMAKE_BUILD_PARALLEL_LEVEL", str(os.cpu_count() or 2))}
    off = list(NO_AMX) if compiler_takes(NO_AMX, environ) else []
    for var in ("CFLAGS", "CXXFLAGS"):
        env[var] = " ".join([*shlex.split(environ.get(var, "")), *off])
    return env


def compiler(environ: dict[str, str], var: str = "CXX", default: str = "c++") -> list[str]:
    return shlex.split(environ.get(var, "")) or [default]


def compiler_takes(flags: tuple[str, ...] | list[str], environ: dict[str, str] | None = None) -> bool:
    """Whether this is x86-64 and the C++ compiler accepts `flags` (no other compiler can emit AMX anyway)."""
    if platform.machine().lower() not in {"x86_64", "amd64"}:
        return False
    environ = dict(os.environ if environ is None else environ)
    try:
        proc = subprocess.run([*compiler(environ), *flags, "-x", "c++", "-c", "-o", os.devnull, "-"],
                              input="int probe;\n", capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return False
    return proc.returncode == 0


def compiler_version(environ: dict[str, str] | None = None) -> str:
    environ = dict(os.environ if environ is None else environ)
    try:
        out = subprocess.run([*compiler(environ), "--version"], capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return "no compiler"
    return out.splitlines()[0] if out else "unknown compiler"


def cpu_flags() -> str:
    """The CPU's instruction-set flags: `-march=native` builds for exactly these."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith(("flags", "Features")):
                    return " ".join(sorted(line.split(":", 1)[1].split()))
    except OSError:
        pass
    return platform.processor() or platform.machine()


def build_key(env: dict[str, str]) -> str:
    """Changes whenever the wheel would come out different: version, flags, compiler or CPU."""
    parts = [LLAMA, env.get("CMAKE_ARGS", ""), env.get("CFLAGS", ""), env.get("CXXFLAGS", ""),
             compiler_version(), platform.machine(), cpu_flags()]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def wheel_dir(key: str, environ: dict[str, str] | None = None) -> Path:
    """Where the built wheel is kept: beside the fetched models, so a new .venv or a fresh clone reuses it."""
    environ = dict(os.environ if environ is None else environ)
    base = environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "rag-news" / "wheels" / f"llama-{key}"

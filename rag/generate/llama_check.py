"""Try a llama.cpp configuration in a child process before this process relies on it.

A llama.cpp build can kill the process that runs it on some CPUs: a build whose AMX kernels were compiled by
GCC 12 or older loses its tile shapes (that GCC's `_tile_loadconfig` tells the compiler it reads 8 of the 64
configuration bytes, so the stores of the row and column sizes are dropped) and dies with SIGSEGV on the first
prompt, but only where the weights are repacked for AMX. A crash in a child is a one-line message here. The same
child reports load time, prompt and decode speed and memory, which `rag bench reader` compares.

Run as a program it is that child: `python -m rag.generate.llama_check MODEL.gguf --repack 1` prints a JSON line
before loading (llama.cpp's build) and one when done; llama.cpp's own log goes to stderr, where the parent reads
the weight buffer types.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import logging
import os
import platform
import re
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from rag.llama_build import cpu_flags

log = logging.getLogger(__name__)

# Some plain news prose, repeated to make a prompt of any length (the tokens, not the words, are what count).
PROSE = ("Officials said on Tuesday that the talks would resume next week after both sides agreed on a schedule. "
         "The agreement followed months of negotiations over trade, security and the future of the region, and "
         "analysts expect the first results before the end of the year. ")
TIMED_OUT = -999  # CheckResult.returncode of a child stopped at its time limit
_BUFFER = re.compile(r"load_tensors:\s+(\S+) model buffer size")
_FAILURE_HINT = ("reinstall llama.cpp with `make install` (its build leaves the AMX kernels out), or keep "
                 "RAG_LLM_REPACK=0")


def describe(repack: bool | None) -> str:
    if repack is None:
        return "llama.cpp's default parameters"
    return f"RAG_LLM_REPACK={int(repack)}" + ("" if repack else " (the app's default)")


@dataclass
class CheckResult:
    """What one child run of a configuration showed."""

    repack: bool | None  # None: llama.cpp's defaults, untouched (repacking on)
    ok: bool
    returncode: int
    buffers: list[str] = field(default_factory=list)  # where llama.cpp put the weights: CPU_Mapped, CPU_REPACK, AMX
    system_info: str = ""  # the build's features, as llama.cpp prints them
    load_s: float = float("nan")
    prompt_tokens: int = 0
    prompt_tokens_per_s: float = float("nan")  # median over the repetitions
    decode_tokens_per_s: float = float("nan")
    peak_rss_mb: float = float("nan")
    seconds: float = 0.0
    error: str = ""  # the end of the child's output when it failed

    @property
    def amx(self) -> bool:
        """The build has llama.cpp's AMX kernels (they run only on weights repacked for AMX)."""
        return "AMX_INT8 = 1" in self.system_info

    def cause(self) -> str:
        """One line: what failed and why, when the child did not finish."""
        if self.ok:
            return ""
        where = f" (weights in {', '.join(self.buffers)} buffers)" if self.buffers else ""
        if self.returncode == TIMED_OUT:
            what = "did not finish in time"
        elif self.returncode < 0:
            what = f"was killed by {_signal_name(-self.returncode)}"
        else:
            what = f"failed (exit {self.returncode}: {self.error.strip().splitlines()[-1] if self.error.strip() else '?'})"
        line = f"llama.cpp {what} reading a {self.prompt_tokens}-token prompt with {describe(self.repack)}{where}"
        if "AMX" in self.buffers:
            line += ("; the cause is its AMX kernels, which GCC 12 and older miscompile (the tile shapes are "
                     "dropped): " + _FAILURE_HINT)
        elif self.amx:
            line += "; this llama.cpp build has AMX kernels: " + _FAILURE_HINT
        return line + "."

    def to_dict(self) -> dict:
        return asdict(self)


def check(model: str | Path, repack: bool | None, *, threads: int = 1, n_ctx: int = 1024, prompt_tokens: int = 64,
          decode_tokens: int = 4, reps: int = 1, timeout_s: float = 300) -> CheckResult:
    """Load `model` with the configuration in a child process, read a prompt and decode a few tokens."""
    cmd = _command(str(model), "--threads", str(threads), "--ctx", str(n_ctx), "--prompt-tokens",
                   str(prompt_tokens), "--decode-tokens", str(decode_tokens), "--reps", str(reps),
                   *(["--repack", str(int(repack))] if repack is not None else []))
    root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(x for x in (root, os.environ.get("PYTHONPATH", "")) if x))
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, errors="replace", timeout=timeout_s, env=env)
        code, out, err = proc.returncode, proc.stdout, proc.stderr
    except subprocess.TimeoutExpired as e:
        code = TIMED_OUT
        out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        err = e.stderr.decode(errors="replace") if isinstance(e.stderr, bytes) else (e.stderr or "")
    result = CheckResult(repack=repack, ok=False, returncode=code, prompt_tokens=prompt_tokens,
                         buffers=list(dict.fromkeys(_BUFFER.findall(err))), seconds=time.perf_counter() - t0)
    for line in out.splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if event.get("event") == "start":
            result.system_info = event.get("system_info", "")
        elif event.get("event") == "done":  # the child got to the end
            result.ok = code == 0
            for key in ("load_s", "prompt_tokens", "prompt_tokens_per_s", "decode_tokens_per_s", "peak_rss_mb"):
                setattr(result, key, event[key])
    if not result.ok:
        result.error = "\n".join(err.strip().splitlines()[-15:])
    return result


def _command(*args: str) -> list[str]:
    return [sys.executable, "-m", "rag.generate.llama_check", *args]


def checked(model: str | Path, repack: bool | None, cache_dir: str | Path | None, *, threads: int = 1,
            timeout_s: float = 300) -> CheckResult:
    """`check`, remembered in `cache_dir` for this llama.cpp build, model file, configuration and CPU, so only
    the first start after a change pays for the child (a second or two)."""
    path = Path(cache_dir) / "llama-checks" / f"{_check_key(model, repack)}.json" if cache_dir else None
    if path is not None:
        try:
            return CheckResult(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError):
            pass
    log.info("llama.cpp: trying %s on this CPU in a child process first", describe(repack))
    result = check(model, repack, threads=threads, timeout_s=timeout_s)
    if path is not None and result.returncode != TIMED_OUT:  # a time-out may be a busy machine: try again next start
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(result.to_dict()))
            os.replace(tmp, path)
        except OSError as e:
            log.info("could not keep the llama.cpp check in %s (%s)", path, e)
    return result


def _check_key(model: str | Path, repack: bool | None) -> str:
    h = hashlib.sha256(f"{repack}|{platform.machine()}|{cpu_flags()}|".encode())
    for p in [Path(model), *_llama_libs()]:
        try:
            st = p.stat()
            h.update(f"{p.resolve()}|{st.st_size}|{st.st_mtime_ns}|".encode())
        except OSError:
            h.update(f"{p}|missing|".encode())
    return h.hexdigest()[:24]


def _llama_libs() -> list[Path]:
    """llama.cpp's shared libraries, found without importing llama_cpp (that loads them)."""
    spec = importlib.util.find_spec("llama_cpp")
    if spec is None or not spec.submodule_search_locations:
        return []
    lib = Path(next(iter(spec.submodule_search_locations))) / "lib"
    return sorted(lib.glob("*.so*")) + sorted(lib.glob("*.dylib")) + sorted(lib.glob("*.dll"))


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


# ---------------------------------------------------------------- the child


def _child(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m rag.generate.llama_check", description=__doc__.split("\n")[0])
    parser.add_argument("model")
    parser.add_argument("--repack", type=int, choices=(0, 1), default=None,
                        help="use_extra_bufts (weight repacking); left out: llama.cpp's defaults, untouched")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--ctx", type=int, default=1024)
    parser.add_argument("--prompt-tokens", type=int, default=64)
    parser.add_argument("--decode-tokens", type=int, default=4)
    parser.add_argument("--reps", type=int, default=1)
    args = parser.parse_args(argv)

    import contextlib

    import llama_cpp
    import numpy as np

    from rag.bench.common import peak_rss_bytes
    from rag.generate.llama_backend import _model_params

    _emit(event="start", system_info=llama_cpp.llama_print_system_info().decode(errors="replace"),
          llama_cpp=llama_cpp.__version__)
    params = contextlib.nullcontext() if args.repack is None else _model_params(repack=bool(args.repack))
    t0 = time.perf_counter()
    with params:
        llm = llama_cpp.Llama(model_path=args.model, n_ctx=args.ctx, n_threads=args.threads,
                              n_threads_batch=args.threads, verbose=True)  # verbose: the buffer lines, on stderr
    load_s = time.perf_counter() - t0
    tokens = llm.tokenize(PROSE.encode(), add_bos=False)
    tokens = (tokens * (args.prompt_tokens // max(1, len(tokens)) + 1))[: args.prompt_tokens]
    n_vocab = llm.n_vocab()
    prompt_rates, decode_rates = [], []
    for _ in range(max(1, args.reps)):
        llm.reset()
        t = time.perf_counter()
        llm.eval(tokens)  # one batch: the path that reads a prompt
        prompt_rates.append(len(tokens) / (time.perf_counter() - t))
        t = time.perf_counter()
        for _ in range(args.decode_tokens):  # greedy, one token at a time: the path that writes an answer
            logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(llm.ctx, -1), shape=(n_vocab,))
            llm.eval([int(np.argmax(logits))])
        if args.decode_tokens:
            decode_rates.append(args.decode_tokens / (time.perf_counter() - t))
    _emit(event="done", load_s=load_s, prompt_tokens=len(tokens),
          prompt_tokens_per_s=float(np.median(prompt_rates)),
          decode_tokens_per_s=float(np.median(decode_rates)) if decode_rates else float("nan"),
          peak_rss_mb=peak_rss_bytes() / 2**20)


def _emit(**event) -> None:
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    _child()

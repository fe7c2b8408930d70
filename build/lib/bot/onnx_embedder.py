"""The embedding model run by ONNX Runtime instead of torch: same vectors API as `retrieval.Embedder`.

Why: importing torch and sentence-transformers alone takes ~5 s of every start on a 2-core CPU, and torch
encodes a short query in ~63 ms (bfloat16). The sentence-transformers pipeline (transformer, pooling, dense
layers, normalisation) is exported once to ONNX with torch (`export_onnx`, ~35 s, cached under
`cache_dir/derived`), optionally with int8 weights; at run time only onnxruntime and the Rust tokenizer load.
Measured on EmbeddingGemma-300M: float32 ONNX gives the torch vectors (cosine 1.0000); int8 encodes a query
in ~18 ms with cosine 0.97-0.99 to them (see bench/results-embedder.md for what that does to retrieval).

Texts are encoded one at a time: no padding, so a text's vector does not depend on its batch (int8
quantises activations per tensor, padding included).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path
from typing import Callable

import numpy as np

log = logging.getLogger("articlebot.onnx_embedder")

EXPORT_VERSION = 2  # bump when the export changes: cached exports with another version are not used
OPSET = 18


class OnnxUnavailable(RuntimeError):
    """The model cannot run under ONNX Runtime (no onnxruntime, no tokenizer.json, export failed)."""


def onnx_path(path: Path, cache_dir: Path, quantized: bool, fingerprint: str) -> Path:
    kind = "int8" if quantized else "fp32"
    return cache_dir / "derived" / f"{Path(path).name}-{fingerprint}-onnx{EXPORT_VERSION}-{kind}" / "model.onnx"


def export_onnx(path: Path, target: Path, quantized: bool) -> None:
    """Export the whole sentence-transformers pipeline of the model at `path` to `target` (written under a
    temporary name and renamed: never a half-written model). Imports torch: done once per model."""
    import torch
    import transformers.masking_utils as masking
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(path), device="cpu", local_files_only=True)

    class Pipeline(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            return self.model({"input_ids": input_ids, "attention_mask": attention_mask})["sentence_embedding"]

    # Bidirectional masks are built with torch.vmap, which the ONNX tracer cannot follow; the broadcasting
    # builder gives the same mask for index-based mask functions such as these.
    original = masking.ALL_MASK_ATTENTION_FUNCTIONS["sdpa"]

    def without_vmap(*args, **kwargs):
        kwargs["use_vmap"] = False
        return original(*args, **kwargs)

    partial = target.parent.with_name(f"{target.parent.name}.{os.getpid()}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        sample = model.tokenizer(["title: none | text: سلام", "task: search result | query: where?"],
                                 padding=True, return_tensors="pt")
        masking.ALL_MASK_ATTENTION_FUNCTIONS._global_mapping["sdpa"] = without_vmap
        fp32 = partial / ("fp32.onnx" if quantized else target.name)
        with torch.no_grad():
            torch.onnx.export(Pipeline().eval(), (sample["input_ids"], sample["attention_mask"]), str(fp32),
                              input_names=["input_ids", "attention_mask"], output_names=["embedding"],
                              dynamic_axes={"input_ids": {0: "batch", 1: "tokens"},
                                            "attention_mask": {0: "batch", 1: "tokens"}, "embedding": {0: "batch"}},
                              opset_version=OPSET, dynamo=False)
        if quantized:
            from onnxruntime.quantization import QuantType, quantize_dynamic

            quantize_dynamic(str(fp32), str(partial / target.name), weight_type=QuantType.QInt8, per_channel=True)
            fp32.unlink()
        for name in ("tokenizer.json", "config_sentence_transformers.json", "sentence_bert_config.json"):
            if (Path(path) / name).exists():
                shutil.copyfile(Path(path) / name, partial / name)
        shutil.rmtree(target.parent, ignore_errors=True)
        os.replace(partial, target.parent)
    finally:
        masking.ALL_MASK_ATTENTION_FUNCTIONS._global_mapping["sdpa"] = original
        shutil.rmtree(partial, ignore_errors=True)


class OnnxEmbedder:
    """Query and document vectors from an ONNX export of a sentence-transformers model (see module doc)."""

    def __init__(self, path: Path, threads: int | None, cache_dir: Path, quantized: bool, fingerprint: str,
                 progress: Callable[[str], None] = lambda _msg: None) -> None:
        if not (Path(path) / "tokenizer.json").exists():
            raise OnnxUnavailable(f"{path} has no tokenizer.json")
        try:
            import onnxruntime
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise OnnxUnavailable(f"onnxruntime or tokenizers is not installed: {exc}") from None
        self.path = path
        model_file = onnx_path(path, cache_dir, quantized, fingerprint)
        if not model_file.exists():
            log.info("event=embedder_onnx_export path=%s quantized=%s", model_file.parent, quantized)
            progress("exporting the embedding model to ONNX Runtime (once per model, about a minute) ...")
            try:
                export_onnx(path, model_file, quantized)
            except Exception as exc:  # noqa: BLE001 - any failure: the torch backend serves instead
                raise OnnxUnavailable(f"export failed: {type(exc).__name__}: {exc}") from None
        options = onnxruntime.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        # ONNX Runtime's threads otherwise spin after each run, taking the cores llama.cpp needs next
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self.session = onnxruntime.InferenceSession(str(model_file), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - a damaged export: removed, made again at the next start
            shutil.rmtree(model_file.parent, ignore_errors=True)
            raise OnnxUnavailable(f"the cached export {model_file} is unreadable and was removed: {exc}") from None
        self.tokenizer = Tokenizer.from_file(str(model_file.parent / "tokenizer.json"))
        st_config = _json(model_file.parent / "config_sentence_transformers.json")
        max_tokens = _json(model_file.parent / "sentence_bert_config.json").get("max_seq_length")
        if max_tokens:
            self.tokenizer.enable_truncation(int(max_tokens))
        self.prompts: dict[str, str] = st_config.get("prompts") or {}
        self.query_prompt = "query" if "query" in self.prompts else None
        self.document_prompt = "document" if "document" in self.prompts else None
        self.dims = int(self._encode_one("warm up").shape[0])
        self.fingerprint = f"{fingerprint}-onnx-{'int8' if quantized else 'fp32'}"

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        return self._encode(texts, self.query_prompt)

    def encode_documents(self, texts: list[str]) -> np.ndarray:
        return self._encode(texts, self.document_prompt)

    def _encode(self, texts: list[str], prompt_name: str | None) -> np.ndarray:
        prefix = self.prompts.get(prompt_name, "") if prompt_name else ""
        if not texts:
            return np.zeros((0, self.dims), dtype=np.float32)
        return np.vstack([self._encode_one(prefix + text) for text in texts])

    def _encode_one(self, text: str) -> np.ndarray:
        ids = np.asarray([self.tokenizer.encode(text).ids], dtype=np.int64)
        vector = self.session.run(None, {"input_ids": ids, "attention_mask": np.ones_like(ids)})[0][0]
        norm = float(np.linalg.norm(vector))
        return np.ascontiguousarray(vector / norm if norm else vector, dtype=np.float32)


def _json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}

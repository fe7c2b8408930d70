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

from .progress import Step, step

log = logging.getLogger("articlebot.onnx_embedder")

EXPORT_VERSION = 3  # bump when the export changes: cached exports with another version are not used
OPSET = 18
EMBEDDINGS_FILE = "embeddings.npy"


class OnnxUnavailable(RuntimeError):
    """The model cannot run under ONNX Runtime (no onnxruntime, no tokenizer.json, export failed)."""


def onnx_path(path: Path, cache_dir: Path, quantized: bool, fingerprint: str) -> Path:
    kind = "int8" if quantized else "fp32"
    return cache_dir / "derived" / f"{Path(path).name}-{fingerprint}-onnx{EXPORT_VERSION}-{kind}" / "model.onnx"


def export_onnx(path: Path, target: Path, quantized: bool) -> None:
    """Export the sentence-transformers pipeline of the model at `path` to `target` (written under a temporary
    name and renamed: never a half-written model). Imports torch: done once per model.

    The token embedding table stays out of the ONNX graph: it is written beside it as `embeddings.npy`
    (float16, memory-mapped at run time; a lookup needs no graph) and the graph takes the looked-up vectors.
    For EmbeddingGemma the table is two thirds of the weights, so the export and its quantization hold a
    third of the model instead of several copies of all of it (peak ~8 GB before, see bench/results-setup.md)."""
    with step("exporting the embedding model to ONNX Runtime (once per model)", 4, "stage") as bar:
        _export(path, target, quantized, bar)


def _export(path: Path, target: Path, quantized: bool, bar: Step) -> None:
    import gc

    import torch
    import transformers.masking_utils as masking
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
    bar.update()
    transformer = model[0].auto_model
    rest = list(model)[1:]  # pooling, dense layers, normalisation

    class Pipeline(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.transformer = transformer
            self.rest = torch.nn.ModuleList(rest)

        def forward(self, inputs_embeds: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            hidden = self.transformer(inputs_embeds=inputs_embeds, attention_mask=attention_mask).last_hidden_state
            features = {"token_embeddings": hidden, "attention_mask": attention_mask}
            for module in self.rest:
                features = module(features)
            return features["sentence_embedding"]

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
        embedding = transformer.get_input_embeddings()
        with torch.no_grad():
            sample_embeds = embedding(sample["input_ids"])
            _write_table(embedding, partial / EMBEDDINGS_FILE)
        transformer.set_input_embeddings(torch.nn.Embedding(1, sample_embeds.shape[-1]))
        del embedding
        for parameter in model.parameters():  # off the weights file's memory map, which then closes
            parameter.data = parameter.data.clone()
        gc.collect()
        bar.update()
        masking.ALL_MASK_ATTENTION_FUNCTIONS._global_mapping["sdpa"] = without_vmap
        fp32 = partial / ("fp32.onnx" if quantized else target.name)
        with torch.no_grad():
            pipeline = Pipeline().eval()
            torch.onnx.export(pipeline, (sample_embeds, sample["attention_mask"]), str(fp32),
                              input_names=["inputs_embeds", "attention_mask"], output_names=["embedding"],
                              dynamic_axes={"inputs_embeds": {0: "batch", 1: "tokens"},
                                            "attention_mask": {0: "batch", 1: "tokens"}, "embedding": {0: "batch"}},
                              opset_version=OPSET, dynamo=False)
        pipeline = model = transformer = rest = None  # the torch weights are freed before quantization
        gc.collect()
        bar.update()
        if quantized:
            from onnxruntime.quantization import QuantType, quantize_dynamic

            quantize_dynamic(str(fp32), str(partial / target.name), weight_type=QuantType.QInt8, per_channel=True)
            fp32.unlink()
        bar.update()
        for name in ("tokenizer.json", "config_sentence_transformers.json", "sentence_bert_config.json"):
            if (Path(path) / name).exists():
                shutil.copyfile(Path(path) / name, partial / name)
        shutil.rmtree(target.parent, ignore_errors=True)
        os.replace(partial, target.parent)
    finally:
        masking.ALL_MASK_ATTENTION_FUNCTIONS._global_mapping["sdpa"] = original
        shutil.rmtree(partial, ignore_errors=True)


def _write_table(embedding, target: Path, rows_per_step: int = 8192) -> None:
    """The embedding module's output for every token id (its scaling included), float16, written in steps
    so that no second copy of the table is held."""
    import torch

    vocab = embedding.num_embeddings
    width = embedding(torch.arange(1)).shape[-1]
    with open(target, "wb") as out:
        np.lib.format.write_array_header_1_0(out, {"descr": np.lib.format.dtype_to_descr(np.dtype(np.float16)),
                                                   "fortran_order": False, "shape": (vocab, width)})
        for start in range(0, vocab, rows_per_step):
            ids = torch.arange(start, min(vocab, start + rows_per_step))
            out.write(embedding(ids).float().numpy().astype(np.float16).tobytes())


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
            self.table = np.load(model_file.parent / EMBEDDINGS_FILE, mmap_mode="r")  # rows read as tokens need them
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
        self.fingerprint = f"{fingerprint}-onnx{EXPORT_VERSION}-{'int8' if quantized else 'fp32'}"

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
        ids = self.tokenizer.encode(text).ids
        embeds = np.asarray(self.table[ids], dtype=np.float32)[None]
        mask = np.ones((1, len(ids)), dtype=np.int64)
        vector = self.session.run(None, {"inputs_embeds": embeds, "attention_mask": mask})[0][0]
        norm = float(np.linalg.norm(vector))
        return np.ascontiguousarray(vector / norm if norm else vector, dtype=np.float32)


def _json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}

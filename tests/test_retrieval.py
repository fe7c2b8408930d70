"""Index round trip, staleness and retrieval quality with the real embedding model and FAISS."""


import numpy as np
import pytest

from bot.engine import ensure_index
from bot.retrieval import PIECE_MAX_CHARS, ArticleIndex, BM25, IndexProblem, sentence_pieces
from bot.text import parse_article

CITY = "فلاديفوستوك"


def _top_texts(engine, question, k=3, mode="hybrid"):
    vector = engine.embedder.encode_queries([question])[0]
    return [h.chunk.text for h in engine.index.search(vector, question, k, mode)]


@pytest.mark.parametrize("question", [
    "أين يتوقع أن يلتقي بوتين وكيم؟",
    "Where are Putin and Kim expected to meet?",
])
def test_retrieval_finds_the_meeting_place_in_both_languages(engine, question):
    assert CITY in _top_texts(engine, question, k=1)[0]


@pytest.mark.parametrize("question,needle", [
    ("Who is the spokesperson of the US National Security Council?", "واتسون"),
    ("Which Russian general accompanied Shoigu?", "كريفوروتشكو"),
    ("ما موقف الصين من التقارب الروسي الكوري؟", "الصين"),
    ("What did the United States do at Camp David?", "كامب ديفيد"),
])
def test_retrieval_recall_at_3(engine, question, needle):
    assert any(needle in t for t in _top_texts(engine, question, k=3))


def test_lexical_search_alone_handles_arabic_spelling_variants(engine):
    # alef and ta marbuta variants, no harakat: still the passage with the name
    texts = _top_texts(engine, "ادريان واتسون", k=1, mode="lexical")
    assert "واتسون" in texts[0]


def test_bm25_scores_matching_documents_higher():
    bm25 = BM25([["a", "b"], ["c", "d"], ["a", "a", "e"]])
    scores = bm25.scores(["a"])
    assert scores[1] == 0 and scores[2] > scores[0] > 0
    assert not bm25.scores(["zzz"]).any()


def test_index_round_trip_gives_identical_results(engine, tmp_path):
    engine.index.save(tmp_path / "idx")
    loaded = ArticleIndex.load(tmp_path / "idx", engine.article)
    assert [c.text for c in loaded.chunks] == [c.text for c in engine.index.chunks]
    assert np.allclose(loaded.vectors, engine.index.vectors)
    q = "Where are Putin and Kim expected to meet?"
    v = engine.embedder.encode_queries([q])[0]
    assert [h.chunk.id for h in loaded.search(v, q, 4)] == [h.chunk.id for h in engine.index.search(v, q, 4)]
    assert ArticleIndex.is_fresh(tmp_path / "idx", engine.article, engine.embedder.fingerprint)


def test_stale_index_is_rebuilt_by_itself(engine, settings, tmp_path):
    local = settings.with_overrides(index_dir=tmp_path)
    first = ensure_index(local, engine.article, engine.embedder)
    changed = parse_article(engine.article.text.replace("فلاديفوستوك", "سوتشي"))
    assert not ArticleIndex.is_fresh(tmp_path / "article", changed, engine.embedder.fingerprint)
    assert not ArticleIndex.is_fresh(tmp_path / "article", engine.article, "another-embedder")
    rebuilt = ensure_index(local, changed, engine.embedder)
    assert any("سوتشي" in c.text for c in rebuilt.chunks)
    assert not any("سوتشي" in c.text for c in first.chunks)
    assert ArticleIndex.is_fresh(tmp_path / "article", changed, engine.embedder.fingerprint)


def test_corrupt_index_is_rebuilt(engine, settings, tmp_path):
    local = settings.with_overrides(index_dir=tmp_path)
    ensure_index(local, engine.article, engine.embedder)
    (tmp_path / "article" / "dense.faiss").write_bytes(b"garbage")
    index = ensure_index(local, engine.article, engine.embedder)
    assert len(index.chunks) == len(engine.index.chunks)
    assert ArticleIndex.load(tmp_path / "article", engine.article).dense.ntotal == len(index.owners)


def test_index_missing_its_sentence_vectors_is_rebuilt(engine, settings, tmp_path):
    import faiss

    local = settings.with_overrides(index_dir=tmp_path)
    ensure_index(local, engine.article, engine.embedder)
    only_chunks = faiss.IndexFlatIP(engine.index.vectors.shape[1])
    only_chunks.add(engine.index.vectors)  # an index written before sentence vectors existed
    faiss.write_index(only_chunks, str(tmp_path / "article" / "dense.faiss"))
    with pytest.raises(IndexProblem, match="sentence vectors"):
        ArticleIndex.load(tmp_path / "article", engine.article)
    index = ensure_index(local, engine.article, engine.embedder)
    assert index.dense.ntotal == len(index.chunks) + len(index.pieces)


def test_every_sentence_of_a_long_chunk_gets_its_own_vector(engine):
    pieces, owners = sentence_pieces(engine.article, engine.index.chunks)
    assert len(pieces) > len(engine.index.chunks)  # most chunks hold several sentences
    assert all(p and p in engine.index.chunks[o].text for p, o in zip(pieces, owners))
    assert max(len(p) for p in pieces) < 2 * PIECE_MAX_CHARS  # long sentences are cut at clause ends
    assert owners == sorted(owners)
    wagner = [engine.index.chunks[o] for p, o in zip(pieces, owners) if "فاغنر" in p]
    assert wagner and all("فاغنر" in c.text for c in wagner)
    assert engine.index.pieces == pieces
    assert engine.index.dense.ntotal == len(engine.index.chunks) + len(pieces)
    assert list(engine.index.owners[len(engine.index.chunks):]) == owners


@pytest.mark.parametrize("question,needle", [
    # the chunk holding these also covers Pyongyang's support for the war and Bakhmut; its own vector
    # ranked it 11th-15th, its sentences rank it in the top five
    ("Which mercenary group is North Korea believed to have shipped weapons to?", "فاغنر"),
    ("إلى أي قوات يعتقد أن كوريا شحنت أسلحة؟", "فاغنر"),
])
def test_a_chunk_ranks_by_its_best_sentence(engine, question, needle):
    vector = engine.embedder.encode_queries([question])[0]
    assert any(needle in h.chunk.text for h in engine.index.search(vector, question, 5, mode="dense"))


def test_closest_sentences_are_distinct_and_closest_first(engine):
    """The n sentences of the given chunks closest to the question, best first; a sentence a chunk's overlap
    repeats from its neighbour is quoted once."""
    question = "بأي وسيلة سيسافر كيم إلى روسيا؟"
    _, hits, _ = engine.retrieve(question, [])
    vector = engine.embedder.encode_queries([question])[0]
    ids = [h.chunk.id for h in hits[:4]]
    closest = engine.index.closest_sentences(vector, ids, 3)
    assert len(closest) == 3 and [c[2] for c in closest] == sorted((c[2] for c in closest), reverse=True)
    assert "القطار" in closest[0][1] and all(cid in ids and s in engine.index.chunks[cid].text for cid, s, _ in closest)
    assert not any(a[1] in b[1] for a in closest for b in closest if a is not b)
    assert engine.index.closest_sentence(vector, ids) == closest[0]
    assert engine.index.closest_sentences(vector, [], 3) == []


@pytest.fixture(scope="module")
def torch_embedder(settings):
    """The embedding model on torch (the fallback backend), for the tests of that backend."""
    from bot.models import resolve_model_path
    from bot.retrieval import Embedder

    return Embedder(resolve_model_path(settings, settings.embed_model, "embed"), settings.threads,
                    "auto", settings.cache_dir)


def test_embedder_precision_follows_the_cpu_and_keys_the_index(torch_embedder, settings):
    from bot.retrieval import cpu_has_native_bf16, resolve_embed_dtype

    expected = "bfloat16" if cpu_has_native_bf16() else "float32"
    assert resolve_embed_dtype("auto") == expected and resolve_embed_dtype("float32") == "float32"
    assert torch_embedder.dtype == expected
    assert torch_embedder.fingerprint.endswith("-bf16") == (expected == "bfloat16"), \
        "an index built at the other precision is rebuilt"
    copies = list((settings.cache_dir / "derived").glob(f"*-{expected}-v3/.complete"))
    assert copies, "the prepared copy is made once and reused"


def test_prepared_copy_tokenizes_like_the_original(torch_embedder, engine, settings):
    """The copy loads tokenizer.json straight into the Rust tokenizer; ids must not change."""
    from transformers import AutoTokenizer

    copy = next((settings.cache_dir / "derived").glob("*-v3"))
    original = AutoTokenizer.from_pretrained(str(torch_embedder.path), local_files_only=True)
    prepared = AutoTokenizer.from_pretrained(str(copy), local_files_only=True)
    assert type(prepared).__name__ in ("PreTrainedTokenizerFast", "TokenizersBackend")
    texts = [c.text for c in engine.index.chunks[:5]] + ["Who is Sergei Shoigu? ٢٠٢٣"]
    assert [original(t)["input_ids"] for t in texts] == [prepared(t)["input_ids"] for t in texts]


def test_onnx_embedder_is_the_default_and_agrees_with_torch(engine, torch_embedder, settings):
    """int8 ONNX vectors stay within cosine 0.97 of torch's and rank the article's passages alike."""
    from bot.onnx_embedder import EXPORT_VERSION, OnnxEmbedder

    assert isinstance(engine.embedder, OnnxEmbedder)
    assert engine.embedder.fingerprint.endswith(f"-onnx{EXPORT_VERSION}-int8")
    assert not list((settings.cache_dir / "derived").glob("*.partial")), "no half-written export is left"
    questions = ["أين يتوقع أن يلتقي بوتين وكيم؟", "Who accompanied Shoigu to North Korea?", "ما منصب جون كيربي؟"]
    onnx_q, torch_q = engine.embedder.encode_queries(questions), torch_embedder.encode_queries(questions)
    passages = [c.text for c in engine.index.chunks]
    onnx_d, torch_d = engine.embedder.encode_documents(passages), torch_embedder.encode_documents(passages)
    assert onnx_q.shape == torch_q.shape == (3, torch_embedder.dims)
    assert np.allclose(np.linalg.norm(onnx_q, axis=1), 1.0, atol=1e-4)
    assert min((onnx_q * torch_q).sum(axis=1)) > 0.97 and min((onnx_d * torch_d).sum(axis=1)) > 0.97
    assert list((onnx_q @ onnx_d.T).argmax(axis=1)) == list((torch_q @ torch_d.T).argmax(axis=1))
    alone = engine.embedder.encode_queries([questions[0]])
    assert np.allclose(alone[0], onnx_q[0], atol=1e-6), "a text's vector does not depend on its batch"


def test_a_model_onnx_cannot_export_falls_back_to_torch(settings, tmp_path, monkeypatch, caplog):
    """A model whose export fails (an architecture the tracer cannot follow) is served by torch, and no
    half-written export is left in the cache."""
    import bot.onnx_embedder
    from bot.models import resolve_model_path
    from bot.retrieval import Embedder, load_embedder

    def failing_export(path, target, quantized):
        target.parent.mkdir(parents=True)
        raise RuntimeError("unordered_map::at")

    monkeypatch.setattr(bot.onnx_embedder, "export_onnx", failing_export)
    cache = tmp_path / "cache"
    embedder = load_embedder(resolve_model_path(settings, settings.embed_model, "embed"), settings.threads,
                             "onnx-int8", "float32", cache)
    assert isinstance(embedder, Embedder) and embedder.encode_queries(["أين؟"]).shape == (1, embedder.dims)
    assert "embedder_onnx_unavailable" in caplog.text and "unordered_map::at" in caplog.text
    assert not list((cache / "derived").glob("*onnx*/model.onnx"))


def test_a_damaged_onnx_export_is_removed_and_torch_serves(settings, tmp_path):
    """A cached export cut short (a full disk, a killed copy) must not stop the bot: torch serves this start,
    and the damaged file is gone so the next start exports again."""
    import shutil

    from bot.models import resolve_model_path
    from bot.onnx_embedder import onnx_path
    from bot.retrieval import Embedder, load_embedder, model_fingerprint

    path = resolve_model_path(settings, settings.embed_model, "embed")
    cache = tmp_path / "cache"
    damaged = onnx_path(path, cache, True, model_fingerprint(path))
    shutil.copytree(onnx_path(path, settings.cache_dir, True, model_fingerprint(path)).parent, damaged.parent)
    damaged.write_bytes(damaged.read_bytes()[:100_000])
    embedder = load_embedder(path, settings.threads, "onnx-int8", "float32", cache)
    assert isinstance(embedder, Embedder) and embedder.encode_queries(["أين؟"]).shape == (1, embedder.dims)
    assert not damaged.parent.exists()


def test_embed_backend_is_validated():
    from bot.config import ConfigError, Settings

    assert Settings().with_overrides(embed_backend="torch").embed_backend == "torch"
    with pytest.raises(ConfigError, match="embed_backend"):
        Settings().with_overrides(embed_backend="tensorflow")

"""Shared fixtures: real models (the small LLM: the tests check behaviour, the benchmark quality), a private
index directory per test session."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("PTB_TIMEDELTA", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

import pytest

from bot.config import Settings


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    base = Settings.from_env({})
    return base.with_overrides(llm_model="small", index_dir=tmp_path_factory.mktemp("index"),
                               data_dir=tmp_path_factory.mktemp("data"), threads=2)


@pytest.fixture(scope="session")
def engine(settings: Settings):
    from bot.engine import Engine

    return Engine.load(settings)

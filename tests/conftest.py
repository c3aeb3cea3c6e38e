"""Shared fixtures: real data slices (tests/data), an isolated cache, copies to break."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parent / "data"
CARDS = DATA / "cards"


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory):
    """Keep indexes and annotation databases of the tests out of the user's cache."""
    mp = pytest.MonkeyPatch()
    mp.setenv("PLANTLLM_CACHE", str(tmp_path_factory.mktemp("cache")))
    mp.setenv("PLANTLLM_QUIET", "1")
    yield
    mp.undo()


@pytest.fixture
def data() -> Path:
    return DATA


@pytest.fixture
def tair_card():
    from plantllm.species.card import load_card

    return load_card(CARDS / "tair10_slice.yaml")


def gunzip_to(src: Path, dest: Path) -> Path:
    with gzip.open(src, "rb") as fin, open(dest, "wb") as fout:
        shutil.copyfileobj(fin, fout)
    return dest


def card_yaml(tmp: Path, fasta: Path | None = None, gff: Path | None = None, **extra) -> Path:
    """A TAIR10 slice card in ``tmp`` pointing at the given (possibly broken) files."""
    import yaml

    card = yaml.safe_load((CARDS / "tair10_slice.yaml").read_text())
    card["genome"]["fasta"] = str(fasta or DATA / "tair10_chr1_1-1500000.fa.gz")
    card["annotation"]["gff"] = str(gff or DATA / "tair10_chr1_1-1500000.gff3.gz")
    for k, v in extra.items():
        card[k] = v
    p = tmp / "card.yaml"
    p.write_text(yaml.safe_dump(card))
    return p

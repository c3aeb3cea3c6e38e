"""The one access to JASPAR (shipped offline by pyjaspar): matrices by ID or name, the Plantae
collection, position probability matrices and log-odds scans with Biopython PSSMs.

Used by the motif task (labelling promoters by matrix hits), the PWM baseline of promoter
prediction (the TATA-box) and motif discovery (naming learned motifs).
"""

from __future__ import annotations

import numpy as np

from plantllm.core.errors import MissingFileError, PlantLLMError

ALPHABET = "ACGT"
#: JASPAR's TBP matrix: the TATA-box is shared by all eukaryotes and JASPAR Plantae has no TBP of its own
TBP = "MA0108.2"
_DB = None


def database():
    """The pyjaspar database (opened once per process)."""
    global _DB
    if _DB is None:
        try:
            from pyjaspar import jaspardb
        except ImportError:
            raise MissingFileError("JASPAR needs the package pyjaspar", fix="bash scripts/setup.sh") from None
        _DB = jaspardb()
    return _DB


def release() -> str:
    return database().release


def plantae(extra: tuple[str, ...] = ()) -> list:
    """JASPAR CORE Plantae matrices (Bio.motifs.jaspar.Motif), plus the ``extra`` IDs."""
    db = database()
    return list(db.fetch_motifs(collection="CORE", tax_group=["plants"])) + [db.fetch_motif_by_id(x) for x in extra]


def fetch(ids: tuple[str, ...] | list[str]) -> list:
    """Matrices by ID (``MA0931.1``) or by Plantae name (``ABI5``, case-insensitive)."""
    db = database()
    plants = None
    out = []
    for x in ids:
        m = db.fetch_motif_by_id(x) if x.startswith("MA") else None
        if m is None:
            if plants is None:
                plants = plantae()
            cands = [q for q in plants if q.name.lower() == x.lower()]
            if not cands:
                raise PlantLLMError(f"JASPAR has no Plantae matrix named or numbered '{x}' ({db.release})",
                                    fix="see https://jaspar.elixir.no for IDs; names are case-insensitive")
            m = cands[0]
        out.append(m)
    return out


def ppm(motif, pseudocount: float = 0.25) -> np.ndarray:
    """(4, width) position probability matrix in ACGT order, with a pseudocount per base."""
    counts = np.array([motif.counts[b] for b in ALPHABET], dtype=np.float64)
    return (counts + pseudocount) / (counts.sum(0, keepdims=True) + 4 * pseudocount)


def pssms(motifs: list) -> list[tuple]:
    """(forward, reverse-complement) log-odds PSSMs (pseudocount 0.5 per base, uniform background)."""
    out = []
    for m in motifs:
        pssm = m.counts.normalize(pseudocounts=0.5).log_odds()
        out.append((pssm, pssm.reverse_complement()))
    return out


def best_scores(pairs: list[tuple], seq: str) -> list[float]:
    """Best log-odds score of each PSSM pair over both strands of ``seq`` (-inf when shorter)."""
    from Bio.Seq import Seq

    s = Seq(seq.upper())
    out = []
    for fwd, rev in pairs:
        if len(s) < fwd.length:
            out.append(float("-inf"))
            continue
        a, b = fwd.calculate(s), rev.calculate(s)
        out.append(float(np.nanmax(np.concatenate([np.atleast_1d(a), np.atleast_1d(b)]))))
    return out

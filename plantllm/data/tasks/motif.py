"""Motif task: sequences labelled by transcription-factor binding.

Two sources:

* peaks (ChIP-seq / DAP-seq BED or narrowPeak, one file per TF): windows centred on
  each peak's summit (narrowPeak column 10) or middle, against GC-matched random
  windows that overlap no peak of any TF; ``labels`` has one 0/1 per TF.
* JASPAR (pyjaspar ships it offline): promoter windows of the annotated genes scanned
  with chosen Plantae matrices (Biopython PSSMs, both strands); ``labels`` has one 0/1
  per matrix, 1 when the best log-odds score reaches ``rel_score`` of the matrix's
  range (0.85 by default, the usual relative threshold of JASPAR's own scanner).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import datasets
import numpy as np

from plantllm.species.assembly import Assembly
from plantllm.data.writer import build_inputs, current_manifest, file_records, write_dataset
from plantllm.core.errors import InputFileError, MissingFileError, PlantLLMError
from plantllm.core.io import open_text, require_file
from plantllm.data.splits import Splitter
from plantllm.data.background import gc_match, gc_of, random_loci
from plantllm.data.tasks.promoter import tss_window


@dataclass
class MotifParams:
    length: int = 200
    peaks: dict[str, str] = field(default_factory=dict)  # TF name -> BED path
    jaspar: tuple[str, ...] = ()  # matrix IDs (e.g. MA0931.1) or names (ABI5)
    upstream: int = 500
    downstream: int = 100
    rel_score: float = 0.85
    max_n_fraction: float = 0.05

    def check(self) -> None:
        if bool(self.peaks) == bool(self.jaspar):
            raise PlantLLMError("give either peak files (--peaks TF=file.bed) or JASPAR matrices (--jaspar ID)")
        if not 0 < self.rel_score <= 1:
            raise PlantLLMError("rel_score must be in (0, 1]")


def _features(names: list[str]) -> datasets.Features:
    return datasets.Features({
        "chrom": datasets.Value("string"), "start": datasets.Value("int64"), "end": datasets.Value("int64"),
        "strand": datasets.Value("string"), "subgenome": datasets.Value("string"), "seq": datasets.Value("string"),
        "labels": datasets.Sequence(datasets.Value("int8"), length=len(names)), "label": datasets.Value("int8"),
        "gene": datasets.Value("string"), "gc": datasets.Value("float32"), "source": datasets.Value("string"),
    })


def read_peaks(path: str | Path, asm: Assembly) -> list[tuple[str, int, int, int]]:
    """(chrom, start, end, summit) of a BED/narrowPeak file; summit = column 10 offset when present."""
    p = require_file(path, "peak file")
    out = []
    with open_text(p) as fh:
        for lineno, line in enumerate(fh, 1):
            if line.startswith(("#", "track", "browser")) or not line.strip():
                continue
            f = line.rstrip("\n").split("\t")
            if len(f) < 3:
                raise InputFileError(f"BED needs at least 3 tab-separated columns, found {len(f)}", path=p, line=lineno)
            try:
                s, e = int(f[1]), int(f[2])
                summit = s + int(f[9]) if len(f) >= 10 and int(f[9]) >= 0 else (s + e) // 2
            except ValueError:
                raise InputFileError("start/end/summit must be integers", path=p, line=lineno) from None
            if e <= s:
                raise InputFileError(f"bad interval {s}-{e}", path=p, line=lineno)
            out.append((asm.card.canonical(f[0], where=p), s, e, summit))
    if not out:
        raise InputFileError("no peaks found", path=p)
    return out


def load_jaspar(ids: tuple[str, ...]):
    try:
        from pyjaspar import jaspardb
    except ImportError:
        raise MissingFileError("JASPAR needs the package pyjaspar", fix="bash scripts/setup.sh") from None
    db = jaspardb()
    plants = None
    out = []
    for x in ids:
        m = db.fetch_motif_by_id(x) if x.startswith("MA") else None
        if m is None:
            if plants is None:
                plants = db.fetch_motifs(collection="CORE", tax_group=["plants"])
            cands = [q for q in plants if q.name.lower() == x.lower()]
            if not cands:
                raise PlantLLMError(f"JASPAR has no Plantae matrix named or numbered '{x}' ({db.release})")
            m = cands[0]
        out.append(m)
    return out, db.release


def best_scores(pssms, seq: str) -> list[float]:
    """Best log-odds score of each PSSM over both strands of ``seq`` (N positions score -inf)."""
    from Bio.Seq import Seq

    s = Seq(seq.upper())
    out = []
    for fwd, rev in pssms:
        if len(s) < fwd.length:
            out.append(float("-inf"))
            continue
        a = fwd.calculate(s)
        b = rev.calculate(s)
        out.append(float(np.nanmax(np.concatenate([np.atleast_1d(a), np.atleast_1d(b)]))))
    return out


def build_motif(asm: Assembly, out: str | Path, params: MotifParams, splitter: Splitter, seed: int = 0,
                force: bool = False) -> dict:
    params.check()
    inputs = build_inputs({"fasta": asm.card.fasta, "gff": asm.card.gff,
                           **{f"peaks:{k}": Path(v) for k, v in params.peaks.items()}}, params, splitter, seed)
    if not force and (done := current_manifest(Path(out), inputs)) is not None:
        return done
    rng = np.random.default_rng(seed)
    g = asm.genome
    chroms = g.chromosomes()
    L = params.length
    rows: list[tuple[str, dict]] = []
    extra: dict = {}
    if params.peaks:
        names = list(params.peaks)
        peaks = {tf: read_peaks(path, asm) for tf, path in params.peaks.items()}
        occupied: dict[str, list[tuple[int, int]]] = {}
        for tf, ps in peaks.items():
            for c, s, e, _ in ps:
                occupied.setdefault(c, []).append((s, e))
        occ = {c: np.array(sorted(v)) for c, v in occupied.items()}

        def overlaps_peak(c: str, s: int, e: int) -> bool:
            arr = occ.get(c)
            if arr is None:
                return False
            i = np.searchsorted(arr[:, 0], e)
            return bool(((arr[:i, 1]) > s).any())

        pos_rows: dict[str, list[dict]] = {"train": [], "validation": [], "test": []}
        for k, (tf, ps) in enumerate(peaks.items()):
            for c, s, e, summit in ps:
                if c not in chroms:
                    continue
                ws = summit - L // 2
                if ws < 0 or ws + L > g.length(c):
                    continue
                seq = g.fetch(c, ws, ws + L)
                split = splitter.assign(c, ws, ws + L)
                if split is None:
                    continue
                lab = [0] * len(names)
                # a window is positive for every TF whose peak covers its centre
                for j, (tf2, ps2) in enumerate(peaks.items()):
                    lab[j] = int(j == k or any(c2 == c and s2 <= summit < e2 for c2, s2, e2, _ in ps2))
                pos_rows[split].append({"chrom": c, "start": ws, "end": ws + L, "strand": "+",
                                        "subgenome": asm.card.subgenome_of(c) or "", "seq": seq, "labels": lab,
                                        "label": 1, "gene": "", "gc": gc_of(seq), "source": f"peak:{tf}"})
        loci = random_loci(asm, chroms, L, rng)
        for split, pos in pos_rows.items():
            pool: list[dict] = []
            tries = 0
            while len(pool) < 10 * len(pos) and tries < 500 * max(len(pos), 1):
                tries += 1
                c, s, strand = next(loci)
                if overlaps_peak(c, s, s + L) or splitter.assign(c, s, s + L) != split:
                    continue
                seq = g.fetch(c, s, s + L)
                pool.append({"chrom": c, "start": s, "end": s + L, "strand": "+",
                             "subgenome": asm.card.subgenome_of(c) or "", "seq": seq, "labels": [0] * len(names),
                             "label": 0, "gene": "", "gc": gc_of(seq), "source": "gc_matched_background"})
            idx = gc_match(np.array([r["gc"] for r in pos]), np.array([r["gc"] for r in pool]), rng) if pos else []
            negs = [pool[i] for i in idx if i >= 0]
            rows += [(split, r) for r in pos + negs]
    else:
        motifs, release = load_jaspar(params.jaspar)
        names = [f"{m.matrix_id} {m.name}" for m in motifs]
        pssms, thresholds = [], []
        for m in motifs:
            pssm = m.counts.normalize(pseudocounts=0.5).log_odds()
            rc = pssm.reverse_complement()
            pssms.append((pssm, rc))
            thresholds.append(pssm.min + params.rel_score * (pssm.max - pssm.min))
        extra = {"jaspar_release": release, "thresholds": dict(zip(names, map(float, thresholds)))}
        for gene in asm.annotation.genes:
            t = gene.canonical
            if t is None or not t.coding or gene.chrom not in chroms:
                continue
            s, e = tss_window(t.tss, t.strand, params.upstream, params.downstream)
            if s < 0 or e > g.length(gene.chrom):
                continue
            split = splitter.assign(gene.chrom, s, e)
            if split is None:
                continue
            seq = g.fetch(gene.chrom, s, e, t.strand)
            scores = best_scores(pssms, seq)
            lab = [int(sc >= th) for sc, th in zip(scores, thresholds)]
            rows.append((split, {"chrom": gene.chrom, "start": s, "end": e, "strand": t.strand,
                                 "subgenome": asm.card.subgenome_of(gene.chrom) or "", "seq": seq, "labels": lab,
                                 "label": int(any(lab)), "gene": gene.locus, "gc": gc_of(seq),
                                 "source": "jaspar_scan"}))
    if not rows:
        raise PlantLLMError("no motif examples could be made (check chromosome names and window length)")

    def examples():
        for i in rng.permutation(len(rows)):
            yield rows[i]

    def manifest():
        pos = np.array([r["labels"] for _, r in rows])
        return {"species": asm.card.name, "assembly": asm.card.assembly, "card": str(asm.card.source),
                "files": file_records({"fasta": asm.card.fasta, "gff": asm.card.gff,
                                       **{f"peaks:{k}": Path(v) for k, v in params.peaks.items()}}),
                "params": asdict(params), "split": splitter.describe(), "seed": seed, "label_names": names,
                "positives_per_label": dict(zip(names, pos.sum(axis=0).tolist())), **extra}

    return write_dataset(out, "motif", _features(names), examples(), manifest, inputs)

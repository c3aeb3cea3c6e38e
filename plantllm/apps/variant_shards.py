"""Variant scoring on the inference engine: a VCF cut into genome shards, one part per shard, one merge.

The VCF is read through a tabix index, one shard (a chromosome chunk of ``shard_size`` bases) at
a time, so any number of processes can score it and a killed run resumes where it stopped. A VCF
that is not bgzipped and indexed is first copied into the job folder as one (one streaming pass
that also checks the order and records the line of each shard's first record, so errors keep
naming the file's own lines). Each shard streams its rows into its part batch by batch
(``variant_parts``); the merge (``variant_merge``) reads the parts in shard order, batch by batch, and
writes the ranked table, the scored VCF (bgzipped, tabix-indexed), the plots and the summary.
"""

from __future__ import annotations

import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterator

import pysam

from plantllm.apps.calibration import Calibration
from plantllm.apps.annotate_vcf import ExistingAnnotation
from plantllm.apps.variant_ann import SIDE, SharedEffects, SideWriter, lockstep
from plantllm.apps.variant_merge import merge_outputs, record_keys, vcf_contigs
from plantllm.apps.variant_parts import PartRows
from plantllm.core import console as con
from plantllm.apps.variant_scoring import Scored, VariantScorer, score_variants
from plantllm.core.errors import ChromosomeError, InputFileError, PlantLLMError, did_you_mean
from plantllm.core.intervals import IntervalIndex
from plantllm.core.io import atomic_path, open_text, require_file, tabix_index
from plantllm.core.tables import checked_lines
from plantllm.apps import WORKER
from plantllm.inference.engine import Job, Shard, genome_shards, input_fingerprint, rank_world
from plantllm.species.assembly import Assembly
from plantllm.species.vcf import VcfStats, read_vcf

__all__ = ["ShardScorer", "VariantJobSpec", "plan", "record_keys", "run_scoring"]  # record_keys: the merge's

SHARD_SIZE = 2_000_000
PART_FORMAT = 2  # parts streamed batch by batch, the VCF statistics in the marker (a job of format 1 starts over)
PAST_END = (1 << 31) - 1  # tabix's largest coordinate


@dataclass
class VariantJobSpec:
    """Everything a rank needs to score its shards (it is the job's plan, so JSON-able)."""

    vcf: str
    indexed: str
    card: str
    fasta: str | None
    gff: str | None
    models: list[str]
    methods: list[str]
    window: int
    batch_size: int
    trust_remote_code: bool = False
    precision: str = "auto"
    tracks: str | None = None  # a folder of precomputed score tracks to look SNVs up in
    contigs: dict[str, str] = field(default_factory=dict)  # canonical chromosome -> the VCF's name
    first_lines: dict[str, int] = field(default_factory=dict)  # shard name -> line of its first record
    calibrated: bool = False  # also the calibrated scores (the models' neutral backgrounds)
    use_existing_annotation: bool = False  # consequences from the VCF's own SnpEff ANN / VEP CSQ
    snpeff_compatible: bool = False  # ConsequenceAnnotator(snpeff_compatible=True): SnpEff's reader convention

    def assembly(self) -> Assembly:
        return Assembly(self.card, fasta=self.fasta, gff=self.gff)


# ---------------------------------------------------------------- preparing the input
def _indexed(vcf: Path) -> bool:
    with open(vcf, "rb") as fh:
        head = fh.read(18)
    is_bgzf = head[:4] == b"\x1f\x8b\x08\x04" and head[12:14] == b"BC"
    return is_bgzf and any(Path(str(vcf) + s).exists() and Path(str(vcf) + s).stat().st_mtime >= vcf.stat().st_mtime
                           for s in (".tbi", ".csi"))


def index_copy(vcf: Path, dest: Path, asm: Assembly, shards: list[Shard]) -> dict[str, int]:
    """Copy a plain or gzip VCF to a bgzipped, tabix-indexed file, checking that it is sorted; returns the
    line of each shard's first record. Unsorted input is an error naming the line (tabix needs order)."""
    index = IntervalIndex((s.chrom, s.start, s.end) for s in shards)
    first: dict[str, int] = {}
    seen_contigs: set[str] = set()
    last = (None, -1)
    with atomic_path(dest) as tmp:
        with open_text(vcf) as src, pysam.BGZFile(str(tmp), "wb") as out:
            for lineno, line in enumerate(checked_lines(vcf, src), 1):
                out.write(line.encode())
                if line.startswith("#") or not line.strip():
                    continue
                chrom, pos = _chrom_pos(vcf, lineno, line)
                if chrom != last[0]:
                    if chrom in seen_contigs:
                        raise InputFileError(f"records of '{chrom}' are not together: the VCF is not sorted", path=vcf,
                                             line=lineno, fix="sort it: bcftools sort -Oz -o sorted.vcf.gz FILE")
                    seen_contigs.add(chrom)
                elif pos < last[1]:
                    raise InputFileError(f"POS {pos} after {last[1]}: the VCF is not sorted by position", path=vcf,
                                         line=lineno, fix="sort it: bcftools sort -Oz -o sorted.vcf.gz FILE")
                last = (chrom, pos)
                canon = asm.card.try_canonical(chrom)
                if canon is not None:
                    for i in index.containing(canon, pos - 1).tolist():
                        first.setdefault(shards[i].name, lineno)
        tabix_index(tmp, dest, preset="vcf")
    return first


def _chrom_pos(vcf: Path, lineno: int, line: str) -> tuple[str, int]:
    f = line.split("\t", 2)
    try:
        chrom, pos = f[0], int(f[1])
    except (IndexError, ValueError):
        raise InputFileError("malformed VCF record: CHROM and POS must be the first two tab-separated columns",
                             path=vcf, line=lineno, fix="check the columns of this line") from None
    if pos < 1:
        raise InputFileError(f"POS {pos} is not a position: VCF positions are 1-based (the first base is 1)",
                             path=vcf, line=lineno, fix="write 1-based positions (a 0-based file needs +1 on every POS)")
    return chrom, pos


def plan(asm: Assembly, vcf: Path, out: Path, *, models: list[Path], methods: list[str], window: int,
         batch_size: int, regions=None, shard_size: int = SHARD_SIZE, trust_remote_code: bool = False,
         precision: str = "auto", tracks: str | Path | None = None, calibrated: bool = False,
         use_existing_annotation: bool = False, snpeff_compatible: bool = False) -> Job:
    """The job of one ``variants score`` run: its shards, its indexed input, its plan."""
    vcf = require_file(vcf, "VCF")
    chroms = asm.genome.chromosomes(nuclear_only=False)
    whole = regions is None
    regions = regions or [(c, 0, asm.genome.length(c)) for c in chroms]
    shards = genome_shards(sorted(regions, key=lambda r: (chroms.index(r[0]) if r[0] in chroms else 1 << 30, r[1])),
                           shard_size)
    if whole:  # records past a chromosome's end belong to its last shard, where the REF check counts them
        shards = [Shard(s.index, s.chrom, s.start, PAST_END) if i + 1 == len(shards) or shards[i + 1].chrom != s.chrom
                  else s for i, s in enumerate(shards)]
    job_dir = Path(out) / ".plantllm-job"
    job_dir.mkdir(parents=True, exist_ok=True)
    if _indexed(vcf):
        indexed, first = vcf, {}
    else:
        indexed = job_dir / "input.vcf.gz"
        first = index_copy(vcf, indexed, asm, shards)
    contigs = _map_contigs(asm, vcf, vcf_contigs(indexed))
    spec = VariantJobSpec(str(vcf), str(indexed), str(asm.card.source), str(asm.card.fasta) if asm.card.fasta else None,
                          str(asm.card.gff) if asm.card.gff else None, [str(m) for m in models], list(methods),
                          window, batch_size, trust_remote_code, precision, str(tracks) if tracks else None, contigs,
                          first, calibrated, use_existing_annotation, snpeff_compatible)
    fingerprints = input_fingerprint({"vcf": vcf, "fasta": asm.card.fasta, "gff": asm.card.gff,
                                      **{f"model{i}": Path(m) / "config.json" for i, m in enumerate(models)},
                                      **{f"calibration{i}": Calibration.path(m, meth, window)
                                         for i, (m, meth) in enumerate(zip(models, methods)) if calibrated}})
    return Job(out, "variants", {"spec": asdict(spec), "inputs": fingerprints, "parts": PART_FORMAT}, shards)


def _map_contigs(asm: Assembly, vcf: Path, names: list[str]) -> dict[str, str]:
    """canonical -> VCF contig name; a VCF none of whose names the card knows, or whose chromosomes the
    FASTA lacks, is an error (as when reading it whole)."""
    mapped = {asm.card.try_canonical(n): n for n in names}
    mapped.pop(None, None)
    if names and not mapped:
        raise ChromosomeError(f"no VCF chromosome matches the card {asm.card.name}: {', '.join(names[:3])}"
                              f"{did_you_mean(names[0], asm.card._alias)}", path=vcf,
                              fix=f"add '{names[0]}' to the aliases of the right chromosome in "
                                  f"{asm.card.source or 'the card'}")
    in_fasta = set(asm.genome.chromosomes(nuclear_only=False))
    if mapped and not in_fasta & set(mapped):
        raise ChromosomeError(f"the variants are on chromosome {', '.join(mapped)}, known to the card but not in the "
                              f"FASTA {asm.genome.path}", path=vcf, fix="give the FASTA that holds them with --fasta")
    return mapped


# ---------------------------------------------------------------- one shard
class ShardScorer:
    """A rank's models and assembly; ``__call__`` scores one shard into a part table."""

    def __init__(self, spec: VariantJobSpec):
        self.spec = spec
        self.asm = spec.assembly()
        self.scorers = [VariantScorer(m, meth, spec.window, spec.batch_size, trust_remote_code=spec.trust_remote_code,
                                      precision=spec.precision, calibrated=spec.calibrated)
                        for m, meth in zip(spec.models, spec.methods)]
        existing = ExistingAnnotation.from_vcf(spec.vcf) if spec.use_existing_annotation else None
        self.annotator = (SharedEffects(self.asm, existing=existing, snpeff_compatible=spec.snpeff_compatible)
                          if self.asm.has_annotation or existing else None)
        # the scored VCF's ANN/LOF/NMD, computed here once per record (a side file of the part), unless the VCF's own
        # annotation is kept
        self.sides = (SIDE,) if self.annotator is not None and not spec.use_existing_annotation else ()
        self.lookup = None
        if spec.tracks:
            if len(self.scorers) != 1 or self.scorers[0].method != "llr":
                raise PlantLLMError("--tracks holds masked-LM LLRs: use it with one --model scored by --method llr")
            from plantllm.apps.score_tracks import TrackLookup

            self.lookup = TrackLookup(spec.tracks, self.asm)

    streams = True  # writes its part batch by batch (Job.run hands it a PartWriter)
    chunk = 50_000  # rows per batch of the part

    def __call__(self, shard: Shard, part, sides: dict[str, Path] | None = None) -> None:
        st = VcfStats()
        name = self.spec.contigs.get(shard.chrom)
        rows: Iterator[Scored] = iter(())
        side = SideWriter(sides[SIDE]) if sides else None
        out = PartRows(part, len(self.scorers), self.spec.calibrated, self.chunk)
        try:
            if name is not None:
                first = self.spec.first_lines.get(shard.name)
                region = (name, shard.start, shard.end)
                variants = _lines_known(read_vcf(self.spec.indexed, self.asm.card, st, region=region, first_line=first,
                                                 source=self.spec.vcf, structural=True, strict_ploidy=True), first)
                if side is not None:
                    variants = lockstep(variants, self.annotator, self.asm, self.spec.indexed, region, side)
                rows = score_variants(self.asm, out.inflight.feed(variants), self.scorers, stats=st,
                                      annotator=self.annotator, lookup=self.lookup)
            out.write_all(rows)
            part.meta["vcf_stats"] = asdict(st)  # known at the shard's end: recorded in its marker
        finally:
            if side is not None:
                side.close()


def _lines_known(variants, first_line: int | None):
    """An indexed read without a line map knows only ordinals: no line number is claimed then."""
    for v in variants:
        if first_line is None:
            v.line = 0
        yield v


# ---------------------------------------------------------------- the whole run
def run_scoring(asm: Assembly, vcf: str | Path, model_dir: "str | Path | list", out: str | Path, *,
                method: "str | list[str]" = "llr", window: int = 128, batch_size: int = 32, regions=None,
                labels: dict | None = None, trust_remote_code: bool = False, shard_size: int = SHARD_SIZE,
                nproc: int = 1, hostfile: str | Path | None = None, precision: str = "auto",
                tracks: str | Path | None = None, calibrated: bool = False, priority=None,
                use_existing_annotation: bool = False, snpeff_compatible: bool = False) -> dict:
    """Score, annotate, rank; write ranked.tsv, scored.vcf.gz (+ .tbi), summary.png, summary.json in ``out``.

    ``model_dir`` may list several models (one ``method`` for all, or one each): they score the same
    windows in one pass and the priority uses the mean of their percentiles. The work runs on the
    inference engine: ``nproc``/``hostfile`` start ranks through the DeepSpeed launcher; under srun
    every task is a rank and rank 0 merges; a rerun after a kill computes only unfinished shards.
    """
    out = Path(out)
    dirs = [Path(m) for m in (model_dir if isinstance(model_dir, (list, tuple)) else [model_dir])]
    methods = [method] * len(dirs) if isinstance(method, str) else list(method)
    if len(methods) == 1:
        methods = methods * len(dirs)
    if len(methods) != len(dirs):
        raise PlantLLMError(f"{len(dirs)} models but {len(methods)} methods: give one --method, or one per --model")
    if calibrated:  # a missing background stops the run before any work (and names the command that makes it)
        for d, m in zip(dirs, methods):
            Calibration.load(d, m, window)
    if use_existing_annotation and ExistingAnnotation.from_vcf(vcf) is None:
        con.warn(f"{vcf}: no ANN or CSQ annotation in the header: computing the annotation")
        use_existing_annotation = False
    out.mkdir(parents=True, exist_ok=True)
    job = _planned(asm, Path(vcf), out, models=dirs, methods=methods, window=window, batch_size=batch_size,
                   regions=regions, shard_size=shard_size, trust_remote_code=trust_remote_code, precision=precision,
                   tracks=tracks, calibrated=calibrated, use_existing_annotation=use_existing_annotation,
                   snpeff_compatible=snpeff_compatible)

    def merge(seconds: float) -> dict:
        summary = merge_outputs(job, asm, vcf, out, dirs, methods, window, labels, priority=priority,
                                calibrated=calibrated, keep_annotation=use_existing_annotation)
        summary.update(seconds=round(seconds, 1), variants_per_s=round(summary["alleles"] / max(seconds, 1e-9), 1),
                       shards=len(job.shards), processes=max(nproc, rank_world()[1]), precision=precision)
        return summary

    return job.complete(lambda: ShardScorer(VariantJobSpec(**job.plan["plan"]["spec"])), "scoring variants", merge,
                        worker=WORKER, nproc=nproc, hostfile=hostfile)


def _planned(asm: Assembly, vcf: Path, out: Path, **kw) -> Job:
    """Plan and prepare the job; input that cannot be planned leaves no job folder behind (nor an output
    folder this run created)."""
    fresh = not (out / ".plantllm-job").exists()
    try:
        job = plan(asm, vcf, out, **kw)
        job.prepare()
        return job
    except PlantLLMError:
        if fresh:
            shutil.rmtree(out / ".plantllm-job", ignore_errors=True)
            if out.exists() and not any(out.iterdir()):
                out.rmdir()
        raise

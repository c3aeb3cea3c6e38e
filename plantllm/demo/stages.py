"""The demo's stages: one function each, ``stage(demo, folder) -> dict`` (what goes into its manifest).

``run_stage`` runs one unless its folder's ``manifest.json`` records the same inputs. A stage reads
what earlier stages wrote from their folders and ``demo.results`` (their manifests).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from plantllm import __version__
from plantllm.core import console as con
from plantllm.core.errors import PlantLLMError
from plantllm.core.io import atomic_write, fingerprint
from plantllm.data.splits import Splitter, held_out_regions
from plantllm.demo.plans import CONFIGS, demo_plan
from plantllm.species.annotation import REGION_CLASSES
from plantllm.species.assembly import Assembly, summarize, validate


@dataclass
class Demo:
    """One demo run: its folder, assembly, plan, the inputs every stage's manifest records, results so far."""

    out: Path
    asm: Assembly
    quick: bool
    plan_name: str
    plan: dict
    inputs: dict
    #: held-out region for everything downstream: 1 Mb blocks, 10% validation, 10% test
    splitter: Splitter = field(default_factory=lambda: Splitter(0.1, 0.1, block_size=1_000_000, seed=0))
    results: dict[str, dict] = field(default_factory=dict)

    @classmethod
    def start(cls, out: str | Path, quick: bool, species: str) -> Demo:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        asm = Assembly(species)
        if asm.card.fasta is None or not asm.card.fasta.exists():
            raise PlantLLMError("the demo genome is not installed", fix="run: bash scripts/setup.sh demo")
        plan_name, plan = demo_plan(quick)
        inputs = {"fasta": fingerprint(asm.card.fasta), "gff": fingerprint(asm.card.gff), "version": __version__,
                  "quick": quick, "plan": plan_name, "plan_settings": plan}  # a changed plan reruns the stages
        return cls(out, asm, quick, plan_name, plan, inputs)

    def path(self, *parts: str) -> Path:
        return self.out.joinpath(*parts)


def run_stage(demo: Demo, name: str, title: str, work: Callable[[Demo, Path], dict]) -> dict:
    """Run ``work(demo, folder)`` unless ``folder/manifest.json`` records the same inputs; return the manifest."""
    folder = demo.out / name
    m = folder / "manifest.json"
    if m.exists():
        data = json.loads(m.read_text())
        if data.get("inputs") == demo.inputs:
            con.info(f"{title} (done, reused)")
            return data
    con.info(title)
    folder.mkdir(parents=True, exist_ok=True)
    t = time.time()
    data = {"inputs": demo.inputs, **work(demo, folder), "seconds": 0.0}
    data["seconds"] = round(time.time() - t, 1)
    with atomic_write(m) as fh:
        json.dump(data, fh, indent=2, default=str)
    return data


def landscape(asm: Assembly, chrom: str, bin_size: int = 100_000) -> dict:
    """Per-bin gene count, TSS count, repeat fraction and GC along one chromosome,
    and bp per region class over the whole chromosome."""
    from plantllm.core import sequence as sq

    n = asm.genome.length(chrom)
    edges = np.arange(0, n + bin_size, bin_size)
    genes = [g for g in asm.annotation.genes if g.chrom == chrom]
    tss = np.array([g.canonical.tss for g in genes if g.canonical is not None])
    gene_mid = np.array([(g.start + g.end) // 2 for g in genes])
    starts, ends = asm.repeats.intervals(chrom)
    rep_bp = np.zeros(len(edges) - 1)
    for s, e in zip(starts.tolist(), ends.tolist()):
        for b in range(s // bin_size, (e - 1) // bin_size + 1):
            rep_bp[b] += min(e, (b + 1) * bin_size) - max(s, b * bin_size)
    gc = [sq.gc_content(seq) for _, seq in asm.genome.iter_chunks(chrom, chunk=bin_size)]
    widths = np.diff(np.minimum(edges, n))
    # Region classes of every 100th base: a vectorized 1% sample of the chromosome.
    classes = asm.annotation.regions.classify(chrom, np.arange(0, n, 100))
    return {
        "chrom": chrom, "length": n, "bin_size": bin_size, "bin_start": edges[:-1].tolist(),
        "genes": np.histogram(gene_mid, edges)[0].tolist(), "tss": np.histogram(tss, edges)[0].tolist(),
        "repeat_fraction": (rep_bp / np.maximum(widths, 1)).tolist(), "gc": gc,
        "region_bp": {k: int((classes == k).sum()) * 100 for k in REGION_CLASSES},
    }


# ---------------------------------------------------------------- the stages, in order
def species(d: Demo, folder: Path) -> dict:
    v = validate(d.asm)
    for w in v.warnings:
        con.warn(w)
    if not v.ok:
        raise PlantLLMError("; ".join(v.errors))
    with con.status("summarizing the assembly"):
        s = summarize(d.asm)
    d.asm.repeats.to_bed(folder / "repeats.bed")
    return {"card": str(d.asm.card.source), "assembly": d.asm.card.assembly,
            "sequences": [q.__dict__ for q in s.sequences], "annotation": s.counts,
            "repeat_bp": s.repeat_bp, "repeat_source": d.asm.card.repeats.source,
            "annotation_db": str(d.asm.annotation.db_path)}


def landscape_stage(d: Demo, folder: Path) -> dict:
    land = landscape(d.asm, d.asm.genome.chromosomes()[0], bin_size=200_000 if d.quick else 100_000)
    with atomic_write(folder / "landscape.json") as fh:
        json.dump(land, fh)
    return {"output": str(folder / "landscape.json")}


def corpus(d: Demo, folder: Path) -> dict:
    from plantllm.data.tasks.pretrain import WindowParams, build_pretrain

    # The recipe's corpus: windows of the spliced coding sequences of the training blocks' genes; the held-out
    # validation and test blocks stay whole and unseen.
    c = d.plan["corpus"]
    params = WindowParams(length=c["length"], stride=c["stride"], regions=c["regions"], flank=c["flank"])
    m = build_pretrain(d.asm, folder / "dataset", params, d.splitter, force=True)
    return {"split_sizes": m["split_sizes"], "dataset": str(folder / "dataset"), "windows": asdict(params)}


def promoter_data(d: Demo, folder: Path) -> dict:
    from plantllm.data.tasks.motif import MotifParams, build_motif
    from plantllm.data.tasks.promoter import PromoterParams, build_promoter

    m = build_promoter(d.asm, folder / "dataset", PromoterParams(), d.splitter, force=True)
    # and the motif task: promoters labelled by JASPAR Plantae ABRE (ABI5), TCP and W-box (WRKY) matrices
    mm = build_motif(d.asm, folder / "motif_dataset", MotifParams(jaspar=("MA0931.1", "TCP4", "WRKY12")),
                     d.splitter, force=True)
    return {"split_sizes": m["split_sizes"], "gc": m["gc"], "window": m["window"],
            "dataset": str(folder / "dataset"), "motif_split_sizes": mm["split_sizes"],
            "motif_positives": mm["positives_per_label"]}


def _train_config(d: Demo, name: str, **overrides):
    """A demo training recipe (``configs/train/demo-*.yaml``) with the plan's data, model and steps."""
    from plantllm.training.config import TrainConfig

    return TrainConfig.load(CONFIGS / "train" / name, species=d.asm.card.name, **overrides)


def pretrain(d: Demo, folder: Path) -> dict:
    import torch

    from plantllm.training.launch import single_process_env
    from plantllm.training.trainer import run

    single_process_env()
    cfg = _train_config(d, d.plan["pretrain_config"], model=str(CONFIGS / "models" / f"{d.plan['model']}.yaml"),
                        dataset=str(d.path("3_corpus", "dataset")), output_dir=str(folder / "run"),
                        max_steps=d.plan["pretrain_steps"], per_device_train_batch_size=d.plan["batch"])
    cpu = time.process_time()
    s = run(cfg, resume=False)
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU"
    return {"plan": d.plan_name, "model_config": d.plan["model"], "device": device, "recipe": d.plan["pretrain_config"],
            "cpu_seconds": round(time.process_time() - cpu, 1),  # all threads: compute on a shared machine
            "learning_rate": cfg.learning_rate, "batch": cfg.per_device_train_batch_size, "max_length": cfg.max_length,
            **{k: s.get(k) for k in ("steps", "seconds", "tokens_per_s", "train_loss", "validation", "model",
                                     "world_size", "precision")}}


def finetune(d: Demo, folder: Path) -> dict:
    import datasets as hfds

    from plantllm.models.baselines import kmer_logistic
    from plantllm.training.launch import single_process_env
    from plantllm.core.metrics import classification_metrics
    from plantllm.training.trainer import run

    single_process_env()
    cfg = _train_config(d, d.plan["finetune_config"], model=d.results["5_pretrain"]["model"],
                        dataset=str(d.path("4_promoter_data", "dataset")), output_dir=str(folder / "run"),
                        max_steps=d.plan["finetune_steps"], per_device_train_batch_size=d.plan["batch"])
    s = run(cfg, resume=False)
    ds = hfds.load_from_disk(str(d.path("4_promoter_data", "dataset")))
    base = kmer_logistic(ds["train"]["seq"], np.array(ds["train"]["label"]), ds["test"]["seq"])
    baseline = classification_metrics(np.array(ds["test"]["label"]), base)
    return {"model": s["model"], "test": s.get("test"), "baseline_6mer_logistic": baseline,
            "seconds_train": s["seconds"], "steps": s["steps"]}


def promoter_scan(d: Demo, folder: Path) -> dict:
    from plantllm.apps.promoter_predict import predict_promoters
    from plantllm.apps.promoter_scan import ScanParams

    regions = held_out_regions(d.asm, d.path("4_promoter_data", "dataset"))
    if d.plan["scan_bp"]:
        regions = [(c, s, min(e, s + d.plan["scan_bp"])) for c, s, e in regions[:1]]
    s = predict_promoters(d.results["6_promoter_model"]["model"], d.asm, folder, regions=regions,
                          params=ScanParams(249, 50, stride=50), threshold=0.5,
                          evaluate=d.path("4_promoter_data", "dataset"))
    return {k: s[k] for k in ("regions_bp", "windows", "windows_per_s", "calls", "evaluation")}


def motifs(d: Demo, folder: Path) -> dict:
    from plantllm.apps.motif_discovery import discover, read_sequences

    # What did the promoter model learn? Held-out test promoters, against the test split's negatives.
    fg, bg, names, desc = read_sequences(dataset=d.path("4_promoter_data", "dataset"), split="test", label=1,
                                         n=d.plan["motif_sequences"])
    s = discover(d.results["6_promoter_model"]["model"], fg, folder, background=bg, names=names, description=desc,
                 min_size=d.plan["motif_min"])
    return {k: s[k] for k in ("sequences", "seqlets", "seqlet_threshold", "fdr", "jaspar", "motifs",
                              "kmer_motifs", "recovered", "seconds_attribution")}


def variant_regions(d: Demo) -> tuple[list, list[tuple[str, int, int]]]:
    """(genes, regions): the first two coding exons and the 300 bp promoter of protein-coding genes
    evenly picked from the held-out test blocks (the model never trained on them)."""
    test_blocks = held_out_regions(d.asm, d.path("4_promoter_data", "dataset"))
    genes = [g for g in d.asm.annotation.genes if g.canonical is not None and g.canonical.coding and
             any(c == g.chrom and s <= g.start and g.end <= e for c, s, e in test_blocks)]
    k = d.plan["variant_genes"]
    genes = genes[:: max(1, len(genes) // k)][:k]
    regions = []
    for g in genes:
        t = g.canonical
        regions += [(t.chrom, a, b) for a, b in t.cds[:2]]
        regions.append((t.chrom, max(0, t.tss - 300), t.tss) if t.strand != "-" else (t.chrom, t.tss + 1, t.tss + 301))
    return genes, regions


def variants(d: Demo, folder: Path) -> dict:
    from plantllm.apps.variant_report import write_saturation_vcf
    from plantllm.apps.variant_shards import run_scoring
    from plantllm.data.tasks.variants import VariantParams, build_variants

    # Real variant set: every possible SNV of the held-out genes' regions
    genes, regions = variant_regions(d)
    vcf = write_saturation_vcf(d.asm, regions, folder / "saturation.vcf")
    # scored in windows of the length the model was pretrained on: the context it learned the reading frame from
    # (stop-gained vs synonymous 0.656 at 256 bp against 0.638 at 128 bp for the cpu plan's model)
    window = d.plan["corpus"]["length"]
    # the variant task dataset (REF/ALT windows, REF checked, region class, gene) from the same VCF
    build_variants(d.asm, vcf, folder / "dataset", VariantParams(window=window), d.splitter, force=True)
    s = run_scoring(d.asm, vcf, d.results["5_pretrain"]["model"], folder, method="llr", window=window)
    return {"genes": [g.locus for g in genes], "window": window, "scored": s["scored"],
            "variants_per_s": s["variants_per_s"],
            "separation": s["separation"], "by_consequence": s["by_consequence"]}


#: (folder, title, stage) in the order they run
STAGES: list[tuple[str, str, Callable[[Demo, Path], dict]]] = [
    ("1_species", "species card, genome, annotation database, repeats", species),
    ("2_landscape", "gene, TSS, repeat and GC landscape", landscape_stage),
    ("3_corpus", "pretraining corpus (windows of spliced coding sequences, repeat masks)", corpus),
    ("4_promoter_data", "promoter task (TSS -249..+50 vs GC-matched)", promoter_data),
    ("5_pretrain", "pretraining a small GPN model (single-base, dilated convolutions) with DeepSpeed (ZeRO-2, MLM, "
                   "repeats down-weighted)", pretrain),
    ("6_promoter_model", "promoter fine-tuning and the 6-mer baseline on the same split", finetune),
    ("7_promoter_scan", "promoter scan of the held-out test blocks, both strands, against the annotation and "
                        "baselines", promoter_scan),
    ("8_motifs", "motif discovery (saturation mutagenesis, seqlets, JASPAR Plantae) beside 6-mer enrichment", motifs),
    ("9_variants", "zero-shot scoring and ranking of every possible SNV in held-out genes", variants),
]

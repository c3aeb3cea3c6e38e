"""Comparative genomics on the real data we ship: A. thaliana (TAIR10 chr1, reference) vs A. arenosa (AARE701a
chr1-2, annotated) vs A. lyrata (ALyr_1.0 chr1-2, no annotation).

1. ``compare orthologs`` for N random thaliana coding genes' promoters (-1000..0): orthologs found per species
   (arenosa: best reciprocal protein hits; lyrata: minimap2 with the gene's 5' end as anchor);
2. every group aligned to thaliana: aligned share and identity per species, sequence-conserved elements;
3. on K groups found in all three species, the core promoter (-200..0, cut from step 1's regions and given back
   as a user table) scored base by base with a multi-species masked LM (``--model``: e.g. the demo GPN recipe
   pretrained on the three species' combined corpus) by ``compare conserved``: elements conserved in sequence,
   in constraint, in both; and whether model-constrained bases (thaliana per-base mean LLR in its lowest 20 %)
   are enriched in sequence-conserved columns (odds ratio, Fisher's test, AUROC of -LLR), beside two baselines
   that know nothing of other species: the same architecture untrained (random weights), and distance to the TSS.

    python benchmarks/comparative.py --model RUN/final --genes 300 --groups 30
    python benchmarks/comparative.py --small          # test slices, a random tiny model (the test suite)
"""

from __future__ import annotations

import argparse
import gzip
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, report  # noqa: E402


def _model(path: Path, config: str, seed: int = 0) -> Path:
    from plantllm.models import checkpoint as M

    if (path / "model.safetensors").exists():  # a rerun in the same --work folder resumes its scored tracks
        return path

    spec = M.load_spec(ROOT / "configs/models" / config)
    tok = M.build_tokenizer(spec)
    M.save(M.create(spec, tok, task="mlm", seed=seed), tok, path)
    return path


def _core_table(orth_dir: Path, k: int, core: int, path: Path, species: list[str]) -> int:
    """The 3'-most ``core``+1 bp (the TSS end) of each region of the first ``k`` groups found in every species."""
    rows = [x.split("\t") for x in (orth_dir / "orthologs.tsv").read_text().splitlines() if not x.startswith("#")]
    by: dict[str, dict[str, list[str]]] = {}
    for r in rows:
        by.setdefault(r[0], {})[r[1]] = r
    groups = [g for g, m in by.items() if all(s in m for s in species)][:k]
    with open(path, "w") as fh:
        fh.write("group\tspecies\tchrom\tstart\tend\tstrand\n")
        for g in groups:
            for sp in species:
                _, _, c, s, e, st, *_ = by[g][sp]
                s, e = int(s), int(e)
                s, e = (max(s, e - core - 1), e) if st == "+" else (s, min(e, s + core + 1))
                fh.write(f"{g}\t{sp}\t{c}\t{s}\t{e}\t{st}\n")
    return len(groups)


def _baselines(cons: Path, untrained: Path | None, reference: str, quantile: float) -> dict:
    """Enrichment of the thaliana LLR (trained model, from the run), of an untrained model's LLR and of TSS
    proximity among the sequence-conserved columns aligned in every species."""
    import pyBigWig

    from plantllm.apps.conserved_outputs import enrichment

    lines = gzip.decompress((cons / "columns.tsv.gz").read_bytes()).decode().splitlines()
    head = lines[0].lstrip("#").split("\t")
    rows = [x.split("\t") for x in lines[1:]]
    bases = [i for i, h in enumerate(head) if h.startswith("base.")]
    keep = [r for r in rows if all(r[i] not in ("-", ".") for i in bases) and r[head.index(f"llr.{reference}")] != "."]
    y = np.array([r[head.index("seq_conserved")] == "1" for r in keep])
    trained = np.array([float(r[head.index(f"llr.{reference}")]) for r in keep])
    offset = np.array([float(r[head.index("offset")]) for r in keep])
    out = {"trained model (-LLR)": enrichment(y, trained, quantile),
           "TSS proximity (no model)": enrichment(y, -offset, quantile)}  # enrichment negates: high offset = near the TSS
    if untrained is not None:
        bw = pyBigWig.open(str(untrained / "llr_mean.bw"))
        u = np.array([bw.values(r[0], int(r[1]) - 1, int(r[1]))[0] for r in keep], float)
        out["untrained model (-LLR)"] = enrichment(y, u, quantile)
    return out


def run(a, work: Path) -> dict:
    from plantllm.apps.alignment import aligner, project
    from plantllm.apps.conserved import ConservedParams, run_conserved
    from plantllm.apps.orthologs import OrthologParams, find_orthologs, load_orthologs, read_table, write_orthologs
    from plantllm.apps.orthologs import OrthologResult
    from plantllm.apps.score_tracks import score_tracks
    from plantllm.species.assembly import Assembly

    res: dict = {"commands": []}
    asms = {n: Assembly(c) for n, c in zip(("thaliana", "arenosa", "lyrata"), a.cards)}
    by_name = {x.card.name: x for x in asms.values()}
    names = list(by_name)
    ref = names[0]
    t = time.time()
    params = OrthologParams(upstream=a.upstream)
    if a.orthologs:  # the output of 'plantllm compare orthologs' with these settings, made before
        import json
        import shutil

        shutil.copytree(a.orthologs, work / "orthologs", dirs_exist_ok=True)
        s = json.loads((work / "orthologs" / "summary.json").read_text())
        if s["params"]["upstream"] != a.upstream or s["groups"] != a.genes:
            raise SystemExit(f"{a.orthologs} was made with other settings than --upstream/--genes")
    else:
        found = find_orthologs(asms["thaliana"], [asms["arenosa"], asms["lyrata"]], params, n_genes=a.genes,
                               seed=a.seed)
        s = write_orthologs(found, by_name, work / "orthologs", params)
    res["orthologs"] = {"seconds": round(time.time() - t, 1), "genes": a.genes, "upstream": a.upstream,
                        "from": str(a.orthologs) if a.orthologs else None,
                        "found": s["regions_per_species"], "in_every_species": s["groups_in_every_species"],
                        "methods": {k: v.get("method", "reference") for k, v in s["methods"].items()}}
    # 1b. the two routes on the annotated species: minimap2 mapping vs best reciprocal protein hits
    t = time.time()
    prot = {r.group: r for r in load_orthologs(work / "orthologs", by_name)[0] if r.species == names[1]}
    mapped = find_orthologs(asms["thaliana"], [asms["arenosa"]], OrthologParams(upstream=a.upstream, method="map"),
                            genes=sorted(prot))
    mp = {r.group: r for r in mapped.regions if r.species == names[1]}
    agree = sum(1 for g, r in mp.items() if r.chrom == prot[g].chrom and r.strand == prot[g].strand
                and min(r.end, prot[g].end) - max(r.start, prot[g].start) >= 0.5 * prot[g].length)
    res["routes_on_arenosa"] = {"protein_orthologs": len(prot), "also_mapped": len(mp), "same_place": agree,
                                "seconds": round(time.time() - t, 1)}
    # 2. identity of every group's regions to the reference (-upstream..0)
    regions, _, _ = load_orthologs(work / "orthologs", by_name)
    by: dict[str, dict] = {}
    for r in regions:
        by.setdefault(r.group, {})[r.species] = r
    al, stats = aligner(), {sp: {"aligned": [], "identity": []} for sp in names[1:]}
    for g, m in by.items():
        rs = by_name[ref].genome.fetch(m[ref].chrom, m[ref].start, m[ref].end, m[ref].strand).upper()
        for sp in names[1:]:
            if sp in m:
                r = m[sp]
                o = by_name[sp].genome.fetch(r.chrom, max(0, r.start - 100),
                                             min(by_name[sp].genome.length(r.chrom), r.end + 100), r.strand).upper()
                p = project(rs, o, al)
                stats[sp]["aligned"].append(p.aligned_fraction)
                stats[sp]["identity"].append(p.identity)
    res["identity"] = {sp: {"groups": len(v["aligned"]),
                            "aligned_share_quartiles": [round(float(q), 3) for q in np.quantile(v["aligned"], [.25, .5, .75])]
                            if v["aligned"] else None,
                            "identity_quartiles": [round(float(q), 3) for q in np.quantile(
                                [i for i, f in zip(v["identity"], v["aligned"]) if f >= 0.5], [.25, .5, .75])]
                            if any(f >= 0.5 for f in v["aligned"]) else None}
                       for sp, v in stats.items()}
    # 3. core promoters of K complete groups: constraint with the model, elements, enrichment
    k = _core_table(work / "orthologs", a.groups, a.core, work / "core.tsv", names)
    core_regions = read_table(work / "core.tsv", by_name)
    write_orthologs(OrthologResult(core_regions, ref, names), by_name, work / "core")
    t = time.time()
    cp = ConservedParams(score_window=a.score_window, batch_size=a.batch, flank=a.flank)
    summ = run_conserved(work / "core", a.model, work / "conserved", cp, assemblies=by_name)
    res["conserved"] = {"groups": k, "seconds": round(time.time() - t, 1), "model": str(a.model),
                        "core_window": f"-{a.core}..0", "score_window": a.score_window,
                        **{key: summ[key] for key in ("groups_aligned", "groups_per_species", "identity_median",
                                                     "elements", "element_bp", "thresholds", "dropped_unaligned")}}
    # untrained baseline: the same architecture, random weights, on the reference regions
    untrained = None
    if a.untrained_config:
        m = _model(work / "untrained", a.untrained_config, seed=1)
        refs = sorted({(r.chrom, r.start, r.end) for r in core_regions if r.species == ref})
        from plantllm.core.intervals import merge

        merged = [(c, s, e) for c in sorted({x[0] for x in refs}) for s, e in merge([(x[1], x[2]) for x in refs if x[0] == c])]
        score_tracks(m, by_name[ref], work / "untrained_tracks", regions=merged, window=a.score_window,
                     batch_size=a.batch)
        untrained = work / "untrained_tracks"
    res["enrichment"] = _baselines(work / "conserved", untrained, ref, cp.constraint_quantile)
    res["plot"] = summ["plot"]
    return res


def markdown(res: dict, a) -> str:
    o, c = res["orthologs"], res["conserved"]
    lines = [f"Thaliana -> arenosa / lyrata, {o['genes']} random thaliana chr1 coding genes (seed {a.seed}), promoters "
             f"-{o['upstream']}..0 of the canonical TSS; arenosa and lyrata hold chromosomes 1-2 only (thaliana chr1 "
             "is syntenic with their chr1 + chr2).", "",
             "| species | method | orthologous regions found | aligned share of the reference window (quartiles) | "
             "identity over aligned bases (quartiles, regions aligned >= 50 %) |", "|---|---|---|---|---|"]
    for sp, n in o["found"].items():
        st = res["identity"].get(sp)
        lines.append(f"| {sp} | {o['methods'].get(sp)} | {n} / {o['genes']} | "
                     f"{st['aligned_share_quartiles'] if st else '(reference)'} | {st['identity_quartiles'] if st else ''} |")
    ro = res["routes_on_arenosa"]
    lines += ["", f"Cross-check of the two routes on arenosa (annotated, so both apply): of {ro['protein_orthologs']} "
              f"promoters placed by best reciprocal protein hits, {ro['also_mapped']} were also placed by minimap2 "
              f"(promoter + 1 kb of gene 5' end) and {ro['same_place']} of those at the same place (same chromosome "
              "and strand, overlapping >= 50 % of the window)."]
    made = ("made earlier by `plantllm compare orthologs arabidopsis_thaliana arabidopsis_arenosa arabidopsis_lyrata "
            f"--n-genes {o['genes']} -o OUT` and read with --orthologs" if o.get("from")
            else f"found in {o['seconds']} s")
    lines += ["", f"Groups in all three species: {o['in_every_species']} (orthologs {made}).", "",
              f"**Constraint** ({c['groups']} complete groups, core promoters {c['core_window']} bp, other species' "
              f"regions widened by {a.flank} bp each side before aligning; model `{c['model']}`, score window "
              f"{c['score_window']} bp; {c['seconds']} s): groups aligned {c['groups_aligned']}; elements (>= 15 bp, "
              f"20-column windows) conserved in sequence {c['elements']['sequence']} ({c['element_bp']['sequence']} bp), "
              f"in constraint {c['elements']['constraint']} ({c['element_bp']['constraint']} bp), in both "
              f"{c['elements']['both']} ({c['element_bp']['both']} bp).", "",
              "Are the reference's most constrained bases (lowest 20 % per-base score) enriched among columns conserved "
              "in sequence (windowed identity >= 0.8 to both other species), over the columns aligned in all three?", "",
              "| score | columns | conserved | constrained share in conserved | elsewhere | odds ratio | Fisher p | AUROC |",
              "|---|---|---|---|---|---|---|---|"]
    for k, e in res["enrichment"].items():
        lines.append(f"| {k} | {e.get('columns')} | {e.get('conserved_columns')} | {e.get('constrained_share_in_conserved')} | "
                     f"{e.get('constrained_share_elsewhere')} | {e.get('odds_ratio')} | {e.get('fisher_p', float('nan')):.2g} | "
                     f"{e.get('auroc')} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--small", action="store_true", help="test slices, 2 genes, a random tiny model")
    ap.add_argument("--model", help="masked LM folder (multi-species)")
    ap.add_argument("--genes", type=int, default=300)
    ap.add_argument("--groups", type=int, default=30, help="complete groups scored with the model")
    ap.add_argument("--upstream", type=int, default=1000)
    ap.add_argument("--core", type=int, default=200, help="core promoter scored: -core..0")
    ap.add_argument("--score-window", type=int, default=64)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--flank", type=int, default=100, help="other species' regions widened by this much per side")
    ap.add_argument("--untrained-config", default="demo-gpn-char.yaml")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--orthologs", help="reuse this 'plantllm compare orthologs' output (same --genes, --seed, "
                    "--upstream) instead of finding them again")
    ap.add_argument("--work", help="keep the outputs here (default: a temporary folder)")
    a = ap.parse_args(argv)
    os.environ.setdefault("PLANTLLM_QUIET", "1")
    a.cards = ["arabidopsis_thaliana", "arabidopsis_arenosa", "arabidopsis_lyrata"]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(a.work).resolve() if a.work else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        if a.small:
            a.cards = [str(ROOT / f"tests/data/cards/{n}_slice.yaml") for n in ("tair10", "arenosa", "lyrata")]
            a.genes, a.groups, a.upstream, a.core, a.score_window, a.flank, a.untrained_config = 40, 2, 300, 40, 32, 30, ""
            a.model = str(_model(work / "tiny", "tiny-gpn-char.yaml"))
        elif not a.model:
            ap.error("--model is required (or --small)")
        t0 = time.time()
        res = run(a, work)
        res["seconds"] = round(time.time() - t0, 1)
    return report("comparative", res, a, markdown)


if __name__ == "__main__":
    sys.exit(main())

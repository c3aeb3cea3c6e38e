"""Native Caduceus (PlantCaduceus v1): the reference's logits, RC equivariance, the scan, every command.

tests/data/caduceus_reference holds a tiny random-weights checkpoint written by the reference code and the
reference's logits on real TAIR10 windows (see its README; benchmarks/caduceus_equality.py made them)."""

from __future__ import annotations

import json

import pysam
import pytest
import torch
from safetensors.torch import load_file

from conftest import DATA
from plantllm.models import checkpoint as M
from plantllm.models.families.caduceus import CaduceusConfig, CaduceusForMaskedLM
from plantllm.models.families.selective_scan import chunk_length, selective_scan
from plantllm.models.runner import ModelRunner

ROOT = DATA.parent.parent
REF = DATA / "caduceus_reference"
GPN_COMPLEMENT = {0: 0, 1: 1, 2: 2, 3: 6, 4: 5, 5: 4, 6: 3}


def sequential_scan(u, delta, A, B, C, D, z, delta_bias):
    """The recurrence written out step by step (the definition the chunked scan must reproduce)."""
    delta = torch.nn.functional.softplus(delta + delta_bias[:, None])
    h = torch.zeros(u.shape[0], u.shape[1], A.shape[1])
    ys = []
    for t in range(u.shape[2]):
        h = torch.exp(delta[:, :, t, None] * A) * h + (delta[:, :, t] * u[:, :, t])[..., None] * B[:, None, :, t]
        ys.append((h * C[:, None, :, t]).sum(-1))
    return (torch.stack(ys, -1) + u * D[:, None]) * torch.nn.functional.silu(z)


@pytest.mark.parametrize("extreme", [False, True])
def test_chunked_scan_is_the_recurrence(extreme):
    """Decays of trained Mamba layers (long chunks) and extreme ones (one-step chunks) both give the recurrence."""
    g = torch.Generator().manual_seed(0)
    b, d, n, length = 2, 6, 4, 150
    u, z, dt = (torch.randn(b, d, length, generator=g) for _ in range(3))
    A = -torch.rand(d, n, generator=g) * (600 if extreme else 16)
    B, C = torch.randn(b, n, length, generator=g), torch.randn(b, n, length, generator=g)
    D = torch.randn(d, generator=g)
    bias = torch.randn(d, generator=g) + (0 if extreme else -5)  # softplus(-5) = 0.007: Mamba's dt range
    if not extreme:
        dt = dt * 0.3
    want = sequential_scan(u, dt, A, B, C, D, z, bias)
    got = selective_scan(u, dt, A, B, C, D, z=z, delta_bias=bias)
    assert (got - want).abs().max() < 1e-4 * want.abs().max().clamp(min=1)
    steps = chunk_length(torch.nn.functional.softplus(dt + bias[:, None]), A)
    assert steps == 1 if extreme else steps >= 16
    half = selective_scan(u.bfloat16(), dt.bfloat16(), A, B.bfloat16(), C.bfloat16(), D, z=z.bfloat16(),
                          delta_bias=bias)
    assert half.dtype == torch.bfloat16 and (half.float() - want).abs().max() < 0.05 * want.abs().max()
    grads = []  # training: the same, finite gradients (a division by exp(s) would overflow them)
    for fn in (sequential_scan, lambda *x: selective_scan(*x[:6], z=x[6], delta_bias=x[7])):
        leaves = [t.clone().requires_grad_() for t in (u, dt, A)]
        fn(*leaves, B, C, D, z, bias).square().sum().backward()
        grads.append([t.grad for t in leaves])
    for ours, ref in zip(*grads):
        assert torch.isfinite(ours).all() and (ours - ref).abs().max() < 1e-3 * ref.abs().max().clamp(min=1)


def test_reference_logits_on_real_windows():
    """The reference code's tiny checkpoint opens through plantllm (config.json with auto_map, no remote code)
    and gives the reference's logits within 1e-4 on real TAIR10 windows."""
    ref = load_file(str(REF / "reference_logits.safetensors"))
    with pysam.FastaFile(str(DATA / "tair10_chr1_1-1500000.fa.gz")) as fa:
        rows = [line.split("\t") for line in (REF / "windows.tsv").read_text().splitlines()[1:]]
        seqs = [fa.fetch(c, int(s), int(e)) for c, s, e in rows]
    model, tok = M.load(REF, task="mlm")
    assert isinstance(model, CaduceusForMaskedLM) and json.loads((REF / "config.json").read_text())["auto_map"]
    ids = tok(seqs, return_tensors="pt")["input_ids"]
    assert torch.equal(ids, ref["input_ids"])  # the reference read these very windows
    with torch.no_grad():
        logits = model(input_ids=ids).logits
    assert logits.shape == ref["logits"].shape == (4, 96, 8)
    assert (logits - ref["logits"]).abs().max() < 1e-4
    mixer = model.caduceus.backbone.layers[0].mixer.submodule
    assert mixer.mamba_rev.in_proj.weight is mixer.mamba_fwd.in_proj.weight  # tied on load, as in the reference
    assert model.lm_head.lm_head.weight is model.caduceus.backbone.embeddings.word_embeddings.embedding.weight


def _rc(ids: torch.Tensor, cfg: CaduceusConfig) -> torch.Tensor:
    return torch.tensor(cfg.complement_ids())[ids.flip(-1)]


@pytest.mark.parametrize("fused", [True, False])
def test_rc_equivariance_and_padding(fused):
    """RCPS: logits of the reverse complement = the logits flipped and complement-mapped; a padded row's
    logits are the row's alone (each row reversed within its tokens); without RCPS there is no symmetry."""
    torch.manual_seed(0)
    cfg = CaduceusConfig(d_model=16, n_layer=2, vocab_size=7, rcps=True, fused_add_norm=fused,
                         complement_map=GPN_COMPLEMENT, ssm_cfg={"d_state": 4})
    model = CaduceusForMaskedLM(cfg).eval()
    ids = torch.randint(3, 7, (3, 40))
    comp = torch.tensor(cfg.complement_ids())
    with torch.no_grad():
        fwd, rev = model(input_ids=ids).logits, model(input_ids=_rc(ids, cfg)).logits
        assert (rev.flip(1)[..., comp] - fwd).abs().max() < 1e-5
        padded = torch.cat([ids[:1, :30], torch.zeros(1, 10, dtype=torch.long)], 1)
        mask = (torch.arange(40) < 30).long()[None]
        alone = model(input_ids=ids[:1, :30]).logits
        assert (model(input_ids=padded, attention_mask=mask).logits[:, :30] - alone).abs().max() < 1e-5
    plain = CaduceusForMaskedLM(CaduceusConfig(d_model=16, n_layer=2, vocab_size=7, rcps=False,
                                               ssm_cfg={"d_state": 4})).eval()
    with torch.no_grad():
        a, b = plain(input_ids=ids).logits, plain(input_ids=_rc(ids, cfg)).logits
    assert (b.flip(1)[..., comp] - a).abs().max() > 1e-3


def test_created_model_saves_loads_and_runs_both_strands_in_one_forward(tmp_path):
    """tiny-caduceus-char.yaml -> create -> save (one copy of each tied tensor) -> load -> the same logits; the
    runner knows one forward serves both strands, and a classifier / regression head trains and reloads."""
    spec = M.load_spec(ROOT / "configs/models/tiny-caduceus-char.yaml")
    tok = M.build_tokenizer(spec)
    model = M.create(spec, tok)
    assert model.config.is_rc_equivariant and model.config.complement_map[3] == 6
    M.save(model, tok, tmp_path / "m")
    keys = load_file(str(tmp_path / "m" / "model.safetensors"))
    assert not any("mamba_rev.in_proj" in k or k.startswith("lm_head.lm_head") for k in keys)
    runner = ModelRunner(tmp_path / "m", "mlm", precision="exact")
    assert runner.context == spec.max_length and runner.rc_equivariant  # no position table: the tokenizer's limit
    seq = "ATGGCGTTAGCCAATTGCAGGCTA" * 3
    enc = runner.encode([seq])
    with torch.no_grad():
        want = model.eval()(**enc).logits
    assert (runner.logits(enc) - want).abs().max() < 1e-5
    emb = runner.embed([seq, seq[:50]])
    assert emb.shape == (2, 32)  # both strands' halves averaged: d_model
    rc = seq[::-1].translate(str.maketrans("ACGT", "TGCA"))
    assert abs(runner.embed([rc]) - runner.embed([seq])).max() < 1e-5  # strand-independent
    for task, labels in (("classification", torch.tensor([0, 1])), ("regression", torch.tensor([0.5, -1.0]))):
        head = M.create(spec, tok, task=task)
        out = head(**runner.encode([seq, seq[::-1]]), labels=labels)
        out.loss.backward()
        M.save(head, tok, tmp_path / task)
        again, _ = M.load(tmp_path / task, task=task, require_head=True)
        with torch.no_grad():
            assert (again.eval()(**runner.encode([seq])).logits - head.eval()(**runner.encode([seq])).logits
                    ).abs().max() < 1e-5


def test_caduceus_tokenizer_layout_is_the_references(tmp_path):
    """The Caduceus-Ph/-PS tokenizer built natively from a published tokenizer_config.json; the expected ids are
    the reference CaduceusTokenizer's (tokenization_caduceus.py under transformers 4.40) on the same text."""
    from plantllm.models.families.caduceus_tokenizer import caduceus_tokenizer

    tok = caduceus_tokenizer()
    assert tok("ACGTNacgtX")["input_ids"] == [7, 8, 9, 10, 11, 7, 8, 9, 10, 6, 1]
    assert tok(["ACG", "ACGTA"], padding=True)["input_ids"] == [[4, 4, 7, 8, 9, 1], [7, 8, 9, 10, 7, 1]]
    assert (tok.mask_token_id, tok.pad_token_id, len(tok)) == (3, 4, 12)
    # a Caduceus-Ph-style folder: config + weights + tokenizer_config.json naming the remote-code class
    CaduceusForMaskedLM(CaduceusConfig(d_model=16, n_layer=1, vocab_size=12, rcps=False,
                                       ssm_cfg={"d_state": 4})).save_pretrained(tmp_path)
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "CaduceusTokenizer",
                                                                "model_max_length": 131072, "padding_side": "left"}))
    model, loaded = M.load(tmp_path, task="mlm")
    assert loaded("acgn")["input_ids"] == [7, 8, 9, 11, 1]
    runner = ModelRunner.from_model(model, loaded, precision="exact")
    assert not runner.rc_equivariant  # no RCPS (and the [SEP] would land on the wrong end anyway)
    assert runner.logits(runner.encode(["ACGTACGT", "ACG"])).shape == (2, 9, 16)


@pytest.mark.slow
def test_every_command_with_caduceus(tmp_path):
    """The CLI end to end on a Caduceus: pretraining from its config on 2 DeepSpeed ranks, LoRA fine-tuning,
    a promoter scan, variants saturate + score (one forward serves both strands: the reverse strand's masked
    log-probabilities are the forward strand's, complemented)."""
    import yaml

    from plantllm.cli import main
    from plantllm.data.splits import Splitter
    from plantllm.data.tasks.pretrain import WindowParams, build_pretrain
    from plantllm.data.tasks.promoter import PromoterParams, build_promoter
    from plantllm.species.assembly import Assembly
    from plantllm.species.card import load_card

    card = DATA / "cards" / "tair10_slice.yaml"
    asm = Assembly(load_card(card))
    build_pretrain(asm, tmp_path / "c", WindowParams(128, 256), Splitter(0.1, 0.1, block_size=100_000))
    build_promoter(asm, tmp_path / "p", PromoterParams(upstream=99, downstream=20, negatives="random"),
                   Splitter(0.2, 0.2, block_size=100_000))

    def cfg(name, **kw):
        base = {"task": "mlm", "model": str(ROOT / "configs/models/tiny-caduceus-char.yaml"), "max_steps": 4,
                "output_dir": str(tmp_path / name), "per_device_train_batch_size": 8, "max_length": 128,
                "eval_steps": 100, "save_steps": 100, "max_eval_samples": 16, "deepspeed": None}
        base.update(kw)
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(base))
        return str(tmp_path / f"{name}.yaml")

    assert main(["pretrain", cfg("pre", dataset=str(tmp_path / "c"), deepspeed=str(ROOT / "configs/deepspeed/zero2.json")),
                 "--nproc", "2", "--no-resume"]) == 0
    ranks = [json.loads((tmp_path / "pre" / "ranks" / f"rank-{r}.json").read_text()) for r in (0, 1)]
    assert ranks[0]["world_size"] == 2 and ranks[0]["params_sha256"] == ranks[1]["params_sha256"]
    model = str(tmp_path / "pre" / "model")
    assert json.loads((tmp_path / "pre" / "model" / "config.json").read_text())["model_type"] == "caduceus"
    assert main(["finetune", cfg("ft", task="classification", dataset=str(tmp_path / "p"), model=model,
                                 max_length=120, lora={"r": 4, "alpha": 8})]) == 0
    ft = json.loads((tmp_path / "ft" / "summary.json").read_text())
    assert "test_auroc" in ft["test"]
    clf, _ = M.load(ft["model"], task="classification", require_head=True)
    assert type(clf).__name__ == "CaduceusForSequenceClassification"
    assert main(["predict", "promoters", ft["model"], str(card), "-o", str(tmp_path / "scan"),
                 "--region", "1:3001-9000"]) == 0
    assert (tmp_path / "scan" / "scores.plus.bw").exists() and (tmp_path / "scan" / "promoters.bed").exists()
    vcf = tmp_path / "sat.vcf"
    assert main(["variants", "saturate", str(card), "--region", "1:3701-3720", "-o", str(vcf)]) == 0
    assert main(["variants", "score", str(vcf), str(card), "--model", model, "--window", "64",
                 "-o", str(tmp_path / "scored")]) == 0
    summary = json.loads((tmp_path / "scored" / "summary.json").read_text())
    assert summary["scored"] == 60 and summary["models"][0]["forwards_per_site"] == 1
    runner = ModelRunner(model, "mlm", precision="exact")
    window = asm.genome.fetch("1", 3678, 3742).upper()
    rc = window[::-1].translate(str.maketrans("ACGT", "TGCA"))
    comp = torch.tensor(runner.model.config.complement_ids())
    logp = []
    for seq, pos in ((window, 32), (rc, 31)):
        enc, at = runner.encode_at([seq], [pos])
        ids = enc["input_ids"].clone()
        ids[0, at] = runner.tok.mask_token_id
        logp.append(runner.masked_log_probs(ids, enc["attention_mask"], at.tolist())[0])
    assert runner.rc_equivariant and (logp[1][comp] - logp[0]).abs().max() < 1e-5


def test_variant_llr_one_forward_equals_the_two_strand_mean(tmp_path):
    """An RCPS model scores both strands in one forward: its LLR equals the two-forward strand mean."""
    import numpy as np

    from plantllm.apps.variant_scoring import VariantScorer
    from plantllm.species.assembly import Assembly
    from plantllm.species.card import load_card

    spec = M.load_spec(ROOT / "configs/models/tiny-caduceus-char.yaml")
    tok = M.build_tokenizer(spec)
    M.save(M.create(spec, tok), tok, tmp_path / "m")
    sc = VariantScorer(tmp_path / "m", "llr", window=64, precision="exact")
    assert sc.forwards_per_site == 1
    g = Assembly(load_card(DATA / "cards" / "tair10_slice.yaml")).genome
    sites = []
    for p in (3_760, 20_000, 250_000):
        w = g.fetch("1", p - 32, p + 32).upper()
        sites.append((w, [w[:32] + b + w[33:] for b in "ACGT" if b != w[32]], 32))
    one = sc.score_sites(sites)
    sc.strands = ("+", "-")
    two = sc.score_sites(sites)
    assert np.abs(np.array(one) - np.array(two)).max() < 1e-5 and np.abs(np.array(one)).max() > 0


def test_scan_scores_both_strands_of_an_rcps_classifier_in_one_forward(tmp_path):
    """An RCPS classifier gives a window and its reverse complement one score: the scan runs one forward per
    window and its scores equal those of the two-forward scan."""
    import numpy as np

    from plantllm.apps.promoter_scan import ModelScorer, ScanParams, scan
    from plantllm.species.assembly import Assembly
    from plantllm.species.card import load_card

    spec = M.load_spec(ROOT / "configs/models/tiny-caduceus-char.yaml")
    tok = M.build_tokenizer(spec)
    M.save(M.create(spec, tok, task="classification"), tok, tmp_path / "clf")
    asm = Assembly(load_card(DATA / "cards" / "tair10_slice.yaml"))
    scorer = ModelScorer(tmp_path / "clf", precision="exact")
    assert scorer.one_pass
    p = ScanParams(upstream=49, downstream=10, stride=25)
    one = scan(asm, scorer, [("1", 3_000, 5_000)], p)
    scorer.runner._rc = False  # the two-forward path
    two = scan(asm, scorer, [("1", 3_000, 5_000)], p)
    assert np.array_equal(one["tss"], two["tss"]) and np.abs(one["score"] - two["score"]).max() < 1e-5
    assert np.abs(one["score"] - one["score"].mean()).max() > 0  # the scores vary along the region

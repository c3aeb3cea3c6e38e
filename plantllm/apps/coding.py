"""Coding consequences of one change in one transcript: the codons it touches in the spliced CDS
(cached per transcript), SnpEff's coding effect types, HGVS.p with SnpEff's 3-letter amino acids,
and the positions (cDNA, CDS, AA) SnpEff writes. Only the codons around the change are translated.
"""

from __future__ import annotations

from plantllm.apps.effects import ORDER
from plantllm.apps.tx_model import TxModel
from plantllm.core.sequence import reverse_complement

START = ("ATG", "CTG", "TTG")  # SnpEff's standard table: start codons
_CODE: dict[str, str] = {}
_THREE: dict[str, str] = {}


def _tables() -> None:
    from Bio.Data.CodonTable import standard_dna_table
    from Bio.SeqUtils import seq3

    _CODE.update(standard_dna_table.forward_table)
    _CODE.update({c: "*" for c in standard_dna_table.stop_codons})
    _THREE.update({a: seq3(a, custom_map={"*": "Ter"}) for a in set(_CODE.values()) | {"X"}})


def translate(seq: str) -> str:
    """Amino acids of the whole codons of ``seq`` (standard nuclear code, Biopython's table; X = unknown)."""
    if not _CODE:
        _tables()
    if len(seq) == 3:  # one codon (every SNV)
        return _CODE.get(seq, "X")
    return "".join(_CODE.get(seq[i:i + 3], "X") for i in range(0, len(seq) - 2, 3))


def three(aa: str) -> str:
    if not _THREE:
        _tables()
    return "".join(_THREE.get(x, "Xaa") for x in aa)


def _nmd(m: TxModel, ci: int) -> bool:
    """SnpEff: a stop gained more than 50 bases before the last exon-exon junction (coding exons > 1)."""
    cs, ce = m.cds[0][0], m.cds[-1][1]
    coding_exons = [x for x in m.tx_exons if x[0] < ce and x[1] > cs]
    if len(coding_exons) <= 1:
        return False
    last = coding_exons[-1]
    junction = last[1] - 1 if m.minus else last[0]
    cj = m.cds_index(junction)
    if cj is None or cj <= 50:
        return False
    return ci <= cj - 51


def coding_effects(m: TxModel, kind: str, s: int, e: int, ref: str, alt: str) -> dict:
    """Effect types and ANN fields of a change hitting the CDS of ``m`` (0-based genomic [s, e))."""
    if kind == "snv":
        return snv_coding(m, s, alt)
    cseq = m.cds_seq
    n = len(cseq)
    aa_len = max(0, m.cds_len - 3) // 3
    if kind in ("snv", "mnv"):
        subs = {}
        for g, b in zip(range(s, e), alt):
            ci = m.cds_index(g)
            if ci is not None:
                subs[ci] = reverse_complement(b) if m.minus else b
        first = min(subs)
        k1, k2 = first // 3, max(subs) // 3
        if 3 * k2 + 3 > n:  # an incomplete last codon: SnpEff translates both as '?' and calls it synonymous
            return _fields(m, ["SYNONYMOUS_CODING"], first, aa_len, "", s, e)
        refc = cseq[3 * k1:3 * k2 + 3]
        altc = "".join(subs.get(3 * k1 + j, x) for j, x in enumerate(refc))
        ra, aa = translate(refc), translate(altc)
        effs = []
        for j in range(len(ra)):
            k = k1 + j
            rc, ac = refc[3 * j:3 * j + 3], altc[3 * j:3 * j + 3]
            if k == 0 and rc == "ATG":  # SnpEff: any change of an ATG start codon loses the start
                effs.append("START_LOST" if ac != "ATG" else "SYNONYMOUS_CODING")
            elif k == 0 and rc in START:
                effs.append(("SYNONYMOUS_START" if ra[j] == aa[j] else "NON_SYNONYMOUS_START") if ac in START
                            else "START_LOST")
            elif ra[j] == "*":
                effs.append("SYNONYMOUS_STOP" if aa[j] == "*" else "STOP_LOST")
            elif aa[j] == "*":
                effs.append("STOP_GAINED")
            else:
                effs.append("SYNONYMOUS_CODING" if ra[j] == aa[j] else "NON_SYNONYMOUS_CODING")
        # SnpEff reports a changed start codon as start_lost whatever the other codons of an MNV become
        eff = "START_LOST" if "START_LOST" in effs else min(effs, key=ORDER.__getitem__)
        out = _fields(m, [eff], first, aa_len, _hgvs_p_sub(eff, ra, aa, k1), s, e)
        out["codon_change"] = "".join(c.upper() if 3 * k1 + j in subs else c.lower() for j, c in enumerate(refc)) + \
            "/" + "".join(c.upper() if 3 * k1 + j in subs else c.lower() for j, c in enumerate(altc))
        out["aa_short"] = f"{ra}{k1 + 1}{aa}" if len(ra) == 1 else f"{ra}{k1 + 1}{aa}"
        if eff == "STOP_GAINED":
            out["nmd"] = _nmd(m, first)
        return out
    # insertions, deletions (coding bases only), delins: SnpEff's CodonChangeIns / CodonChangeDel
    if kind == "ins":
        h = m.cds_index(s)  # SnpEff places an insertion at the base after the VCF anchor (genome order)
        if h is None:
            h = m.cds_index(s - 1) - (0 if m.minus else -1) if m.cds_index(s - 1) is not None else 0
            h = min(h, n - 1)
        start_index = h % 3
        i = j = h + (1 if m.minus else 0)  # the inserted bases go before (+) or after (-) that base
        ins = reverse_complement(alt) if m.minus else alt
    else:
        cis = [c for c in (m.cds_index(g) for g in range(s, e)) if c is not None]
        if not cis:
            return {}
        i, j = min(cis), max(cis) + 1
        start_index = i % 3
        ins = reverse_complement(alt) if m.minus else alt
    # SnpEff counts the exonic bases a deletion removes (UTR included, intron not) for the frame
    net = len(ins) - (j - i) if kind != "del" else -sum(m.exon_index(g) >= 0 for g in range(s, e))
    k1, k2 = i // 3, max(i, j - 1) // 3
    if kind == "ins":
        k1 = k2 = h // 3
    refc = cseq[3 * k1:min(n, 3 * k2 + 3)]
    altc = cseq[3 * k1:i] + ins + cseq[j:min(n, 3 * k2 + 3)]
    ra, aa = translate(refc), translate(altc)
    effs = []
    if net % 3:
        effs.append("FRAME_SHIFT")
    elif kind == "ins":
        effs.append("CODON_INSERTION" if start_index == 0 or altc.startswith(refc) else
                    "CODON_CHANGE_PLUS_CODON_INSERTION")
    elif kind == "del":
        effs.append("CODON_DELETION" if start_index == 0 or refc.startswith(altc) else
                    "CODON_CHANGE_PLUS_CODON_DELETION")
    else:
        effs.append("CODON_CHANGE")
    if k1 == 0 and refc[:3] in START and altc[:3] not in START:
        effs.append("START_LOST")
    if "*" in ra and "*" not in aa:
        effs.append("STOP_LOST")
    elif "*" in aa and "*" not in ra:
        effs.append("STOP_GAINED")
    p = _hgvs_p_indel(effs[0], cseq, i, j, ins, k1, ra, aa)
    out = _fields(m, effs, i, aa_len, p, s, e)
    if "STOP_GAINED" in effs:
        out["nmd"] = _nmd(m, i)
    return out


def snv_coding(m: TxModel, s: int, base: str) -> dict:
    """``coding_effects`` of the SNV of base ``s`` to ``base`` (upper case): the substitution branch for one base,
    its codon and positions (what the ALTs of a site share) kept on the model for the site's next ALT."""
    got = m.last_snv
    if got is None or got[0] != s:
        ci = m.cds_index(s)
        k = ci // 3
        aa_len = max(0, m.cds_len - 3) // 3
        if 3 * k + 3 > len(m.cds_seq):  # an incomplete last codon: SnpEff calls it synonymous
            got = m.last_snv = (s, None, _fields(m, ["SYNONYMOUS_CODING"], ci, aa_len, "", s, s + 1))
        else:
            refc = m.cds_seq[3 * k:3 * k + 3]
            got = m.last_snv = (s, (ci, k, ci - 3 * k, refc, translate(refc)), _fields(m, [], ci, aa_len, "", s, s + 1))
    _, codon, fields = got
    if codon is None:
        return dict(fields, effects=list(fields["effects"]))
    ci, k, j, refc, ra = codon
    b = reverse_complement(base) if m.minus else base
    altc = refc[:j] + b + refc[j + 1:]
    aa = translate(altc)
    if k == 0 and refc == "ATG":  # SnpEff: any change of an ATG start codon loses the start
        eff = "START_LOST" if altc != "ATG" else "SYNONYMOUS_CODING"
    elif k == 0 and refc in START:
        eff = ("SYNONYMOUS_START" if ra == aa else "NON_SYNONYMOUS_START") if altc in START else "START_LOST"
    elif ra == "*":
        eff = "SYNONYMOUS_STOP" if aa == "*" else "STOP_LOST"
    elif aa == "*":
        eff = "STOP_GAINED"
    else:
        eff = "SYNONYMOUS_CODING" if ra == aa else "NON_SYNONYMOUS_CODING"
    out = dict(fields, effects=[eff], hgvs_p=_hgvs_p_sub(eff, ra, aa, k))
    out["codon_change"] = refc[:j].lower() + refc[j] + refc[j + 1:].lower() + "/" + \
        altc[:j].lower() + b + altc[j + 1:].lower()
    out["aa_short"] = f"{ra}{k + 1}{aa}"
    if eff == "STOP_GAINED":
        out["nmd"] = _nmd(m, ci)
    return out


def _fields(m: TxModel, effs: list[str], ci: int, aa_len: int, hgvs_p: str, s: int, e: int) -> dict:
    first_g = (e - 1 if m.minus else s) if e > s else s
    c = m.cdna(first_g)
    inside = (m.exon_index(s) >= 0 if e - s == 1 else all(m.exon_index(g) >= 0 for g in range(s, e))) \
        if e - s < 1000 else False
    return {"effects": effs, "hgvs_p": hgvs_p, "codon": ci // 3, "aa_len": aa_len,
            "cdna": f"{c}/{m.cdna_len}" if c is not None and inside else "",
            "cds": f"{ci + 1}/{m.cds_len}", "aa": f"{ci // 3 + 1}/{aa_len}"}


def _hgvs_p_sub(eff: str, ra: str, aa: str, k: int) -> str:
    if eff == "START_LOST":
        return "p.Met1?"
    if eff == "STOP_LOST":
        return f"p.Ter{k + 1 + ra.index('*')}{three(aa[ra.index('*')])}ext*?"
    if ra == aa:
        return f"p.{three(ra[0])}{k + 1}{three(aa[0])}"
    a = 0
    while a < len(ra) and ra[a] == aa[a]:
        a += 1
    ra, aa, k = ra[a:], aa[a:], k + a
    b = 0
    while b < len(ra) - 1 and ra[-1 - b] == aa[-1 - b]:
        b += 1
    ra, aa = ra[:len(ra) - b], aa[:len(aa) - b]
    if "*" in aa:
        aa = aa[:aa.index("*") + 1]
        return f"p.{three(ra[0])}{k + 1}*" if len(ra) == 1 else f"p.{three(ra)}{k + 1}{three(aa[:-1])}*"
    return f"p.{three(ra)}{k + 1}{three(aa)}"


def _hgvs_p_indel(eff: str, cseq: str, i: int, j: int, ins: str, k1: int, ra: str, aa: str) -> str:
    if eff == "FRAME_SHIFT":
        new = cseq[:i] + ins + cseq[j:]
        k = k1
        while 3 * k + 3 <= min(len(cseq), len(new)) and new[3 * k:3 * k + 3] == cseq[3 * k:3 * k + 3] and k < k1 + 20:
            k += 1
        return f"p.{three(translate(cseq[3 * k:3 * k + 3]) or 'X')}{k + 1}fs"
    a = 0
    while a < min(len(ra), len(aa)) and ra[a] == aa[a]:
        a += 1
    b = 0
    while b < min(len(ra), len(aa)) - a and ra[-1 - b] == aa[-1 - b]:
        b += 1
    rr, rn, k = ra[a:len(ra) - b], aa[a:len(aa) - b], k1 + a
    if not rr and rn and 0 < a < len(ra):
        return f"p.{three(ra[a - 1])}{k}_{three(ra[a])}{k + 1}ins{three(rn)}"
    if rr and not rn:
        return f"p.{three(rr)}{k + 1}del" if len(rr) == 1 else f"p.{three(rr[0])}{k + 1}_{three(rr[-1])}{k + len(rr)}del"
    if rr:
        return f"p.{three(rr)}{k + 1}delins{three(rn)}" if len(rr) == 1 else \
            f"p.{three(rr[0])}{k + 1}_{three(rr[-1])}{k + len(rr)}delins{three(rn)}"
    return ""


def utr_distance(m: TxModel, reg: str, hs: int, he: int) -> int:
    cs, ce = m.cds[0][0], m.cds[-1][1] - 1  # first and last CDS base, genome order
    if reg == "utr5":
        return cs - (he - 1) if not m.minus else hs - ce
    return hs - ce if not m.minus else cs - (he - 1)


def start_gained(m: TxModel, s: int, alt: str) -> bool:
    """SnpEff's check: an SNV makes an ATG in any frame over it in the spliced 5' UTR (measured: SnpEff 5.1
    flags ATG only, 961 of 961 UTR SNVs of the benchmark, though its codon table also lists CTG/TTG)."""
    utr = m.utr5_seq
    c = m.cdna(s)
    if c is None or c > len(utr):
        return False
    p = c - 1
    chars = list(utr)
    chars[p] = reverse_complement(alt) if m.minus else alt
    return any("".join(chars[i:i + 3]) == "ATG"
               for i in range(max(0, p - 2), p + 1) if i + 2 < len(chars))


def exon_loss(m: TxModel, k: int, hs: int, he: int, n_exons: int) -> str | None:
    """The effect type of a deletion [hs, he) that removes exon ``k`` (genome order) whole (``n_exons``: exons it
    touches): SnpEff's EXON_DELETED comes from its codon analysis, so only when the deletion reaches the CDS; an
    exon removed within a UTR is UTR_5_DELETED / UTR_3_DELETED (``Utr5prime``/``Utr3prime``:
    5_prime_UTR_truncation&exon_loss_variant); in a non-coding transcript only a structural deletion (> 10 bp)
    over more than one exon is an exon loss, MODIFIER (``CodonChangeDel.exonsNoncoding``), else None."""
    if not m.coding:
        return "EXON_DELETED_NONCODING" if he - hs > 10 and n_exons > 1 else None
    if any(m.cds_index(g) is not None for g in range(hs, he)):
        return "EXON_DELETED"
    return "UTR_5_DELETED" if m.region(m.exons[k][0]) == "utr5" else "UTR_3_DELETED"

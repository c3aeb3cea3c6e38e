"""The scored VCF: the input VCF with plantllm INFO fields per ALT (and SnpEff ANN/LOF/NMD), bgzipped and indexed.

pysam reads and formats each record (``str(record)``: htslib's own text of it, samples included, in C);
the PLLM_ fields and the ANN/LOF/NMD replacement are then spliced into that line's INFO text, following
htslib's rules for updating a record's INFO (a key already there keeps its place, a new one goes last, a
deleted one leaves), and the lines go through htslib's BGZF writer and tabix. Building a pysam record per
line and setting its fields one by one cost ~40 us per variant and copied genotypes sample by sample
(losing their phasing); this costs a few. Float values are formatted by htslib too, a batch at a time
(``float_texts``): the text is the same as pysam writes for a single record.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from plantllm.core.io import atomic_path, tabix_index

#: the PLLM_ INFO keys of a scored ALT, in the order ``RecordRows`` gives their texts (``PLLM_SCORE<i>`` follow
#: with several models); the optional ones are written only when some ALT of the record has a value
PLLM_KEYS = ("PLLM_CSQ", "PLLM_GENE", "PLLM_SCORE", "PLLM_METHOD", "PLLM_PCT_CLASS", "PLLM_CALIBRATED",
             "PLLM_PCT_NEUTRAL", "PLLM_PRIORITY", "PLLM_RANK")
OPTIONAL = ("PLLM_PCT_CLASS", "PLLM_CALIBRATED", "PLLM_PCT_NEUTRAL")
REPLACED = ("ANN", "LOF", "NMD")  # SnpEff's fields, replaced as a whole when the record is (re)annotated
_SCRATCH = []  # one record of a scratch header with a Float vector field: htslib's float formatting


def float_texts(values: np.ndarray, missing_nan: bool = False) -> list[str]:
    """htslib's text of float INFO values (as float32, the way pysam writes ``rec.info[k] = x``), many at once:
    one scratch record holds them all as one vector and htslib formats it. (htslib's ``kputd`` is not
    ``%g``; re-implementing it by hand would risk the last digit.) ``missing_nan``: NaN -> '.'."""
    import pysam

    if not _SCRATCH:
        h = pysam.VariantHeader()
        h.contigs.add("c")
        h.add_meta("INFO", items=[("ID", "V"), ("Number", "."), ("Type", "Float"), ("Description", "values")])
        _SCRATCH.append(h.new_record(contig="c", start=0, alleles=("A", "C")))
    values = np.asarray(values, dtype=np.float64)
    if not len(values):
        return []
    rec = _SCRATCH[0]
    rec.info["V"] = tuple(values.tolist())
    text = str(rec).rstrip("\n").split("\t")[7]
    del rec.info["V"]
    out = text[2:].split(",")
    if missing_nan:
        for i in np.flatnonzero(np.isnan(values)).tolist():
            out[i] = "."
    return out


def _splice(line: str, sets: list[tuple[str, str]], deletes: tuple = ()) -> str:
    """``line`` (a VCF record's text) with INFO updated as htslib updates a record: ``deletes`` removed, then each
    (key, text) of ``sets`` replacing that key in place when it is there, else appended (``text`` '' -> the key
    alone, as htslib writes an empty string)."""
    cols = line.split("\t", 8)
    info = cols[7]
    end = ""
    if len(cols) == 8:  # no FORMAT column: INFO ends the line
        info, end = info[:-1], "\n"
    old = [] if info == "." else info.split(";")
    new = [f"{k}={t}" if t else k for k, t in sets]
    if old and (deletes or any(k in info for k, _ in sets)):
        keys = [x.split("=", 1)[0] for x in old]
        slot = {k: i for i, k in enumerate(keys)}
        for k in deletes:
            if k in slot:
                old[slot[k]] = None  # htslib marks the slot: a later set of the key takes it again
        tail = []
        for (k, _), item in zip(sets, new):
            if k in slot:
                old[slot[k]] = item
            else:
                tail.append(item)
        old = [x for x in old if x is not None]
        new = tail
    cols[7] = (";".join(old + new) or ".") + end
    return "\t".join(cols)


def pllm_sets(keys: tuple, rows: list[tuple]) -> list[tuple[str, str]]:
    """(key, INFO text) of the PLLM_ fields of one record; ``rows``: per ALT its tuple of value texts."""
    if len(rows) == 1:
        texts, dots = rows[0], "."
    else:
        texts, dots = [",".join(c) for c in zip(*rows)], ",".join("." * len(rows))
    return [(k, t) for k, t in zip(keys, texts) if t != dots or k not in OPTIONAL]


def write_vcf(src: str | Path, locate, key_of, path: Path, method: str, model: str,
              models: list[str] | None = None, contigs: list[str] = (), annotations=None,
              snpeff_compatible: bool = False) -> Path:
    """The input VCF with plantllm INFO fields on every scored ALT (declared in the header), bgzipped with a
    tabix index (``.tbi``), atomically. ``key_of(i, record)`` gives the key ``locate.rows(key)`` finds a
    record's rows by: ALT -> the texts of that ALT's PLLM_ fields in ``PLLM_KEYS`` order (then
    ``PLLM_SCORE<i>`` with several models), read record by record (``variant_merge.RecordRows``), never all
    rows at once. With several models, ``PLLM_SCORE<i>`` carries model i's score (its path in the header).
    ``contigs``: the sequence names of the records (from the VCF's index), declared where the header lacks them.
    With ``annotations``, every record, scored or not, also gets SnpEff-standard ``ANN``/``LOF``/``NMD``
    (replacing an older ``ANN``): ``annotations.fields(key, record)`` gives each record's (ANN, LOF, NMD), from the
    shards' side files or computed there (``variant_ann.SideReader``); without it an ``ANN`` the input has is kept
    as it is (``--use-existing-annotation``). ``snpeff_compatible``: the ANN was made in SnpEff's
    reader convention (``snpeff_compat``), which the header says."""
    import pysam

    pysam.set_verbosity(0)
    vin = pysam.VariantFile(str(src))
    header = _header(vin, contigs, method, model, models, annotations is not None)
    if snpeff_compatible and annotations is not None:
        from plantllm.apps.snpeff_compat import HEADER_LINE

        header.add_line(HEADER_LINE)
    several = models is not None and len(models) > 1
    keys = PLLM_KEYS + (tuple(f"PLLM_SCORE{i}" for i in range(1, len(models) + 1)) if several else ())
    with atomic_path(path) as tmp:
        with pysam.BGZFile(str(tmp), "wb") as vout:
            # the header text as pysam's VCF writer gives it: that of its copy of the header (re-parsed: the
            # trailing blank of a description goes, e.g. SnpEff's ANN one)
            vout.write(str(header.copy()).encode())
            lines = []
            for i, rec in enumerate(vin, 1):
                line, alts = str(rec), rec.alleles[1:]
                # the text test first: asking pysam about every record costs more than the rest of the loop
                if alts and ("END" in line or "<" in line or "[" in line or "]" in line) and (
                        rec.rlen != len(rec.ref) or "END" in rec.info or _symbolic(rec)):
                    line = _with_end(header, rec)
                key = key_of(i, rec)
                found = locate.rows(key)
                sets = pllm_sets(keys, [found.get(a) or _missing(len(keys)) for a in alts]) \
                    if found and any(a in found for a in alts) else []
                fields = annotations.fields(key, rec) if annotations is not None else None
                if fields is not None:
                    sets += [(k, ",".join(v)) for k, v in zip(REPLACED, fields) if v]
                if sets or fields is not None:
                    line = _splice(line, sets, REPLACED if fields is not None else ())
                lines.append(line)
                if len(lines) >= 4096:
                    vout.write("".join(lines).encode())
                    lines = []
            vout.write("".join(lines).encode())
        tabix_index(tmp, path, preset="vcf")
    vin.close()
    return path


def _symbolic(rec) -> bool:
    return any(a.startswith("<") or "[" in a or "]" in a for a in rec.alts or ())


def _with_end(header, rec) -> str:
    """The text of a record whose END pysam settles when it builds a record (a symbolic ALT, an END, a REF
    shorter than the span: END from ``rec.stop``, first in INFO), as a record built from its fields writes it."""
    new = header.new_record(contig=rec.chrom, start=rec.start, stop=rec.stop, alleles=rec.alleles, id=rec.id,
                            qual=rec.qual, filter=rec.filter.keys(), info=dict(rec.info))
    head, cols = str(new).rstrip("\n").split("\t")[:8], str(rec).split("\t", 8)
    return "\t".join(head + cols[8:]) if len(cols) == 9 else "\t".join(head) + "\n"


_MISSING: dict[int, tuple] = {}


def _missing(n: int) -> tuple:
    """The value texts of an ALT without a row: '.' in every field."""
    return _MISSING.setdefault(n, (".",) * n)


def _header(vin, contigs: list[str], method: str, model: str, models: list[str] | None, ann: bool = False):
    from plantllm.apps.effects import ANN_HEADER, LOF_HEADER, NMD_HEADER

    header = vin.header.copy()
    if ann:  # SnpEff's own header text, so SnpSift and bcftools read the field
        for key, desc in (("ANN", ANN_HEADER), ("LOF", LOF_HEADER), ("NMD", NMD_HEADER)):
            if key in header.info:
                header.info.remove_header(key)
            header.add_meta("INFO", items=[("ID", key), ("Number", "."), ("Type", "String"), ("Description", desc)])
    for key, num, typ, desc in (
            ("PLLM_CSQ", "A", "String", "plantllm most severe consequence per ALT"),
            ("PLLM_GENE", "A", "String", "plantllm gene of that consequence"),
            ("PLLM_SCORE", "A", "Float", f"plantllm {method} score per ALT (model {Path(model).name}); "
                                         "negative = ALT less likely"),
            ("PLLM_PRIORITY", "A", "Float", "plantllm priority 0.5*impact + 0.5*evidence percentile"),
            ("PLLM_RANK", "A", "Integer", "plantllm rank of the ALT (1 = highest priority)"),
            ("PLLM_METHOD", "A", "String", "plantllm method that scored the ALT (llr, pll, clm, delta, embedding, "
                                          "track) or unscored:<reason>"),
            ("PLLM_PCT_CLASS", "A", "Float", "plantllm percentage of this run's scored ALTs of the same consequence "
                                             "class with a score at or below this one"),
            ("PLLM_CALIBRATED", "A", "Float", "plantllm calibrated score: score - the model's neutral background "
                                              "mean for its context and ALT (variants score --calibrated)"),
            ("PLLM_PCT_NEUTRAL", "A", "Float", "plantllm percentage of the model's neutral background at or below "
                                               "the calibrated score"),
            *[(f"PLLM_SCORE{i}", "A", "Float", f"plantllm score of model {i}: {m}")
              for i, m in enumerate(models or [], 1) if len(models) > 1]):
        header.add_meta("INFO", items=[("ID", key), ("Number", num), ("Type", typ), ("Description", desc)])
    # VCFs without ##contig lines are common (the maize set has none); pysam needs them to write records
    for c in contigs:
        if c not in header.contigs:
            header.contigs.add(c)
    return header

"""The inference engine: deterministic shards, parts written atomically with completion markers,
resume after a kill, many processes through the training launcher, and a merge.

A job lives in one folder (``<out>/.plantllm-job``): ``plan.json`` (what is computed, with a
fingerprint of its inputs and parameters), and per shard a part file (Arrow IPC), the side files
an application asks for (``sides``: e.g. the scored VCF's ANN strings of the shard's records), and a
marker written after them that records their sizes. A rerun of the same command finds the markers
and computes only the shards without one (or whose files lack the recorded sizes); a plan with another
fingerprint (other inputs or parameters) starts over. Shards are cut from the genome (chromosome
chunks), never from the number of processes, so any number of ranks computes the same parts and the
merge writes byte-identical outputs.

Ranks come from the environment of the launcher that started the process: ``RANK``/``WORLD_SIZE``
(DeepSpeed's launcher, torchrun) or ``SLURM_PROCID``/``SLURM_NTASKS`` (srun); a lone process is rank
0 of 1. Rank ``r`` of ``n`` takes the shards whose index is ``r`` modulo ``n``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterator

import pyarrow as pa

from plantllm.core import console as con
from plantllm.core.errors import PlantLLMError
from plantllm.core.io import atomic_path, atomic_write, fingerprint

JOB_DIR = ".plantllm-job"
PLAN_VERSION = 1


@dataclass(frozen=True)
class Shard:
    """One unit of work: a chunk ``[start, end)`` of one chromosome (canonical name)."""

    index: int
    chrom: str
    start: int
    end: int

    @property
    def name(self) -> str:
        return f"{self.index:06d}"

    def describe(self) -> str:
        return f"shard {self.name} ({self.chrom}:{self.start + 1:,}-{self.end:,})"


def genome_shards(regions: list[tuple[str, int, int]], size: int) -> list[Shard]:
    """Regions cut into chunks of at most ``size`` bases, in the order given (chromosome order)."""
    if size <= 0:
        raise PlantLLMError(f"shard size must be positive, got {size}")
    out: list[Shard] = []
    for chrom, s, e in regions:
        for a in range(s, e, size):
            out.append(Shard(len(out), chrom, a, min(e, a + size)))
    return out


def rank_world() -> tuple[int, int, int]:
    """(rank, world size, local rank) from the launcher's environment."""
    env = os.environ
    if "RANK" in env and "WORLD_SIZE" in env:
        return int(env["RANK"]), int(env["WORLD_SIZE"]), int(env.get("LOCAL_RANK", env["RANK"]))
    if "SLURM_PROCID" in env and "SLURM_NTASKS" in env:
        return int(env["SLURM_PROCID"]), int(env["SLURM_NTASKS"]), int(env.get("SLURM_LOCALID", 0))
    return 0, 1, 0


def input_fingerprint(paths: dict[str, str | Path | None]) -> dict[str, str | None]:
    """Identity of the input files (path, size, modification time) for the plan."""
    return {k: (f"{Path(v).resolve()}:{fingerprint(v)}" if v else None) for k, v in paths.items()}


class Job:
    """The folder of one engine run: its plan, its shards' parts and their markers.

    Parameters
    ----------
    out : path
        The command's output folder; the job lives in ``out/.plantllm-job``.
    kind : str
        What is computed (``variants``, ``scan``...): part of the plan.
    plan : dict
        Everything that determines the parts (input fingerprints, parameters); JSON-able.
    shards : list of Shard
    """

    def __init__(self, out: str | Path, kind: str, plan: dict, shards: list[Shard]):
        self.dir = Path(out) / JOB_DIR
        self.kind, self.shards = kind, shards
        body = {"version": PLAN_VERSION, "kind": kind, "plan": plan, "shards": [asdict(s) for s in shards]}
        self.fingerprint = hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()[:16]
        self.plan = {**body, "fingerprint": self.fingerprint}

    # ------------------------------------------------------------ plan
    def prepare(self) -> int:
        """Write the plan (or keep it when it is the same); returns how many shards are already done.
        A plan of other inputs or parameters is replaced and its parts removed."""
        self.dir.mkdir(parents=True, exist_ok=True)
        plan_file = self.dir / "plan.json"
        if plan_file.exists():
            try:
                old = json.loads(plan_file.read_text()).get("fingerprint")
            except (OSError, ValueError):
                old = None
            if old != self.fingerprint:
                con.info("inputs or parameters changed since the last run: starting over")
                # the old plan and its parts only: files the new plan made beside them (an application's
                # indexed copy of its input) belong to the new plan
                for p in [plan_file, *self.dir.glob("part-*")]:
                    shutil.rmtree(p) if p.is_dir() else p.unlink()
        if not plan_file.exists():
            with atomic_write(plan_file) as fh:
                json.dump(self.plan, fh, indent=1, default=str)
        done = sum(self.done(s) for s in self.shards)
        if done:
            con.info(f"resuming: {done:,} of {len(self.shards):,} shards are done and are not recomputed")
        return done

    # ------------------------------------------------------------ parts
    def part_path(self, shard: Shard) -> Path:
        return self.dir / f"part-{shard.name}.arrow"

    def marker_path(self, shard: Shard) -> Path:
        return self.dir / f"part-{shard.name}.done"

    def side_path(self, shard: Shard, side: str) -> Path:
        """A side file of a shard's part (e.g. ``ann.arrow``): written by the shard's work, covered by its marker."""
        return self.dir / f"part-{shard.name}.{side}"

    def done(self, shard: Shard) -> bool:
        """A shard is done when its marker names this plan and its part and side files have the recorded sizes."""
        m = self.marker_path(shard)
        if not m.exists():
            return False
        try:
            info = json.loads(m.read_text())
        except (OSError, ValueError):
            return False
        p = self.part_path(shard)
        sides = info.get("sides") or {}
        return info.get("plan") == self.fingerprint and p.exists() and p.stat().st_size == info.get("bytes") and \
            all(self.side_path(shard, k).exists() and self.side_path(shard, k).stat().st_size == n
                for k, n in sides.items())

    def write_part(self, shard: Shard, table: pa.Table, seconds: float, sides: tuple[str, ...] = ()) -> None:
        """The part, then its marker; both atomically, so a kill leaves either nothing or a whole part. ``sides``:
        the side files already in place (``side_path``), whose sizes the marker records."""
        with self.part_writer(shard, sides) as part:
            part.write(table)
        self._mark(shard, part, seconds)

    @contextmanager
    def part_writer(self, shard: Shard, sides: tuple[str, ...] = ()) -> Iterator["PartWriter"]:
        """A part written batch by batch as its rows stream in (``part.write``), to a temporary file renamed into
        place when the block ends without error; a failure (or a kill) leaves no part. The caller then writes the
        marker (``Job.run`` does); ``part.meta`` (JSON-able) is recorded in it."""
        with atomic_path(self.part_path(shard)) as tmp:
            part = PartWriter(tmp, sides)
            try:
                yield part
            except BaseException:
                part.close(failed=True)
                raise
            part.close()

    def _mark(self, shard: Shard, part: "PartWriter", seconds: float) -> None:
        rank, world, _ = rank_world()
        with atomic_write(self.marker_path(shard)) as fh:
            json.dump({"plan": self.fingerprint, "rows": part.rows, "bytes": self.part_path(shard).stat().st_size,
                       "seconds": round(seconds, 3), "rank": rank, "world": world,
                       **({"sides": {k: self.side_path(shard, k).stat().st_size for k in part.sides}}
                          if part.sides else {}),
                       **({"meta": part.meta} if part.meta else {})}, fh)

    def marker(self, shard: Shard) -> dict:
        """What a finished shard's marker records (rows, bytes, seconds, rank, the application's ``meta``)."""
        return json.loads(self.marker_path(shard).read_text())

    def read_part(self, shard: Shard) -> pa.Table:
        """A part, memory-mapped (the merge holds one at a time)."""
        with pa.memory_map(str(self.part_path(shard)), "r") as src:
            return pa.ipc.open_file(src).read_all()

    def part_batches(self, shard: Shard, columns: list[str] | None = None) -> Iterator[pa.RecordBatch]:
        """A part's record batches, one at a time, read (not memory-mapped: a batch read leaves no resident pages
        behind, so a merge over many parts stays in the memory of one batch); ``columns``: only those are read."""
        with pa.OSFile(str(self.part_path(shard)), "rb") as src:
            reader = pa.ipc.open_file(src)
            if columns is not None:
                names = reader.schema.names
                reader = pa.ipc.open_file(src, options=pa.ipc.IpcReadOptions(
                    included_fields=[names.index(c) for c in columns]))
            for b in range(reader.num_record_batches):
                yield reader.get_batch(b)

    def parts(self) -> Iterator[tuple[Shard, pa.Table]]:
        for s in self.shards:
            yield s, self.read_part(s)

    # ------------------------------------------------------------ running
    def todo(self, rank: int, world: int) -> list[Shard]:
        return [s for s in self.shards if s.index % world == rank and not self.done(s)]

    def run(self, work: Callable[[Shard], pa.Table], label: str) -> int:
        """Compute this rank's shards that are not done; returns how many were computed. A work function with
        ``sides`` (names of side files, e.g. ``("ann.arrow",)``) is called ``work(shard, {side: temporary path})``
        and writes them there; each is renamed into place when the work returns, before the part and its marker.
        A work function with ``streams = True`` writes its part itself, batch by batch: it is called
        ``work(shard, part)`` (or ``work(shard, part, sides)``) with a ``PartWriter`` and returns nothing."""
        rank, world, _ = rank_world()
        todo = self.todo(rank, world)
        where = f" (rank {rank} of {world})" if world > 1 else ""
        for shard in con.track(todo, f"shards of {label}{where}", total=len(todo), unit="shards"):
            t0 = time.time()
            sides = tuple(getattr(work, "sides", ()))
            try:
                with ExitStack() as stack:  # side files: temporary until the work returns, then renamed into place
                    if getattr(work, "streams", False):  # the part written as it streams in (renamed last)
                        part = stack.enter_context(self.part_writer(shard, sides))
                    tmp = {k: stack.enter_context(atomic_path(self.side_path(shard, k))) for k in sides}
                    if getattr(work, "streams", False):
                        work(shard, part, tmp) if sides else work(shard, part)
                    else:
                        table = work(shard, tmp) if sides else work(shard)
            except PlantLLMError:
                raise
            except Exception as e:  # an unexpected failure: name the shard and its input, keep the others
                raise PlantLLMError(f"{shard.describe()} failed: {type(e).__name__}: {e}",
                                    fix="rerun with --debug for the traceback; finished shards are kept") from e
            if getattr(work, "streams", False):
                self._mark(shard, part, time.time() - t0)
            else:
                self.write_part(shard, table, time.time() - t0, sides)
        return len(todo)

    def execute(self, make_work: Callable[[], Callable[[Shard], pa.Table]], label: str, *, worker: str,
                nproc: int = 1, hostfile: str | Path | None = None) -> bool:
        """Compute the job's shards: in this process (a lone process, or one task of several under srun), or as
        ``nproc`` ranks per host started through the launcher running ``python -m worker``. Returns True when
        this process merges: every shard is then done. ``make_work`` builds the shard function (a model is
        loaded only where shards are computed)."""
        if nproc > 1 or hostfile:
            launch_ranks(worker, ["--job", str(self.dir)], nproc, hostfile)
            return True
        self.run(make_work(), label)
        if rank_world()[0] != 0:
            return False
        self.wait_for_all()
        return True

    def complete(self, make_work: Callable[[], Callable[[Shard], pa.Table]], label: str,
                 merge: Callable[[float], dict], *, worker: str, nproc: int = 1,
                 hostfile: str | Path | None = None) -> dict:
        """The whole run of an application on the engine: ``execute`` the shards, then, in the process that
        merges, ``merge(seconds of the shards' work)`` writes the outputs and returns the summary, which is
        written atomically to ``<out>/summary.json`` and returned. Another rank under srun returns
        ``{"rank": r, "world": n}`` (rank 0 merges)."""
        t0 = time.time()
        rank, world, _ = rank_world()
        if not self.execute(make_work, label, worker=worker, nproc=nproc, hostfile=hostfile):
            return {"rank": rank, "world": world}
        summary = merge(time.time() - t0)
        with atomic_write(self.dir.parent / "summary.json") as fh:
            json.dump(summary, fh, indent=2, default=str)
        return summary

    def wait_for_all(self, timeout: float = 7 * 24 * 3600, poll: float = 2.0) -> None:
        """Rank 0 under srun: wait until every shard of the plan has its marker."""
        t0 = time.time()
        while not all(self.done(s) for s in self.shards):
            if time.time() - t0 > timeout:
                missing = [s.describe() for s in self.shards if not self.done(s)][:3]
                raise PlantLLMError(f"shards not finished after {timeout:.0f} s: {', '.join(missing)}")
            time.sleep(poll)

    def missing(self) -> list[Shard]:
        return [s for s in self.shards if not self.done(s)]


class PartWriter:
    """The Arrow IPC file of one part, written batch by batch (``Job.part_writer``); the schema is the first
    batch's. ``meta``: what the application records in the shard's marker (e.g. counts known at its end)."""

    def __init__(self, path: Path, sides: tuple[str, ...] = ()):
        self.path, self.sides = Path(path), sides
        self.rows, self.batches, self.meta = 0, 0, {}
        self._sink = self._writer = None

    def write(self, data: "pa.RecordBatch | pa.Table") -> None:
        if self._writer is None:
            self._sink = pa.OSFile(str(self.path), "wb")
            self._writer = pa.ipc.new_file(self._sink, data.schema)
        if isinstance(data, pa.Table):
            self._writer.write_table(data)
            self.batches += len(data.to_batches())
        else:
            self._writer.write_batch(data)
            self.batches += 1
        self.rows += data.num_rows

    def close(self, failed: bool = False) -> None:
        if self._writer is not None:
            self._writer.close()
            self._sink.close()
            self._writer = None
        elif not failed and not self.path.exists():
            raise PlantLLMError(f"no batch was written to the part {self.path.name}, not even an empty one")


def launcher_command(module: str, args: list[str], nproc: int, hostfile: str | Path | None = None) -> list[str]:
    """``deepspeed [--hostfile H] --num_gpus N --module M ARGS``: the one launcher of training and inference
    (on a machine without GPUs it starts N CPU processes)."""
    import shutil as _shutil
    import sys

    exe = _shutil.which("deepspeed") or str(Path(sys.executable).with_name("deepspeed"))
    return [exe] + (["--hostfile", str(hostfile)] if hostfile else []) + [
        "--num_gpus", str(nproc), "--module", module] + args


def launch_ranks(module: str, args: list[str], nproc: int, hostfile: str | Path | None = None) -> None:
    """Run ``python -m module args`` as ``nproc`` ranks per host through the launcher, and wait for them."""
    import subprocess

    rc = subprocess.call(launcher_command(module, args, nproc, hostfile))
    if rc:
        raise PlantLLMError(f"{nproc} ranks of {module} exited with status {rc}",
                            fix="see the ranks' messages above; finished shards are kept, rerun to resume")

"""Bulk anonymisation on Ray Data, for data lakes that outgrow one machine.

The workers run exactly the pure functions of the single-process path
(``anonymise.redact_text`` for ``confida redact``, ``anonymise.anonymise_record`` for the
training export), with the same policy and the same key passed in, and the dataset keeps its
row order; so the output is the same as the local one for the same input and key, which the
tests check.

Ray is an optional extra (``pip install confida[ray]``). Without a running cluster
(``RAY_ADDRESS`` unset and none started by the caller) a local one is started with the given
number of CPUs. Plaintext crosses Ray's object store: run the cluster where the data already
lives, inside the same trust boundary.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from confida.errors import BadInput
from confida.export.anonymise import FieldRule, anonymise_record, redact_text
from confida.pii import Policy

FORMATS = ("jsonl", "parquet")


def _ray() -> Any:
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise BadInput(
            "the Ray engine needs the ray extra: pip install 'confida[ray]'"
        ) from None
    return ray


def ensure_cluster(num_cpus: int | None = None) -> Any:
    """Connect to the running cluster, or start a local one; rows keep their order."""
    ray = _ray()
    if not ray.is_initialized():
        ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False,
                 configure_logging=False)
    ctx = ray.data.DataContext.get_current()
    ctx.execution_options.preserve_order = True
    ctx.enable_progress_bars = False
    return ray


# --- confida redact --engine ray ----------------------------------------------------------------


def _redact_batch(batch: Any, *, field: str, policy: dict[str, Any],
                  hash_key: bytes | None) -> Any:
    """One Arrow batch: the text column replaced by ``redact_text`` of each value."""
    import pyarrow as pa

    pol = Policy.from_dict(policy)
    if field not in batch.column_names:
        return batch
    col = batch.column(field).to_pylist()
    new = [redact_text(v, pol, hash_key) if isinstance(v, str) else v for v in col]
    idx = batch.column_names.index(field)
    return batch.set_column(idx, field, pa.array(new, type=pa.string()))


def input_format(paths: Sequence[str]) -> str:
    """jsonl or parquet, from the file names (a directory: from the files in it)."""
    names: list[str] = []
    for p in paths:
        local = Path(p)
        if "://" not in p and local.is_dir():
            names += [c.name for c in local.iterdir() if c.is_file()]
        else:
            names.append(p)
    if names and all(n.endswith((".parquet", ".pq")) for n in names):
        return "parquet"
    if names and all(n.endswith((".jsonl", ".ndjson", ".json")) for n in names):
        return "jsonl"
    raise BadInput("input: give .jsonl/.ndjson or .parquet files (or a directory of one kind)")


def redact_dataset(
    inputs: Sequence[str],
    out_dir: str,
    policy: Policy,
    *,
    field: str = "text",
    hash_key: bytes | None = None,
    workers: int = 2,
    out_format: str | None = None,
) -> dict[str, Any]:
    """Read JSONL or Parquet (local paths or any pyarrow filesystem URI), redact, write.

    Returns counts only. The output directory gets Ray's part files in the input's format
    (or ``out_format``).
    """
    fmt = input_format(inputs)
    out_fmt = out_format or fmt
    if out_fmt not in FORMATS:
        raise BadInput(f"--format: choose from {', '.join(FORMATS)}")
    if workers < 1:
        raise BadInput("--workers must be at least 1")
    ray = ensure_cluster()
    paths = list(inputs)
    try:
        ds = (ray.data.read_parquet(paths) if fmt == "parquet"
              else ray.data.read_json(paths, lines=True))
    except (FileNotFoundError, OSError) as exc:
        raise BadInput(f"input: cannot read {', '.join(paths)} ({type(exc).__name__})") from None
    ds = ds.map_batches(
        _redact_batch, batch_format="pyarrow", batch_size=1024,
        compute=ray.data.TaskPoolStrategy(size=workers),
        fn_kwargs={"field": field, "policy": policy.to_dict(), "hash_key": hash_key},
    )
    if out_fmt == "parquet":
        ds.write_parquet(out_dir)
    else:
        ds.write_json(out_dir, force_ascii=False)
    files = sorted(p.name for p in Path(out_dir).glob("*")) if "://" not in out_dir else []
    return {"format": out_fmt, "files": len(files), "out": out_dir}


# --- training export on Ray ---------------------------------------------------------------------


def _anonymise_batch(batch: dict[str, Any], *, rules: dict[str, dict[str, FieldRule]],
                     key: bytes) -> dict[str, Any]:
    import numpy as np

    policies = {
        kind: {f: Policy.from_dict(r.policy) for f, r in kr.items() if r.how == "text"}
        for kind, kr in rules.items()
    }
    out = []
    for kind, raw in zip(batch["kind"], batch["data"], strict=True):
        fields = anonymise_record(json.loads(raw), rules[kind], key, policies[kind])
        out.append(json.dumps(fields, ensure_ascii=False))
    return {"out": np.array(out, dtype=object)}


def ray_anonymiser(workers: int = 2, batch_size: int = 500) -> Any:
    """An ``Anonymiser`` for ``export_training`` that runs on Ray with ``workers`` tasks."""
    if workers < 1:
        raise BadInput("--workers must be at least 1")

    def anonymiser(items: list[tuple[str, dict[str, Any]]],
                   rules: dict[str, dict[str, FieldRule]], key: bytes) -> list[dict[str, Any]]:
        if not items:
            return []
        ray = ensure_cluster()
        ds = ray.data.from_items(
            [{"kind": k, "data": json.dumps(d, ensure_ascii=False)} for k, d in items],
            override_num_blocks=max(workers, len(items) // batch_size or 1),
        )
        ds = ds.map_batches(
            _anonymise_batch, batch_format="numpy", batch_size=batch_size,
            compute=ray.data.TaskPoolStrategy(size=workers),
            fn_kwargs={"rules": rules, "key": key},
        )
        return [json.loads(r["out"]) for r in ds.take_all()]

    return anonymiser

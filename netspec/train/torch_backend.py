"""Runs a generated PyTorch module: device, threads, checkpoints without pickle, resume."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from netspec.train import atomic
from netspec.train.backend import Init
from netspec.train.checkpoints import Keeping
from netspec.train.context import RunContext, TrainError, load_module
from netspec.train.distributed import World
from netspec.train.figures import tidy
from netspec.train.nonfinite import check_epoch, skip_reporter


def available_devices() -> list[str]:
    devices = ["cpu"]
    devices += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        devices.append("mps")
    return devices


def check_device(requested: str) -> str:
    """The device a request names; an absent one is a TrainError naming those present."""
    return str(select_device(requested))


def versions() -> dict[str, Any]:
    """The framework's versions, for run.json."""
    return {
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
    }


def describe_device(requested: str) -> dict[str, Any]:
    """The device a run takes, as the plan line and run.json state it."""
    from netspec.train.doctor import cpu_name, torch_missing_gpu

    device = select_device(requested)
    info: dict[str, Any] = {"device": str(device)}
    if device.type == "cuda":
        properties = torch.cuda.get_device_properties(device)
        info["device_name"] = properties.name
        info["description"] = f"{device} ({properties.name}, {properties.total_memory / 2**30:.1f} GiB)"
    elif device.type == "mps":
        info["description"] = "mps (Apple GPU)"
    else:
        info["device_name"] = cpu_name()
        info["description"] = f"cpu ({info['device_name']})"
    if requested == "auto" and device.type == "cpu":
        info["why_not_gpu"] = torch_missing_gpu(brief=True)
    return info


def device_free_bytes(requested: str) -> int | None:
    """Free memory of a GPU (the in-memory pipeline's budget); None for the CPU."""
    device = select_device(requested)
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    return None


def check_precision(precision: str, requested: str) -> None:
    """bf16 needs a GPU that computes in it (Ampere or newer); a TrainError before training."""
    device = select_device(requested)
    if precision == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        name = torch.cuda.get_device_name(device)
        raise TrainError(
            f"precision bf16 needs a GPU with bfloat16 support; {name} has none",
            hint="use precision = fp16 (with loss scaling) on this GPU, or fp32",
        )


def select_device(requested: str) -> torch.device:
    """`auto` takes CUDA, then MPS, then the CPU; an absent device is an error naming those present."""
    devices = available_devices()
    if requested == "auto":
        for prefix in ("cuda", "mps"):
            for device in devices:
                if device.startswith(prefix):
                    return torch.device(device)
        return torch.device("cpu")
    name = "cuda:0" if requested == "cuda" else requested
    if name not in devices:
        raise TrainError(
            f"device '{requested}' is not available to PyTorch here",
            hint="available: " + ", ".join(devices) + " (or --device auto)",
        )
    return torch.device(name)


# --------------------------------------------------------------------------- torchrun


def join(requested: str, world: World, sync_batchnorm: bool = False) -> str:
    """Join torchrun's process group (the generated module's own `setup_distributed`, from
    the snippet it is copied from); returns this worker's device."""
    from netspec.codegen.snippets.torch_distributed import setup_distributed, worker_device

    device = select_device(requested)
    if device.type == "cuda" and world.local_workers > torch.cuda.device_count():
        raise TrainError(
            f"{world.local_workers} workers on this machine but {torch.cuda.device_count()} GPUs",
            hint="start one worker per GPU (--devices / --nproc-per-node), or --device cpu",
        )
    device = worker_device(device)
    check_sync_batchnorm(sync_batchnorm, str(device))
    setup_distributed(device)
    return str(device)


def check_sync_batchnorm(sync_batchnorm: bool, device: str) -> None:
    """PyTorch's SyncBatchNorm runs on CUDA only: a TrainError before any worker starts."""
    if sync_batchnorm and not device.startswith("cuda"):
        raise TrainError(
            "sync_batchnorm = true needs GPUs: PyTorch's SyncBatchNorm runs on CUDA only",
            hint="leave it out on CPUs: each worker normalizes with its share's statistics",
        )


def peer_failure(error: BaseException) -> str | None:
    """What a collective's failure says when another worker stopped (gloo or NCCL lost its
    peer, or timed out waiting for it); None for any other error."""
    if isinstance(error, torch.distributed.DistError) or (
        isinstance(error, RuntimeError)
        and any(word in str(error) for word in ("gloo", "Gloo", "NCCL", "Connection", "timed out"))
    ):
        return str(error).strip().splitlines()[0][:200]
    return None


def leave() -> None:
    """Leave torchrun's process group at the end of a run."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


# --------------------------------------------------------------------------- checkpoints


def save_checkpoint(
    path: Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    meta: dict[str, Any],
    scaler: Any = None,
) -> None:
    """Model and optimizer tensors to safetensors, everything else to JSON beside it."""
    tensors = {
        f"model.{k}": v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()
    }
    state = optimizer.state_dict()
    scalars: dict[str, Any] = {}
    for index, values in state["state"].items():
        for key, value in values.items():
            if torch.is_tensor(value):
                tensors[f"optimizer.{index}.{key}"] = value.detach().to("cpu").contiguous()
            else:
                scalars[f"{index}.{key}"] = value
    atomic.write_with(path.with_suffix(".safetensors"), lambda tmp: save_file(tensors, str(tmp)))
    meta = {
        **meta,
        "optimizer": {"param_groups": state["param_groups"], "scalars": scalars},
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "scaler": scaler.state_dict() if scaler is not None else None,
    }
    # the JSON, written last, marks the checkpoint complete; each file is whole (atomic.py)
    atomic.write_text(path.with_suffix(".json"), json.dumps(meta, indent=1))


def load_weights(
    model: torch.nn.Module, path: Path, prefix: str = "model."
) -> dict[str, torch.Tensor]:
    tensors = load_file(str(path), device="cpu")
    weights = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
    if not weights:  # weights.safetensors: the plain state dict, without a checkpoint's prefix
        weights = dict(tensors)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(weights))
    unexpected = sorted(set(weights) - set(expected))
    wrong = [
        k for k in expected if k in weights and tuple(weights[k].shape) != tuple(expected[k].shape)
    ]
    if missing or unexpected or wrong:
        details = []
        if missing:
            details.append("missing " + ", ".join(missing[:4]))
        if unexpected:
            details.append("unexpected " + ", ".join(unexpected[:4]))
        if wrong:
            k = wrong[0]
            details.append(
                f"{k} is {list(weights[k].shape)} in the file, {list(expected[k].shape)} in the model"
            )
        raise TrainError(
            f"{path} does not hold this spec's weights: " + "; ".join(details),
            hint="weights load only into the spec they were trained from",
        )
    model.load_state_dict(weights)
    return tensors


def load_checkpoint(
    path: Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    scaler: Any = None,
) -> dict[str, Any]:
    tensors = load_weights(model, path.with_suffix(".safetensors"))
    meta = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith("optimizer."):
            _, index, name = key.split(".", 2)
            state.setdefault(int(index), {})[name] = value
    for key, value in meta["optimizer"]["scalars"].items():
        index, name = key.split(".", 1)
        state.setdefault(int(index), {})[name] = value
    groups = meta["optimizer"]["param_groups"]
    for group in groups:
        if isinstance(group.get("betas"), list):
            group["betas"] = tuple(group["betas"])
    optimizer.load_state_dict({"state": state, "param_groups": groups})
    if scheduler is not None and meta.get("scheduler") is not None:
        scheduler.load_state_dict(meta["scheduler"])
    if scaler is not None and meta.get("scaler") is not None:
        scaler.load_state_dict(meta["scaler"])
    return meta


# --------------------------------------------------------------------------- the run


def _tensor(array: Any, device: torch.device) -> Any:
    """A tensor on the device, or a tuple of them for a tuple of arrays (several inputs)."""
    if array is None:
        return None
    if isinstance(array, tuple):
        return tuple(_tensor(part, device) for part in array)
    return torch.from_numpy(np.ascontiguousarray(array)).to(device)


def _split_data(split: Any, plan: Any, device: torch.device) -> tuple[Any, Any]:
    """A split as the generated fit/evaluate/predict take it: tensors on the device (in
    memory), or the split itself, a batch source (streamed)."""
    if plan.pipeline == "stream":
        return split, None
    x, y = split.arrays()
    return _tensor(x, device), _tensor(y, device)


def run(ctx: RunContext, init: Init) -> dict[str, Any]:
    config = ctx.config
    chief = ctx.world.chief
    device = torch.device(ctx.worker_device) if ctx.worker_device else select_device(ctx.device)
    torch.set_num_threads(ctx.threads)
    module = load_module(ctx.module_path, ctx.model.name, ctx.module_source)
    torch.manual_seed(config.seed)
    model = module.prepare(module.build_model(), device)
    optimizer = module.build_optimizer(model.parameters())
    scheduler = module.build_scheduler(optimizer) if hasattr(module, "build_scheduler") else None
    scaler = torch.amp.GradScaler(device.type) if config.precision == "fp16" else None
    history: dict[str, list[float]] = {}
    initial_epoch = 0
    if ctx.resume:
        initial_epoch = ctx.run.last_checkpoint()
        if initial_epoch:
            meta = load_checkpoint(
                ctx.run.checkpoint(initial_epoch, ""), model, optimizer, scheduler, scaler
            )
            history = meta["history"]
    elif ctx.init_from is not None:
        init(ctx, model)

    data, plan = ctx.data, ctx.plan
    x, y = _split_data(data.train, plan, device)
    validation = None
    if data.validation is not None:
        x_val, y_val = _split_data(data.validation, plan, device)
        validation = (x_val, y_val) if plan.pipeline == "memory" else x_val
    samples, batch = data.samples, config.batch_size
    steps = -(-samples // batch)
    every = max(steps // 25, 1)
    reporter = ctx.reporter
    reporter.start(ctx.info)
    if ctx.resume:
        reporter.message(ctx.run.resume_line(initial_epoch, config.epochs))
    timer = {"start": time.perf_counter()}
    epoch_seconds: list[float] = []

    share = ctx.world.workers  # the bar shows this worker's running loss
    keeping = Keeping.of(ctx.model)

    def on_step(step: int, sums: torch.Tensor) -> None:
        if step % every == 0 or step == steps - 1:
            done = min((step + 1) * batch, samples)
            reporter.step(step + 1, done, float(sums[0]) * share / done)

    def on_epoch_end(epoch: int, logs: dict[str, float]) -> bool:
        seconds = time.perf_counter() - timer["start"]
        logs = tidy(logs, ctx.model, lr_float32=False)
        check_epoch(logs, epoch + 1)  # weights gone non-finite at the last step: no checkpoint
        epoch_seconds.append(seconds)
        history_now = {k: [*history.get(k, []), v] for k, v in logs.items()}
        history.update(history_now)
        if chief:  # after the figures' all-reduce: every worker finished the epoch
            save_checkpoint(
                ctx.run.checkpoint(epoch + 1, ""),
                model,
                optimizer,
                scheduler,
                {"epoch": epoch + 1, "history": history, "workers": ctx.world.workers},
                scaler,
            )
            keeping.after_epoch(ctx.run, history)
            ctx.run.write_history(history)
        reporter.end_epoch(epoch, config.epochs, logs, seconds)
        if epoch + 1 < config.epochs:
            reporter.start_epoch(epoch + 1, config.epochs, steps, samples)
        timer["start"] = time.perf_counter()
        return False

    kwargs: dict[str, Any] = {}
    if config.on_nan == "skip":
        kwargs["on_skip"] = skip_reporter(reporter)
    if scheduler is not None:
        kwargs["scheduler"] = scheduler
    if scaler is not None:
        kwargs["scaler"] = scaler
    if initial_epoch < config.epochs:
        reporter.start_epoch(initial_epoch, config.epochs, steps, samples)
    timer["start"] = time.perf_counter()
    history = {k: list(v) for k, v in history.items()}
    module.fit(
        model,
        x,
        y,
        epochs=config.epochs,
        batch_size=batch,
        validation_data=validation,
        shuffle=config.shuffle,
        seed=config.seed,
        workers=plan.workers,
        optimizer=optimizer,
        initial_epoch=initial_epoch,
        history=dict(history),
        on_step=on_step if reporter.wants_steps else None,
        on_epoch_end=on_epoch_end,
        **kwargs,
    )
    saved = keeping.saved_epoch(history)
    if keeping.restore_best and initial_epoch:  # fit restores among the epochs it trained
        load_weights(model, ctx.run.checkpoint(saved, ".safetensors"))
    if chief:
        final = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
        atomic.write_with(ctx.run / "weights.safetensors", lambda tmp: save_file(final, str(tmp)))
    test = None
    if data.test is not None:
        x_test, y_test = _split_data(data.test, plan, device)
        test = tidy(module.evaluate(model, x_test, y_test, workers=plan.workers), ctx.model)
    return {
        "history": history,
        "test": test,
        "epoch_seconds": epoch_seconds,
        "saved_epoch": saved,
        "best": keeping.best_record(history),
    }


def _model(ctx: RunContext, weights: Path) -> tuple[Any, Any, torch.device]:
    device = select_device(ctx.device)
    torch.set_num_threads(ctx.threads)
    module = load_module(ctx.module_path, ctx.model.name, ctx.module_source)
    model = module.prepare(module.build_model(), device)
    load_weights(model, weights)
    return module, model, device


def evaluate_run(ctx: RunContext, weights: Path, split: Any) -> dict[str, float]:
    """The figures of a trained model on a split (a netspec.data.Split), in memory or
    streamed as the run's plan says."""
    module, model, device = _model(ctx, weights)
    x, y = _split_data(split, ctx.plan, device)
    return module.evaluate(model, x, y, workers=ctx.plan.workers)


def predict_run(ctx: RunContext, weights: Path, inputs: Any) -> Any:
    """The outputs for a split of inputs alone: an array, or a tuple of arrays, one per output,
    for several outputs."""
    module, model, device = _model(ctx, weights)
    x, _ = _split_data(inputs, ctx.plan, device)
    outputs = module.predict(model, x, workers=ctx.plan.workers)
    if isinstance(outputs, tuple):  # the loop over tuples: one tensor per output
        arrays = tuple(t.to("cpu").numpy() for t in outputs)
        return arrays if len(arrays) > 1 else arrays[0]
    return outputs.to("cpu").numpy()

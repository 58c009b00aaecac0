"""Eval sets that cannot measure anything are bad input, found when the manifest loads.

Items are the task's own (:meth:`gate.tasks.protocol.Task.read_items`: sentences, image
crops); a task whose eval file is a stream, not items (text generation reads a token stream),
returns None and is only checked for UTF-8 here.
"""

from __future__ import annotations

from typing import Any

from gate.errors import ConfigError

#: The largest share of an eval set that may repeat an earlier item. Repeats weigh one item
#: many times: 60 copies of one sentence turned an accuracy of 0.872 (FAIL) into 1.0 (PASS).
#: 5% leaves room for the odd natural repeat in a scraped set while no single item can steer
#: a mean by more than a few points.
MAX_DUPLICATE_SHARE = 0.05


def read_eval_items(loaded: Any, task: Any) -> list[str] | None:
    """The eval items of ``loaded``, refused when they cannot measure anything.

    Raises:
        ConfigError (at ``eval.data``): the file is not UTF-8 (the message gives the line);
            fewer distinct items than ``eval.min_items``; more than
            :data:`MAX_DUPLICATE_SHARE` of the items repeat an earlier one; or (for a task
            with labels, ``task.item_labels``) every item has the same label.
    """
    where = loaded.where("eval", "data")
    path = loaded.eval_path()
    try:
        items: list[str] | None = task.read_items(path)
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[: exc.start].count(b"\n") + 1
        raise ConfigError(f"eval data {path.name} line {line} is not UTF-8 text ({exc.reason} at byte "
                          f"{exc.start})", location=where) from None
    if items is None:
        return None
    distinct = len(set(items))
    repeats = len(items) - distinct
    if repeats > MAX_DUPLICATE_SHARE * len(items):
        top = max(set(items), key=items.count)
        raise ConfigError(
            f"eval set repeats items: {repeats} of {len(items)} repeat an earlier one (at most "
            f"{MAX_DUPLICATE_SHARE:.0%}); {top[:60]!r} appears {items.count(top)} times", location=where)
    if distinct < loaded.manifest.eval.min_items:
        raise ConfigError(
            f"eval set has {distinct} distinct items; the manifest asks for at least "
            f"{loaded.manifest.eval.min_items}", location=where)
    labels_of = getattr(task, "item_labels", None)
    if labels_of is not None and len(items) > 1:
        labelled = [labels_of(item) for item in items if labels_of(item) != "-"]  # "-": fidelity only
        labels = set(labelled)
        if len(labels) == 1 and len(labelled) > 1:
            raise ConfigError(f"degenerate label set: all {len(labelled)} labelled eval items have labels "
                              f"{next(iter(labels))!r}; accuracy on it cannot tell a model that "
                              f"predicts one class from one that classifies", location=where)
    return items


def check_eval_paths(loaded: Any) -> None:
    """``eval.data``, ``eval.labels`` and ``eval.calibration`` exist and stay inside the
    repository; a folder is data only for task ``tensor`` (images), and labels and calibration
    files belong to that task.

    Raises:
        ConfigError: at the manifest key.
    """
    from gate.config.sources import inside

    m = loaded.manifest
    for key in ("data", "labels", "calibration"):
        rel = getattr(m.eval, key)
        if rel is None:
            continue
        where = loaded.where("eval", key)
        path = inside(loaded.folder / rel, loaded.repo_root, f"eval {key}", where, shown=rel)
        folder_ok = m.task == "tensor" and key != "labels" and path.is_dir()
        if not (path.is_file() or folder_ok):
            raise ConfigError(f"eval {key} {rel!r} does not exist", location=where)
    if m.source.factory is not None and not (m.task == "tensor" and m.source.format == "torch"):
        raise ConfigError("source.factory belongs to a torch source of task tensor (the other tasks build their "
                          "own modules)", location=loaded.where("source", "factory"))
    if m.task != "tensor" and (m.eval.labels or m.eval.calibration):
        raise ConfigError("eval.labels and eval.calibration belong to task tensor (the other tasks read labels "
                          "from their eval lines and calibrate on eval items)", location=loaded.where("eval"))


def check_eval(loaded: Any) -> None:
    """:func:`check_eval_paths`, then :func:`read_eval_items` with the manifest's task module
    when the task has item lines, or for task ``tensor`` the data files against the model's
    inputs (:func:`gate.config.tensordata.check_tensor_eval`).

    Raises:
        ConfigError: see those functions.
    """
    from gate.tasks import get_task

    check_eval_paths(loaded)
    if loaded.manifest.task == "tensor":
        from gate.config.tensordata import check_tensor_eval

        check_tensor_eval(loaded, loaded.manifest.eval.min_items, MAX_DUPLICATE_SHARE)
        return
    read_eval_items(loaded, get_task(loaded.manifest.task))

"""Exporters: SavedModels written at evaluation time by ``train_and_evaluate``.

Each export goes to ``<model_dir>/export/<exporter name>/<timestamp>``.

Example:
    >>> receiver = export.build_parsing_serving_input_receiver_fn({})
    >>> LatestExporter("latest", receiver, exports_to_keep=2).name
    'latest'
"""

from __future__ import annotations

import glob
import logging
import os
from collections.abc import Callable
from typing import Any

import tensorflow as tf

from components.trainer.estimator import export
from components.trainer.estimator.errors import EstimatorSpecError

logger = logging.getLogger(__name__)


class Exporter:
    """The interface: a name and ``export(...)``, called after each evaluation."""

    @property
    def name(self) -> str:
        """Names the export folder; unique among an EvalSpec's exporters."""
        raise NotImplementedError

    def export(
        self,
        estimator,
        export_path: str,
        checkpoint_path: str,
        eval_result: dict,
        is_the_final_export: bool,
    ) -> bytes | None:
        """Exports (or not) the model of ``checkpoint_path``; returns the directory."""
        raise NotImplementedError


class _SavedModelExporter(Exporter):
    def __init__(
        self,
        name: str,
        serving_input_receiver_fn: Callable,
        assets_extra: dict | None = None,
        as_text: bool = False,
        exports_to_keep: int | None = 5,
    ):
        if not name:
            raise EstimatorSpecError(f"{type(self).__name__}: name must be non-empty.")
        if serving_input_receiver_fn is None:
            raise EstimatorSpecError(
                f"{type(self).__name__}({name!r}): serving_input_receiver_fn is required."
            )
        if exports_to_keep is not None and exports_to_keep <= 0:
            raise EstimatorSpecError(
                f"{type(self).__name__}(exports_to_keep={exports_to_keep}): must be > 0 "
                "or None (keep all)."
            )
        self._name = name
        self._receiver_fn = serving_input_receiver_fn
        self._assets_extra = assets_extra
        self._exports_to_keep = exports_to_keep

    @property
    def name(self) -> str:
        return self._name

    def _export(self, estimator, export_path: str, checkpoint_path: str) -> bytes:
        path = estimator.export_saved_model(
            export_path,
            self._receiver_fn,
            assets_extra=self._assets_extra,
            checkpoint_path=checkpoint_path,
        )
        self._garbage_collect(export_path)
        return path

    def _garbage_collect(self, export_path: str) -> None:
        if self._exports_to_keep is None:
            return
        stamps = sorted(
            int(os.path.basename(p))
            for p in glob.glob(os.path.join(export_path, "*"))
            if os.path.basename(p).isdigit()
        )
        for stamp in stamps[: -self._exports_to_keep]:
            export.remove_export(os.path.join(export_path, str(stamp)))


class LatestExporter(_SavedModelExporter):
    """Exports after every evaluation, keeping the newest ``exports_to_keep``.

    Args:
        name: The export folder's name.
        serving_input_receiver_fn: See ``Estimator.export_saved_model``.
        assets_extra: See ``Estimator.export_saved_model``.
        as_text: Ignored.
        exports_to_keep: How many exports to keep; None keeps all.
    """

    def export(
        self, estimator, export_path, checkpoint_path, eval_result, is_the_final_export
    ):
        return self._export(estimator, export_path, checkpoint_path)


class FinalExporter(_SavedModelExporter):
    """Exports once, after the final evaluation.

    Args:
        name: The export folder's name.
        serving_input_receiver_fn: See ``Estimator.export_saved_model``.
        assets_extra: See ``Estimator.export_saved_model``.
        as_text: Ignored.
    """

    def __init__(
        self, name, serving_input_receiver_fn, assets_extra=None, as_text=False
    ):
        super().__init__(name, serving_input_receiver_fn, assets_extra, as_text, None)

    def export(
        self, estimator, export_path, checkpoint_path, eval_result, is_the_final_export
    ):
        if not is_the_final_export:
            return None
        return self._export(estimator, export_path, checkpoint_path)


def _loss_smaller(best_eval_result: dict, current_eval_result: dict) -> bool:
    """tf.estimator's default compare_fn: a smaller ``loss`` is better."""
    for result in (best_eval_result, current_eval_result):
        if not result or "loss" not in result:
            raise EstimatorSpecError(
                "BestExporter's default compare_fn needs 'loss' in the eval results."
            )
    return current_eval_result["loss"] < best_eval_result["loss"]


class BestExporter(_SavedModelExporter):
    """Exports when an evaluation is the best so far (by ``compare_fn``).

    The best so far survives restarts: on first use it is read from the eval
    summaries in ``<model_dir>/<event_file_pattern>``.

    Args:
        name: The export folder's name.
        serving_input_receiver_fn: See ``Estimator.export_saved_model``.
        event_file_pattern: Event files (relative to model_dir) with past results.
        compare_fn: ``compare_fn(best_eval_result, current_eval_result) -> bool``,
            True when current is better; default: smaller loss.
        assets_extra: See ``Estimator.export_saved_model``.
        as_text: Ignored.
        exports_to_keep: How many exports to keep; None keeps all.
    """

    def __init__(
        self,
        name: str = "best_exporter",
        serving_input_receiver_fn: Callable | None = None,
        event_file_pattern: str = "eval/*.tfevents.*",
        compare_fn: Callable[[dict, dict], bool] = _loss_smaller,
        assets_extra: dict | None = None,
        as_text: bool = False,
        exports_to_keep: int | None = 5,
    ):
        super().__init__(
            name, serving_input_receiver_fn, assets_extra, as_text, exports_to_keep
        )
        self._event_file_pattern = event_file_pattern
        self._compare_fn = compare_fn
        self._best: dict[str, Any] | None = None
        self._loaded = False

    def export(
        self, estimator, export_path, checkpoint_path, eval_result, is_the_final_export
    ):
        if not self._loaded:
            self._loaded = True
            self._best = self._best_from_events(estimator.model_dir, eval_result)
        if self._best is None or self._compare_fn(self._best, eval_result):
            self._best = dict(eval_result)
            return self._export(estimator, export_path, checkpoint_path)
        return None

    def _best_from_events(self, model_dir: str, current: dict) -> dict | None:
        best = None
        by_step: dict[int, dict] = {}
        for path in glob.glob(os.path.join(model_dir, self._event_file_pattern)):
            for event in tf.compat.v1.train.summary_iterator(path):
                for value in event.summary.value:
                    number = (
                        tf.make_ndarray(value.tensor)
                        if value.HasField("tensor")
                        else value.simple_value
                    )
                    by_step.setdefault(event.step, {})[value.tag] = float(number)
        for step, result in sorted(by_step.items()):
            if step == current.get("global_step"):
                continue
            try:
                if best is None or self._compare_fn(best, result):
                    best = result
            except (KeyError, EstimatorSpecError):
                continue
        return best

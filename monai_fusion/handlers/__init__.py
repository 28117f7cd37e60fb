# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""Ignite handlers for the bundle workflows: what MONAI's own handlers lack (macro classification metrics, reports,
plots, Grad-CAM, segmentation overlays, a Hausdorff distance that scores and counts empty predictions, atomic
checkpoints, a stop on a non-finite loss and per-epoch reseeding)."""

from __future__ import annotations

from .atomic_checkpoint import AtomicCheckpointSaver
from .classification_metrics import SCALAR_METRICS, ClassificationMetric, ClassificationMetrics, roc_curve
from .classification_report import ClassificationReportSaver
from .epoch_seed import ReseedEachEpoch, seed_for_epoch
from .gradcam import ChannelsLastGradCAM, GradCAMSaver
from .nonfinite_loss import NonFiniteLossError, StopOnNonFiniteLoss
from .plots import TrainingCurvesPlotter, plot_confusion_matrix, plot_roc_curves, pyplot_agg
from .segmentation_metrics import (
    EmptyAwareHausdorffDistance,
    EmptyAwareHausdorffDistanceMetric,
    EmptyPredictionCountMetric,
    EmptyPredictions,
    image_diagonal,
)
from .segmentation_overlays import SegmentationOverlaySaver
from .trained_checkpoint import CheckpointMismatchError, TrainedCheckpointLoader

# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""Ignite handlers for the bundle workflows: what MONAI's own handlers lack (macro classification metrics, reports,
plots, Grad-CAM and segmentation overlays)."""

from __future__ import annotations

from .classification_metrics import SCALAR_METRICS, ClassificationMetric, ClassificationMetrics, roc_curve
from .classification_report import ClassificationReportSaver
from .gradcam import ChannelsLastGradCAM, GradCAMSaver
from .plots import TrainingCurvesPlotter, plot_confusion_matrix, plot_roc_curves, pyplot_agg
from .segmentation_overlays import SegmentationOverlaySaver

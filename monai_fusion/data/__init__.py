# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#     http://www.apache.org/licenses/LICENSE-2.0
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.
"""Datasets: MONAI datalist builders with leak-free (grouped, stratified) splits, a catalogue of the public datasets
with downloads, validation before training, and a command line (``python -m monai_fusion.data``)."""

from __future__ import annotations

from .catalogue import (
    DATASET_CATALOGUE,
    PublicDatasetInfo,
    PublicDatasetResource,
    PublicDatasetUnavailableError,
    default_datalist_path,
    default_dataset_root,
    fetch_public_dataset,
    locate_public_dataset,
    monai_fusion_home,
)
from .cli import format_split_table, prepare_data_main
from .ct import (
    check_ct_datalist,
    check_ct_image,
    check_ct_label,
    checked_ct_studies,
    ct_geometry,
    list_ct_studies,
)
from .datalist import (
    DATALIST_SECTIONS,
    build_split_datalist,
    datalist_path_keys,
    infer_datalist_task,
    load_datalist_json,
    save_datalist_json,
    select_datalist_fold,
)
from .dermoscopy import (
    HAM10000_CLASSES,
    build_dermoscopy_rcm_datalist,
    build_ham10000_datalist,
    build_isic2018_task3_datalist,
    build_isic2019_datalist,
)
from .errors import (
    BUNDLE_DATA_HINT,
    DataErrorExit,
    DatasetError,
    DatasetNotFoundError,
    InvalidDatasetError,
    exit_on_data_error,
    format_data_error,
)
from .folders import (
    BREAKHIS_TUMOR_TYPES,
    KVASIR_CLASSES,
    build_breakhis_datalist,
    build_covid_ct_datalist,
    build_imagefolder_datalist,
    build_kermany_cxr_datalist,
    build_kvasir_datalist,
    covid_ct_source_id,
    kermany_patient_id,
    parse_breakhis_filename,
)
from .inputs import IMAGE_SUFFIXES, list_image_files
from .sampling import IMBALANCE_MODES, build_train_sampler, class_weights
from .segmentation import build_cvc_clinicdb_datalist, build_kvasir_seg_datalist
from .splits import GroupedStratifiedSplitter
from .validate import DatalistProblem, DatalistValidationError, inspect_image_file, validate_datalist

__all__ = [
    "check_ct_datalist",
    "check_ct_image",
    "check_ct_label",
    "checked_ct_studies",
    "ct_geometry",
    "list_ct_studies",
    "IMAGE_SUFFIXES",
    "list_image_files",
    "IMBALANCE_MODES",
    "build_train_sampler",
    "class_weights",
    "BREAKHIS_TUMOR_TYPES",
    "BUNDLE_DATA_HINT",
    "DataErrorExit",
    "DatasetError",
    "DatasetNotFoundError",
    "InvalidDatasetError",
    "datalist_path_keys",
    "default_datalist_path",
    "exit_on_data_error",
    "format_data_error",
    "infer_datalist_task",
    "load_datalist_json",
    "monai_fusion_home",
    "DATALIST_SECTIONS",
    "DATASET_CATALOGUE",
    "HAM10000_CLASSES",
    "KVASIR_CLASSES",
    "DatalistProblem",
    "DatalistValidationError",
    "GroupedStratifiedSplitter",
    "PublicDatasetInfo",
    "PublicDatasetResource",
    "PublicDatasetUnavailableError",
    "build_breakhis_datalist",
    "build_covid_ct_datalist",
    "build_cvc_clinicdb_datalist",
    "build_dermoscopy_rcm_datalist",
    "build_ham10000_datalist",
    "build_imagefolder_datalist",
    "build_isic2018_task3_datalist",
    "build_isic2019_datalist",
    "build_kermany_cxr_datalist",
    "build_kvasir_datalist",
    "build_kvasir_seg_datalist",
    "build_split_datalist",
    "covid_ct_source_id",
    "default_dataset_root",
    "fetch_public_dataset",
    "format_split_table",
    "inspect_image_file",
    "kermany_patient_id",
    "locate_public_dataset",
    "parse_breakhis_filename",
    "prepare_data_main",
    "save_datalist_json",
    "select_datalist_fold",
    "validate_datalist",
]

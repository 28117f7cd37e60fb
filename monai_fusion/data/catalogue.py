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
"""Catalogue of the public datasets the networks are evaluated on: where to get them, under which licence, how to cite
them, their folder layout and which datalist builder reads them. Written for this project; no code copied.

Downloads go through MONAI's ``monai.apps.download_url`` (tqdm progress bar, hash check) and ``monai.apps.extractall``,
the two halves of ``monai.apps.download_and_extract``. ``download_and_extract`` itself is not called: it first asks
the server for the file name with a ``requests.head`` call, which fails for ``file://`` URLs (and whenever
``requests`` is not installed), while ``download_url`` (``urllib``) handles ``file://``, ``http(s)://`` alike.

Checksums: only values that can be traced are recorded. None of the providers publishes one; the Kvasir-SEG SHA-256 is
the value several independent third-party loaders (e.g. torch-em) pin for the same archive. Every other entry says
``hash_val=None`` (unknown) and downloads unchecked.

Datasets that cannot be fetched without a manual step (a licence to accept, a registration), or whose download fails
(offline), raise :class:`PublicDatasetUnavailableError` with where to get the data and where to put it.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.error import ContentTooShortError, URLError

from monai.apps import download_url, extractall
from monai.apps.utils import HashCheckError

from monai_fusion.data.errors import DatasetError

__all__ = [
    "DATASET_CATALOGUE",
    "PublicDatasetInfo",
    "PublicDatasetResource",
    "PublicDatasetUnavailableError",
    "default_dataset_root",
    "default_datalist_path",
    "fetch_public_dataset",
    "locate_public_dataset",
    "monai_fusion_home",
]

logger = logging.getLogger(__name__)


class PublicDatasetUnavailableError(DatasetError, RuntimeError):
    """A catalogued dataset is neither on disk nor downloadable; the message says where to get it and put it."""


@dataclass(frozen=True)
class PublicDatasetResource:
    """One file to download.

    Args:
        url: official URL (``https://``, ``http://`` or ``file://``).
        filename: name to save it under.
        hash_val: expected checksum, or ``None`` when none is known (then the download is not checked).
        hash_type: ``"md5"`` or ``"sha256"`` (any type MONAI's ``check_hash`` accepts).
        extract: whether the file is an archive to extract (zip, tar, tar.gz).
        file_type: archive type when ``filename`` does not show it (``"zip"``, ``"tar"``, ``"tar.gz"``).
    """

    url: str
    filename: str
    hash_val: str | None = None
    hash_type: str = "md5"
    extract: bool = True
    file_type: str = ""


@dataclass(frozen=True)
class PublicDatasetInfo:
    """What the catalogue knows about one public dataset.

    Args:
        name: catalogue key (also the sub-folder of the download root).
        title: full name.
        homepage: official page.
        licence: licence or terms of use, as stated by the provider.
        citation: what to cite.
        layout: expected folder layout below the dataset folder.
        builder: dotted path of the datalist builder.
        required_files: glob patterns (relative to the dataset folder) that must all match for the data to count as
            present.
        resources: files to download; empty when no automatic download is possible.
        manual_steps: what to do by hand (always given; used in the error when no download is possible or it fails).
        builder_kwargs: fixed keyword arguments of the builder for this dataset.
        notes: quirks worth knowing.
    """

    name: str
    title: str
    homepage: str
    licence: str
    citation: str
    layout: str
    builder: str
    required_files: tuple[str, ...]
    resources: tuple[PublicDatasetResource, ...] = ()
    manual_steps: str = ""
    builder_kwargs: dict[str, Any] = field(default_factory=dict)
    notes: str = ""

    def get_builder(self) -> Callable[..., dict[str, Any]]:
        """The builder function (imported on first use)."""
        module, _, func = self.builder.rpartition(".")
        return getattr(importlib.import_module(module), func)

    def build(self, dataset_dir: str | os.PathLike, **kwargs: Any) -> dict[str, Any]:
        """Run the builder on ``dataset_dir`` with ``builder_kwargs`` and ``kwargs``.

        Args:
            dataset_dir: the dataset folder.
            kwargs: builder options (``seed``, ``fractions``, ``folds``, ``output`` ...).
        """
        return self.get_builder()(dataset_dir, **{**self.builder_kwargs, **kwargs})


_ISIC = "https://isic-challenge-data.s3.amazonaws.com"
_SIMULA = "https://datasets.simula.no/downloads"
_SIMULA_TERMS = (
    "research and educational use only; commercial use needs prior written permission (terms on the Simula page)"
)

DATASET_CATALOGUE: dict[str, PublicDatasetInfo] = {
    "ham10000": PublicDatasetInfo(
        name="ham10000",
        title="HAM10000: dermatoscopic images of common pigmented skin lesions (7 classes, 10,015 images)",
        homepage="https://doi.org/10.7910/DVN/DBW86T",
        licence="CC BY-NC 4.0",
        citation=(
            "Tschandl P, Rosendahl C, Kittler H. The HAM10000 dataset, a large collection of multi-source "
            "dermatoscopic images of common pigmented skin lesions. Sci Data 5, 180161 (2018). "
            "doi:10.1038/sdata.2018.161. Masks: Tschandl P et al., Nat Med 26, 1229-1234 (2020)."
        ),
        layout="HAM10000_metadata.csv and ISIC_*.jpg anywhere below (e.g. HAM10000_images_part_1/, _part_2/); "
        "optional masks ISIC_*_segmentation.png",
        builder="monai_fusion.data.dermoscopy.build_ham10000_datalist",
        required_files=("**/HAM10000_metadata.csv",),
        manual_steps=(
            "the Harvard Dataverse asks you to accept its terms of use: open the homepage, download "
            "HAM10000_images_part_1.zip, HAM10000_images_part_2.zip and HAM10000_metadata (as .csv), and unzip them "
            "into the dataset folder (the lesion masks are HAM10000_segmentations_lesion_tschandl.zip on the same "
            "page). The same 10,015 images with lesion ids are the ISIC 2018 Task 3 training set, which downloads "
            "automatically: `python -m monai_fusion.data prepare isic2018_task3 --download`."
        ),
        notes="Several images per lesion: the split groups by lesion_id. nv is about 67% of the images.",
    ),
    "isic2018_task3": PublicDatasetInfo(
        name="isic2018_task3",
        title="ISIC 2018 Task 3: lesion diagnosis (7 classes, 10,015 training images = HAM10000)",
        homepage="https://challenge.isic-archive.com/data/#2018",
        licence="CC BY-NC 4.0",
        citation=(
            "Codella N et al. Skin Lesion Analysis Toward Melanoma Detection 2018: A Challenge Hosted by the "
            "International Skin Imaging Collaboration (ISIC). arXiv:1902.03368; and Tschandl P et al., Sci Data 5, "
            "180161 (2018)."
        ),
        layout="ISIC2018_Task3_Training_Input/ISIC_*.jpg, ISIC2018_Task3_Training_GroundTruth/"
        "ISIC2018_Task3_Training_GroundTruth.csv, ISIC2018_Task3_Training_LesionGroupings.csv",
        builder="monai_fusion.data.dermoscopy.build_isic2018_task3_datalist",
        required_files=("**/ISIC2018_Task3_Training_GroundTruth.csv",),
        resources=(
            PublicDatasetResource(
                f"{_ISIC}/2018/ISIC2018_Task3_Training_Input.zip", "ISIC2018_Task3_Training_Input.zip"
            ),
            PublicDatasetResource(
                f"{_ISIC}/2018/ISIC2018_Task3_Training_GroundTruth.zip", "ISIC2018_Task3_Training_GroundTruth.zip"
            ),
            PublicDatasetResource(
                f"{_ISIC}/2018/ISIC2018_Task3_Training_LesionGroupings.csv",
                "ISIC2018_Task3_Training_LesionGroupings.csv",
                extract=False,
            ),
        ),
        manual_steps="download the three Task 3 training files from the ISIC challenge data page and unzip them.",
    ),
    "isic2019": PublicDatasetInfo(
        name="isic2019",
        title="ISIC 2019: skin lesion diagnosis (8 classes, 25,331 training images)",
        homepage="https://challenge.isic-archive.com/data/#2019",
        licence="CC BY-NC 4.0",
        citation=(
            "Tschandl P et al., Sci Data 5, 180161 (2018); Codella N et al., arXiv:1710.05006 (2017); Combalia M et "
            "al., BCN20000: Dermoscopic Lesions in the Wild, arXiv:1908.02288 (2019)."
        ),
        layout="ISIC_2019_Training_Input/ISIC_*.jpg, ISIC_2019_Training_GroundTruth.csv, "
        "ISIC_2019_Training_Metadata.csv",
        builder="monai_fusion.data.dermoscopy.build_isic2019_datalist",
        required_files=("**/ISIC_2019_Training_GroundTruth.csv",),
        resources=(
            PublicDatasetResource(f"{_ISIC}/2019/ISIC_2019_Training_Input.zip", "ISIC_2019_Training_Input.zip"),
            PublicDatasetResource(
                f"{_ISIC}/2019/ISIC_2019_Training_GroundTruth.csv", "ISIC_2019_Training_GroundTruth.csv", extract=False
            ),
            PublicDatasetResource(
                f"{_ISIC}/2019/ISIC_2019_Training_Metadata.csv", "ISIC_2019_Training_Metadata.csv", extract=False
            ),
        ),
        manual_steps="download the three 2019 training files from the ISIC challenge data page and unzip the images.",
        notes="lesion_id is empty for part of the images (those are split as single images); UNK has no images.",
    ),
    "kvasir_v1": PublicDatasetInfo(
        name="kvasir_v1",
        title="Kvasir v1: GI endoscopy (8 classes x 500 images)",
        homepage="https://datasets.simula.no/kvasir/",
        licence=_SIMULA_TERMS,
        citation=(
            "Pogorelov K et al. KVASIR: A Multi-Class Image Dataset for Computer Aided Gastrointestinal Disease "
            "Detection. ACM MMSys 2017, 164-169. doi:10.1145/3083187.3083212."
        ),
        layout="kvasir-dataset/<class>/*.jpg for the 8 classes",
        builder="monai_fusion.data.folders.build_kvasir_datalist",
        builder_kwargs={"version": 1},
        required_files=("**/dyed-lifted-polyps", "**/ulcerative-colitis"),
        resources=(PublicDatasetResource(f"{_SIMULA}/kvasir/kvasir-dataset.zip", "kvasir-dataset.zip"),),
        manual_steps="download kvasir-dataset.zip from the Simula page and unzip it.",
        notes="No patient ids are released, so splits are by image (CDFINet's GI benchmark).",
    ),
    "kvasir_v2": PublicDatasetInfo(
        name="kvasir_v2",
        title="Kvasir v2: GI endoscopy (8 classes x 1,000 images)",
        homepage="https://datasets.simula.no/kvasir/",
        licence=_SIMULA_TERMS,
        citation=(
            "Pogorelov K et al. KVASIR: A Multi-Class Image Dataset for Computer Aided Gastrointestinal Disease "
            "Detection. ACM MMSys 2017, 164-169. doi:10.1145/3083187.3083212."
        ),
        layout="kvasir-dataset-v2/<class>/*.jpg for the 8 classes",
        builder="monai_fusion.data.folders.build_kvasir_datalist",
        builder_kwargs={"version": 2},
        required_files=("**/dyed-lifted-polyps", "**/ulcerative-colitis"),
        resources=(PublicDatasetResource(f"{_SIMULA}/kvasir/kvasir-dataset-v2.zip", "kvasir-dataset-v2.zip"),),
        manual_steps="download kvasir-dataset-v2.zip from the Simula page and unzip it.",
        notes="No patient ids are released, so splits are by image.",
    ),
    "kvasir_seg": PublicDatasetInfo(
        name="kvasir_seg",
        title="Kvasir-SEG: polyp segmentation (1,000 image / mask pairs)",
        homepage="https://datasets.simula.no/kvasir-seg/",
        licence=_SIMULA_TERMS,
        citation=(
            "Jha D et al. Kvasir-SEG: A Segmented Polyp Dataset. MultiMedia Modeling (MMM) 2020, LNCS 11962, 451-462. "
            "doi:10.1007/978-3-030-37734-2_37."
        ),
        layout="Kvasir-SEG/images/*.jpg, Kvasir-SEG/masks/*.jpg (same names), kavsir_bboxes.json",
        builder="monai_fusion.data.segmentation.build_kvasir_seg_datalist",
        required_files=("**/images", "**/masks"),
        resources=(
            PublicDatasetResource(
                f"{_SIMULA}/kvasir-seg.zip",
                "kvasir-seg.zip",
                hash_val="03b30e21d584e04facf49397a2576738fd626815771afbbf788f74a7153478f7",
                hash_type="sha256",
            ),
        ),
        manual_steps="download kvasir-seg.zip from the Simula page and unzip it.",
        notes="Masks are JPEG (lossy, 3-channel): binarise them. Images have varied sizes.",
    ),
    "msd_spleen": PublicDatasetInfo(
        name="msd_spleen",
        title="Medical Segmentation Decathlon Task09 Spleen: spleen segmentation in portal-venous CT (41 labelled "
        "volumes)",
        homepage="http://medicaldecathlon.com/",
        licence="CC BY-SA 4.0",
        citation=(
            "Antonelli M, Reinke A, Bakas S, et al. The Medical Segmentation Decathlon. Nat Commun 13, 4128 (2022). "
            "doi:10.1038/s41467-022-30695-9; and Simpson AL et al., arXiv:1902.09063 (2019)."
        ),
        layout="Task09_Spleen/imagesTr/spleen_*.nii.gz, Task09_Spleen/labelsTr/spleen_*.nii.gz (label 1 = spleen), "
        "dataset.json",
        builder="monai_fusion.data.segmentation.build_decathlon_ct_datalist",
        required_files=("**/imagesTr", "**/labelsTr"),
        resources=(
            # the archive and md5 that MONAI's own monai.apps.DecathlonDataset downloads (monai 1.6.1)
            PublicDatasetResource(
                "https://msd-for-monai.s3-us-west-2.amazonaws.com/Task09_Spleen.tar",
                "Task09_Spleen.tar",
                hash_val="410d4a301da4e5b2f6f86ec3ddba524e",
                hash_type="md5",
            ),
        ),
        manual_steps="download Task09_Spleen.tar from the Decathlon page (Google Drive / AWS links) and untar it.",
        notes="About 1.5 GB. Volumes are 512 x 512 in-plane with varying slice counts and thicknesses; the archive "
        "holds macOS ._* files, which are skipped.",
    ),
    "cvc_clinicdb": PublicDatasetInfo(
        name="cvc_clinicdb",
        title="CVC-ClinicDB: polyp segmentation (612 colonoscopy frames, 384x288, with masks)",
        homepage="https://polyp.grand-challenge.org/CVCClinicDB/",
        licence="research use under the terms given on the download page (no standard licence named)",
        citation=(
            "Bernal J et al. WM-DOVA maps for accurate polyp highlighting in colonoscopy: Validation vs. saliency maps "
            "from physicians. Comput Med Imaging Graph 43, 99-111 (2015). doi:10.1016/j.compmedimag.2015.02.007."
        ),
        layout="CVC-ClinicDB/Original/<n>.tif and CVC-ClinicDB/Ground Truth/<n>.tif",
        builder="monai_fusion.data.segmentation.build_cvc_clinicdb_datalist",
        required_files=("**/Original",),
        manual_steps=(
            "request the data through the homepage (the copies passed around are RAR archives, which MONAI cannot "
            "extract), then unpack it so that Original/ and Ground Truth/ lie in the dataset folder."
        ),
        notes="Frames of one video sit under neighbouring numbers; give a frame-to-sequence CSV for a grouped split.",
    ),
    "kermany_cxr": PublicDatasetInfo(
        name="kermany_cxr",
        title="Kermany pediatric chest X-ray: NORMAL vs PNEUMONIA (Mendeley Data v2, ChestXRay2017.zip)",
        homepage="https://data.mendeley.com/datasets/rscbjbr9sj/2",
        licence="CC BY 4.0",
        citation=(
            "Kermany DS et al. Identifying Medical Diagnoses and Treatable Diseases by Image-Based Deep Learning. "
            "Cell 172(5), 1122-1131 (2018). doi:10.1016/j.cell.2018.02.010. Data: doi:10.17632/rscbjbr9sj.2."
        ),
        layout="chest_xray/{train,test}/{NORMAL,PNEUMONIA}/*.jpeg (or flat NORMAL/ and PNEUMONIA/)",
        builder="monai_fusion.data.folders.build_kermany_cxr_datalist",
        required_files=("**/NORMAL", "**/PNEUMONIA"),
        resources=(
            PublicDatasetResource(
                "https://data.mendeley.com/public-files/datasets/rscbjbr9sj/files/"
                "f12eaf6d-6023-432f-acc9-80c9d7393433/file_downloaded",
                "ChestXRay2017",
                file_type="zip",
            ),
        ),
        manual_steps="download ChestXRay2017.zip from the Mendeley Data page (the direct file link may change) and "
        "unzip it.",
        notes="Several images per patient (personN_*, IM-xxxx-*): the split groups by patient; the official "
        "train/test folders are pooled.",
    ),
    "covid_ct": PublicDatasetInfo(
        name="covid_ct",
        title="COVID-CT (UCSD-AI4H): 349 COVID and 397 non-COVID CT slices taken from papers",
        homepage="https://github.com/UCSD-AI4H/COVID-CT",
        licence="research use; the image copyrights belong to the authors and publishers of the source papers "
        "(repository README)",
        citation=(
            "Yang X, He X, Zhao J, Zhang Y, Zhang S, Xie P. COVID-CT-Dataset: A CT Scan Dataset about COVID-19. "
            "arXiv:2003.13865 (2020)."
        ),
        layout="CT_COVID/*.png and CT_NonCOVID/*.png",
        builder="monai_fusion.data.folders.build_covid_ct_datalist",
        required_files=("**/CT_COVID", "**/CT_NonCOVID"),
        resources=(
            PublicDatasetResource(
                "https://github.com/UCSD-AI4H/COVID-CT/raw/master/Images-processed/CT_COVID.zip", "CT_COVID.zip"
            ),
            PublicDatasetResource(
                "https://github.com/UCSD-AI4H/COVID-CT/raw/master/Images-processed/CT_NonCOVID.zip", "CT_NonCOVID.zip"
            ),
        ),
        manual_steps="download Images-processed/CT_COVID.zip and CT_NonCOVID.zip from the repository and unzip them.",
        notes="Display intensities, not HU; labels per paper (noisy); grouped by source paper / figure.",
    ),
    "breakhis": PublicDatasetInfo(
        name="breakhis",
        title="BreakHis v1: breast cancer histopathology (7,909 images, 82 patients, 40X-400X)",
        homepage="https://web.inf.ufpr.br/vri/databases/breast-cancer-histopathological-database-breakhis/",
        licence="research use; the official page names no licence (some redistributions state CC BY 4.0) and asks "
        "users to cite the paper",
        citation=(
            "Spanhol FA, Oliveira LS, Petitjean C, Heutte L. A Dataset for Breast Cancer Histopathological Image "
            "Classification. IEEE Trans Biomed Eng 63(7), 1455-1462 (2016). doi:10.1109/TBME.2015.2496264."
        ),
        layout="BreaKHis_v1/histology_slides/breast/{benign,malignant}/SOB/<type>/<patient>/<mag>X/SOB_*.png",
        builder="monai_fusion.data.folders.build_breakhis_datalist",
        required_files=("**/SOB",),
        resources=(
            PublicDatasetResource("http://www.inf.ufpr.br/vri/databases/BreaKHis_v1.tar.gz", "BreaKHis_v1.tar.gz"),
        ),
        manual_steps="download BreaKHis_v1.tar.gz from the homepage and extract it.",
        notes="The patient id (<year>-<slide>) is in every file name; split by patient.",
    ),
}


def monai_fusion_home() -> Path:
    """The per-user folder for what the commands write by default: ``$MONAI_FUSION_HOME``, else
    ``~/.cache/monai_fusion``. Never inside the repository, so a run leaves the checkout as it was."""
    env = os.environ.get("MONAI_FUSION_HOME")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "monai_fusion"


def default_dataset_root() -> Path:
    """Where datasets are downloaded: ``$MONAI_FUSION_DATASETS``, else ``<monai_fusion_home()>/datasets``."""
    env = os.environ.get("MONAI_FUSION_DATASETS")
    return Path(env).expanduser() if env else monai_fusion_home() / "datasets"


def default_datalist_path(name: str, folds: int | None = None) -> Path:
    """Where ``python -m monai_fusion.data prepare NAME`` writes its datalist without ``--output``:
    ``<monai_fusion_home()>/datalists/<name>.json`` (``<name>_<k>fold.json`` with ``folds=k``).

    Args:
        name: the dataset (catalogue key or ``imagefolder`` ...).
        folds: the number of cross-validation folds, if any.
    """
    return monai_fusion_home() / "datalists" / (f"{name}_{folds}fold.json" if folds else f"{name}.json")


def _info(dataset: str | PublicDatasetInfo) -> PublicDatasetInfo:
    if isinstance(dataset, PublicDatasetInfo):
        return dataset
    if dataset not in DATASET_CATALOGUE:
        raise ValueError(f"unknown dataset {dataset!r}; the catalogue has {sorted(DATASET_CATALOGUE)}.")
    return DATASET_CATALOGUE[dataset]


def locate_public_dataset(dataset: str | PublicDatasetInfo, root: str | os.PathLike | None = None) -> Path | None:
    """The dataset folder ``<root>/<name>`` when every ``required_files`` pattern matches there, else ``None``.

    Args:
        dataset: catalogue key or entry.
        root: download root (default :func:`default_dataset_root`).
    """
    info = _info(dataset)
    folder = Path(root if root is not None else default_dataset_root()) / info.name
    if folder.is_dir() and all(next(folder.glob(p), None) is not None for p in info.required_files):
        return folder
    return None


def _unavailable(info: PublicDatasetInfo, folder: Path, reason: str) -> PublicDatasetUnavailableError:
    return PublicDatasetUnavailableError(
        f"{info.title} is not available: {reason}.\n"
        f"  Get it from: {info.homepage}\n"
        f"  By hand: {info.manual_steps}\n"
        f"  Put it in: {folder}  (expected layout: {info.layout})\n"
        f"  Or use a copy already on disk: python -m monai_fusion.data prepare {info.name} --dataset-dir DIR\n"
        f"  Licence: {info.licence}. Cite: {info.citation}"
    )


def fetch_public_dataset(
    dataset: str | PublicDatasetInfo,
    root: str | os.PathLike | None = None,
    *,
    download: bool = True,
    progress: bool = True,
) -> Path:
    """Return the dataset folder, downloading and extracting the dataset first when it is not there yet.

    Files go to ``<root>/<name>/``: archives are kept in ``downloads/`` and each is extracted into a folder named
    after it (a second call skips both steps); plain files (CSVs) are saved directly.

    Args:
        dataset: catalogue key or entry.
        root: download root (default :func:`default_dataset_root`).
        download: with False, only look under ``root`` (and raise the "where to get it" error when absent).
        progress: show MONAI's tqdm download bar.

    Raises:
        PublicDatasetUnavailableError: no automatic download exists, the download failed (e.g. offline), the checksum
            did not match, or the extracted files do not have the expected layout. The message says where to get
            the data and where to put it.
    """
    info = _info(dataset)
    root = Path(root if root is not None else default_dataset_root())
    folder = root / info.name
    found = locate_public_dataset(info, root)
    if found is not None:
        return found
    if not info.resources:
        raise _unavailable(info, folder, "it cannot be downloaded automatically")
    if not download:
        raise _unavailable(info, folder, f"it is not in {folder} (download it with --download, or by hand)")
    for res in info.resources:
        target = folder / "downloads" / res.filename if res.extract else folder / res.filename
        try:
            download_url(res.url, filepath=target, hash_val=res.hash_val, hash_type=res.hash_type, progress=progress)
        except HashCheckError as err:
            reason = f"{err} (a corrupted or changed download: delete {target} and retry)"
            raise _unavailable(info, folder, reason) from err
        except (URLError, ContentTooShortError, OSError, RuntimeError) as err:
            reason = (
                f"downloading {res.url} failed ({type(err).__name__}: {err}); this machine may have no internet "
                "access (or the server is down or has moved the file): download it by hand as below"
            )
            raise _unavailable(info, folder, reason) from err
        if not target.is_file():
            raise _unavailable(info, folder, f"downloading {res.url} produced no file at {target}")
        if res.extract:
            stem = res.filename.split(".")[0]
            extractall(filepath=target, output_dir=folder / stem, file_type=res.file_type, has_base=False)
    found = locate_public_dataset(info, root)
    if found is None:
        raise _unavailable(info, folder, f"the downloaded files do not match the expected layout {info.required_files}")
    logger.info("%s ready in %s", info.name, found)
    return found

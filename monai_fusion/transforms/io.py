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
"""Image loading through MONAI's readers, with two fixes: palette PNGs and missing DICOM decoders.

Written for this project following MONAI's array/dictionary transform conventions; no code copied.

1. ``PILReader`` returns a palette (mode ``"P"``) image as its palette *indices*. 348 of the HAM10000 masks in
   ``../shared/data`` are palette PNGs whose palette is inverted (index 0 is white), so read raw they give the
   background as foreground. :func:`standardize_pil_mode` decodes the palette (to ``"L"`` when the palette is gray,
   else ``"RGB"``; ``"LA"``/``"RGBA"`` when it has transparency) and CMYK/YCbCr to RGB. Other modes are kept, so
   16-bit PNGs (``"I;16"``) stay 16-bit; channel policy (alpha, gray <-> RGB) is left to ``EnsureRGB``/
   ``EnsureGrayscale``.
2. Compressed DICOM needs a pydicom decoder plugin; without one pydicom fails only once the pixels are decoded. For
   JPEG 2000 (transfer syntax 1.2.840.10008.1.2.4.90, as in ``ct_volumes/example_ct_dicom``) install
   ``pylibjpeg`` and ``pylibjpeg-openjpeg``. :func:`check_dicom_decoder` raises an error that names the transfer
   syntax, the missing plugins and the ``pip install`` line; :class:`LoadMedicalImage` runs that check before
   ``PydicomReader`` decodes. ``ITKReader`` (MONAI's default for a DICOM folder) decodes JPEG 2000 with the GDCM
   bundled in ITK and needs no plugin.

Both readers return Hounsfield units: they apply RescaleSlope/RescaleIntercept.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from monai.config import DtypeLike, KeysCollection, PathLike
from monai.data import ImageReader, PILReader, PydicomReader
from monai.transforms import LoadImage, LoadImaged
from monai.utils import optional_import
from monai.utils.enums import PostFix

pydicom, _ = optional_import("pydicom")

__all__ = ["standardize_pil_mode", "check_dicom_decoder", "LoadMedicalImage", "LoadMedicalImaged"]

_PIP_HINTS = (
    ("JPEG2000TransferSyntaxes", "pip install pylibjpeg pylibjpeg-openjpeg"),
    ("JPEGTransferSyntaxes", "pip install pylibjpeg pylibjpeg-libjpeg"),
    ("JPEGLSTransferSyntaxes", "pip install pyjpegls"),
)


def standardize_pil_mode(image: Any) -> Any:
    """Decode palette and non-RGB colour modes of a PIL image so that its array holds intensities.

    ``"P"`` becomes ``"L"`` when every used palette colour is gray, else ``"RGB"`` (``"LA"``/``"RGBA"`` when the image
    has transparency); ``"PA"`` becomes ``"LA"``/``"RGBA"``; ``"CMYK"`` and ``"YCbCr"`` become ``"RGB"``. Every other
    mode (``"L"``, ``"LA"``, ``"RGB"``, ``"RGBA"``, ``"I;16"``, ``"I"``, ``"F"``, ``"1"``) is returned unchanged.
    Use it as ``PILReader(converter=standardize_pil_mode)``.

    Args:
        image: a ``PIL.Image.Image``.

    Returns:
        the converted image (the same object when nothing needs converting).
    """
    if image.mode in ("P", "PA"):
        alpha = image.mode == "PA" or "transparency" in image.info
        rgb = image.convert("RGBA" if alpha else "RGB")
        arr = np.asarray(rgb)
        if np.array_equal(arr[..., 0], arr[..., 1]) and np.array_equal(arr[..., 1], arr[..., 2]):
            return rgb.convert("LA" if alpha else "L")
        return rgb
    if image.mode in ("CMYK", "YCbCr"):
        return image.convert("RGB")
    return image


def _standardize_then(converter: Callable | None, image: Any) -> Any:
    image = standardize_pil_mode(image)
    return image if converter is None else converter(image)


def _require_decoder(uid: Any, source: PathLike) -> tuple[str, ...]:
    """Names of the pydicom plugins that decode ``uid``; a clear ``RuntimeError`` when there is none."""
    uid = pydicom.uid.UID(str(uid))
    try:
        decoder = pydicom.pixels.get_decoder(uid)
    except NotImplementedError as e:
        raise RuntimeError(
            f"cannot decode {source}: pydicom has no decoder at all for its transfer syntax {uid.name} ({uid}). "
            "Read it with reader='ITKReader' (GDCM) or convert it, e.g. with gdcmconv --raw."
        ) from e
    if not uid.is_encapsulated:
        return ()
    if decoder.is_available:
        return tuple(decoder.available_plugins)
    hint = next(
        (pip for group, pip in _PIP_HINTS if uid in getattr(pydicom.uid, group)),
        "pip install pylibjpeg pylibjpeg-openjpeg pylibjpeg-libjpeg",
    )
    missing = "; ".join(decoder.missing_dependencies) or "no plugin is registered"
    raise RuntimeError(
        f"cannot decode {source}: its transfer syntax is {uid.name} ({uid}), and no pydicom decoder plugin for it "
        f"is installed (missing: {missing}). Fix: `{hint}`. Alternatively read it with reader='ITKReader', whose "
        "bundled GDCM decodes it."
    )


def _transfer_syntax(dataset: Any) -> Any:
    meta = getattr(dataset, "file_meta", None)
    uid = getattr(meta, "TransferSyntaxUID", None) if meta is not None else None
    return uid if uid is not None else pydicom.uid.ImplicitVRLittleEndian


def check_dicom_decoder(path: PathLike) -> tuple[str, ...]:
    """Check that pydicom can decode the pixel data of a DICOM file, or of every DICOM file in a folder.

    Only the headers are read. Non-DICOM files inside a folder are skipped.

    Args:
        path: a DICOM file or a folder holding a series.

    Returns:
        the names of the pydicom plugins that can decode it (empty for uncompressed data).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: ``path`` holds no DICOM file.
        RuntimeError: no installed plugin decodes the transfer syntax; the message names the missing plugins and the
            ``pip install`` line that fixes it.
    """
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"check_dicom_decoder: {p} does not exist.")
    files = sorted(f for f in p.iterdir() if f.is_file()) if p.is_dir() else [p]
    first_file: dict[str, Path] = {}
    for f in files:
        try:
            ds = pydicom.dcmread(f, stop_before_pixels=True)
        except pydicom.errors.InvalidDicomError:
            continue
        first_file.setdefault(str(_transfer_syntax(ds)), f)
    if not first_file:
        raise ValueError(f"check_dicom_decoder: no DICOM file found at {p}.")
    plugins: set[str] = set()
    for uid, f in first_file.items():
        plugins.update(_require_decoder(uid, f))
    return tuple(sorted(plugins))


def _flatten(data: Any) -> list:
    if isinstance(data, (list, tuple)):
        return [ds for item in data for ds in _flatten(item)]
    return [data]


class _DecoderCheckedReader(ImageReader):
    """A ``PydicomReader`` that checks the decoder plugins before decoding the pixels."""

    def __init__(self, reader: PydicomReader) -> None:
        super().__init__()
        self.reader = reader

    def verify_suffix(self, filename: Sequence[PathLike] | PathLike) -> bool:
        return self.reader.verify_suffix(filename)

    def read(self, data: Sequence[PathLike] | PathLike, **kwargs: Any) -> Any:
        return self.reader.read(data, **kwargs)

    def get_data(self, img: Any) -> tuple[np.ndarray, dict]:
        checked: set[str] = set()
        for ds in _flatten(img):
            uid = str(_transfer_syntax(ds))
            if uid not in checked:
                _require_decoder(uid, getattr(ds, "filename", None) or "a DICOM dataset")
                checked.add(uid)
        return self.reader.get_data(img)

    def __repr__(self) -> str:
        return f"DecoderChecked({self.reader!r})"


def _with_fixes(reader: ImageReader) -> ImageReader:
    """Swap MONAI's plain ``PILReader``/``PydicomReader`` for the palette-decoding / decoder-checking versions."""
    if type(reader) is PILReader:
        converter = functools.partial(_standardize_then, reader.converter)
        return PILReader(converter=converter, reverse_indexing=reader.reverse_indexing, **reader.kwargs)
    if type(reader) is PydicomReader:
        return _DecoderCheckedReader(reader)
    return reader


class LoadMedicalImage(LoadImage):
    """MONAI's ``LoadImage`` with palette PNGs decoded and a clear error when a DICOM decoder plugin is missing.

    Every argument and the reader selection are ``LoadImage``'s. Each ``PILReader`` it registers (the default one or
    one named in ``reader``) applies :func:`standardize_pil_mode` before any user ``converter``, and each
    ``PydicomReader`` runs the :func:`check_dicom_decoder` check before decoding.

    Example::

        LoadMedicalImage(ensure_channel_first=True)("ISIC_0024316_segmentation.png")  # mask values, not indices
        LoadMedicalImage(reader="PydicomReader")("example_ct_dicom")  # HU; names the plugin if one is missing
    """

    def register(self, reader: ImageReader) -> None:
        """Register ``reader``, swapping a plain ``PILReader``/``PydicomReader`` for the fixed version.

        Args:
            reader: a MONAI image reader instance.
        """
        super().register(_with_fixes(reader))


class LoadMedicalImaged(LoadImaged):
    """Dictionary version of :class:`LoadMedicalImage`; the arguments are ``LoadImaged``'s.

    Args:
        keys: keys of the file names to load.
        reader: reader name(s), class(es) or instance(s), as in ``LoadImaged``; None picks by file suffix.
        dtype: output data type.
        meta_keys: keys of the metadata dictionaries (only with ``image_only=False``).
        meta_key_postfix: postfix of the metadata keys.
        overwriting: whether existing metadata may be overwritten.
        image_only: return only the image (a ``MetaTensor``), not a separate metadata dictionary.
        ensure_channel_first: add or move the channel dimension first.
        simple_keys: drop the reader-specific metadata keys.
        prune_meta_pattern: regular expression of metadata keys to drop.
        prune_meta_sep: separator of nested metadata keys for ``prune_meta_pattern``.
        allow_missing_keys: don't raise an exception if a key is missing.
        expanduser: expand ``~`` in file names.
        args: positional arguments for a reader given by name.
        kwargs: keyword arguments for a reader given by name.
    """

    def __init__(
        self,
        keys: KeysCollection,
        reader: type[ImageReader] | str | None = None,
        dtype: DtypeLike = np.float32,
        meta_keys: KeysCollection | None = None,
        meta_key_postfix: str = PostFix.meta(),
        overwriting: bool = False,
        image_only: bool = True,
        ensure_channel_first: bool = False,
        simple_keys: bool = False,
        prune_meta_pattern: str | None = None,
        prune_meta_sep: str = ".",
        allow_missing_keys: bool = False,
        expanduser: bool = True,
        *args: Any,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            keys,
            reader,
            dtype,
            meta_keys,
            meta_key_postfix,
            overwriting,
            image_only,
            ensure_channel_first,
            simple_keys,
            prune_meta_pattern,
            prune_meta_sep,
            allow_missing_keys,
            expanduser,
            *args,
            **kwargs,
        )
        self._loader = LoadMedicalImage(
            reader,
            image_only,
            dtype,
            ensure_channel_first,
            simple_keys,
            prune_meta_pattern,
            prune_meta_sep,
            expanduser,
            *args,
            **kwargs,
        )

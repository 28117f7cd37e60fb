# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""The MONAI Label server is safe to leave running: one real server over HTTP on 127.0.0.1, started with a token.

The server (``serve.py``, tiny ``cdfinet`` and ``mfsf2net_segmentation`` copies with random weights) serves a studies
folder two levels below the test's folder, so a write that escapes it (``../escape_probe``, ``tag=../../../x``) would
land in the watched tree; each traversal test compares that tree before and after. It is started once for the module
with ``MONAI_FUSION_LABEL_TOKEN`` and one allowed origin; the token-less side (loopback only, refusal to bind
``0.0.0.0``) is tested through ``serve.py`` itself and in ``test_monailabel_e2e.py``.
"""

from __future__ import annotations

import gzip
import json
import os
import secrets
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.apps.label_server import APP_DIR, running_server
from tests.apps.test_monailabel_train import import_monailabel
from tests.utils import require_data

pytestmark = [pytest.mark.data, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

CLASSIFIER, SEGMENTER = "cdfinet", "mfsf2net_segmentation"
ALLOWED_ORIGIN = "http://localhost:3000"
#: studies file name -> image id, one per format the bundles read (and an upper-case suffix)
FORMATS = {
    "kv0.jpg": "kv0",
    "cx0.jpeg": "cx0",
    "ct0.png": "ct0",
    "kv_tif.tif": "kv_tif",
    "kv_tiff.tiff": "kv_tiff",
    "kv_bmp.bmp": "kv_bmp",
    "kv_upper.JPG": "kv_upper",
    "ct_slice.dcm": "ct_slice",
    "ct_vol.nii.gz": "ct_vol",
    "ct_raw.nii": "ct_raw",
}


def _populate(studies: Path) -> dict[str, Path]:
    """Real images in every format (converted or linked from ../shared/data); returns source files by role."""
    from PIL import Image

    kvasir = require_data("kvasir_seg")
    chest = require_data("chest_xray_pneumonia", "NORMAL")
    covid = require_data("covid_ct", "CT_COVID")
    ct = require_data("ct_volumes")
    image = sorted((kvasir / "images").iterdir())[0]
    studies.mkdir(parents=True)
    shutil.copy(image, studies / "kv0.jpg")
    shutil.copy(sorted(chest.glob("*.jpeg"))[0], studies / "cx0.jpeg")
    shutil.copy(sorted(covid.glob("*.png"))[0], studies / "ct0.png")
    with Image.open(image) as im:
        for name in ("kv_tif.tif", "kv_tiff.tiff", "kv_bmp.bmp"):
            im.save(studies / name)
        im.save(studies / "kv_upper.JPG", format="JPEG")
    shutil.copy(sorted((ct / "example_ct_dicom").iterdir())[0], studies / "ct_slice.dcm")
    shutil.copy(ct / "example_ct_sm.nii.gz", studies / "ct_vol.nii.gz")
    (studies / "ct_raw.nii").write_bytes(gzip.decompress((ct / "example_ct_sm.nii.gz").read_bytes()))
    return {"image": image, "mask": kvasir / "masks" / image.name}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """The server with a token and one allowed origin; yields url, headers, folders and the sources of the images."""
    import_monailabel()
    from tests.apps.label_bundles import make_tiny_bundle

    root = tmp_path_factory.mktemp("label_security")
    studies = root / "srv" / "studies"  # labels/../../../x would be root/x
    sources = _populate(studies)
    for seed, name in enumerate((CLASSIFIER, SEGMENTER)):
        make_tiny_bundle(name, root / "bundles", seed=seed)
    token = secrets.token_urlsafe(24)
    env = {"MONAI_FUSION_LABEL_TOKEN": token, "MONAI_FUSION_LABEL_CORS_ORIGINS": ALLOWED_ORIGIN}
    headers = {"Authorization": f"Bearer {token}"}
    with running_server(root, studies, (CLASSIFIER, SEGMENTER), root / "bundles", env, headers) as srv:
        yield {**srv, "root": root, "studies": studies, "token": token, "headers": headers, **sources}
    shutil.rmtree(root, ignore_errors=True)  # checkpoints: the suite must not fill the disk


def _outside(server: dict) -> set[str]:
    """Every path under the test's folder that is not inside the studies folder."""
    studies = server["studies"]
    return {str(p) for p in server["root"].rglob("*") if studies not in (p, *p.parents)}


def _detail(res) -> str:
    detail = res.json()["detail"]
    assert isinstance(detail, str) and "\n" not in detail and "Traceback" not in detail, detail
    return detail


def _put_image(server: dict, image_id: str, path: Path, name: str | None = None):
    import requests

    with open(path, "rb") as f:
        return requests.put(
            f"{server['url']}/datastore/image",
            params={"image": image_id},
            files={"file": (name or path.name, f)},
            headers=server["headers"],
            timeout=60,
        )


def _put_label(server: dict, image_id: str, tag: str, path: Path):
    import requests

    with open(path, "rb") as f:
        return requests.put(
            f"{server['url']}/datastore/label",
            params={"image": image_id, "tag": tag},
            files={"label": (path.name, f)},
            headers=server["headers"],
            timeout=60,
        )


def _infer(server: dict, model: str, image: str = "", params: dict | None = None, upload: Path | None = None, **kw):
    import requests

    files = {"file": (upload.name, upload.read_bytes())} if upload else None
    return requests.post(
        f"{server['url']}/infer/{model}",
        params={"image": image, "output": "json"} if image else {"output": "json"},
        data={"params": json.dumps(params or {})},
        files=files,
        headers=kw.get("headers", server["headers"]),
        timeout=kw.get("timeout", 120),
    )


def test_path_traversal_writes_are_refused(server: dict) -> None:
    before = _outside(server)
    answers = {
        "image=../escape_probe": _put_image(server, "../escape_probe", server["image"]),
        "image=<absolute path>": _put_image(server, str(server["root"] / "abs_probe"), server["image"]),
        "tag=../../../x": _put_label(server, "kv0", "../../../x", server["mask"]),
        "tag=a/b": _put_label(server, "kv0", "a/b", server["mask"]),
        "label image=../kv0": _put_label(server, "../kv0", "final", server["mask"]),
        "infer label_tag=../../y": _infer(server, SEGMENTER, "kv0", {"save_label": True, "label_tag": "../../y"}),
        "infer result_extension": _infer(server, SEGMENTER, "kv0", {"result_extension": "/../../z.png"}),
    }
    assert {k: r.status_code for k, r in answers.items()} == dict.fromkeys(answers, 400), {
        k: r.text for k, r in answers.items()
    }
    assert all("refused" in _detail(r) for r in answers.values())
    assert _outside(server) == before, "a refused request wrote outside the studies folder"
    # control: the same requests with plain names write inside the studies folder
    assert _put_image(server, "escape_probe", server["image"]).status_code == 200
    assert _put_label(server, "escape_probe", "x", server["mask"]).status_code == 200
    assert (server["studies"] / "escape_probe.jpg").is_file()
    assert (server["studies"] / "labels" / "x" / "escape_probe.jpg").is_file()
    assert _outside(server) == before


def test_session_archives_cannot_escape(server: dict, tmp_path: Path) -> None:
    """``PUT /session/?uncompress=true`` unpacks tar files: a member ``../<name>`` is refused, nothing is written."""
    import io
    import tarfile
    import tempfile
    import uuid

    import requests

    name = f"escape_{uuid.uuid4().hex}.txt"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo(f"../{name}")
        info.size = 5
        tar.addfile(info, io.BytesIO(b"probe"))
    res = requests.put(
        f"{server['url']}/session/",
        params={"uncompress": "true"},
        files={"files": ("evil.tar", buffer.getvalue())},
        headers=server["headers"],
        timeout=60,
    )
    assert res.status_code == 400 and "archive refused" in _detail(res), res.text
    assert not (Path(tempfile.gettempdir()) / name).exists()


def test_inference_reads_datastore_images_and_uploads_only(server: dict) -> None:
    outside = server["root"] / "outside.jpg"
    shutil.copy(server["image"], outside)
    answers = {
        "image=<file outside --studies>": _infer(server, CLASSIFIER, str(outside)),
        "params image=<outside>": _infer(server, CLASSIFIER, "kv0", {"image": str(outside)}),
        "image=/etc/passwd": _infer(server, CLASSIFIER, "/etc/passwd"),
        "params image_path": _infer(server, CLASSIFIER, "kv0", {"image_path": "/etc/passwd"}),
    }
    assert {k: r.status_code for k, r in answers.items()} == dict.fromkeys(answers, 400), {
        k: r.text for k, r in answers.items()
    }
    assert "params may not set ['image']" in _detail(answers["params image=<outside>"])
    # control: a datastore id and an uploaded file are served
    for res in (_infer(server, CLASSIFIER, "kv0"), _infer(server, CLASSIFIER, upload=outside)):
        assert res.status_code == 200, res.text
        assert len(res.json()["prediction"]) == 8


def test_cross_origin_access_is_refused_unless_listed(server: dict) -> None:
    import requests

    url, headers = server["url"], server["headers"]
    evil = {"Origin": "http://evil.example", "Access-Control-Request-Method": "PUT"}
    for res in (
        requests.options(f"{url}/datastore/image", headers={**headers, **evil}, timeout=10),
        requests.get(f"{url}/info/", headers={**headers, "Origin": "http://evil.example"}, timeout=10),
        requests.delete(f"{url}/datastore/image", params={"id": "kv0"}, headers={**headers, **evil}, timeout=10),
    ):
        assert res.status_code == 403 and "access-control-allow-origin" not in res.headers, res.headers
        assert "cross-origin request from 'http://evil.example' refused" in _detail(res)
    assert "kv0" in requests.get(f"{url}/datastore/?output=all", headers=headers, timeout=10).json()["objects"]
    listed = {"Origin": ALLOWED_ORIGIN, "Access-Control-Request-Method": "PUT", "Access-Control-Request-Headers": ""}
    listed["Access-Control-Request-Headers"] = "authorization"
    pre = requests.options(f"{url}/datastore/image", headers=listed, timeout=10)
    assert pre.status_code == 200 and pre.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    assert pre.headers.get("access-control-allow-credentials") != "true"
    res = requests.get(f"{url}/info/", headers={**headers, "Origin": ALLOWED_ORIGIN}, timeout=10)
    assert res.status_code == 200 and res.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    same = requests.get(f"{url}/info/", headers={**headers, "Origin": url}, timeout=10)  # the server's own pages
    assert same.status_code == 200


def test_every_endpoint_needs_the_token(server: dict) -> None:
    import requests

    url, headers = server["url"], server["headers"]
    schema = requests.get(f"{url}/openapi.json", headers=headers, timeout=10).json()
    routes = [(m.upper(), p) for p, ops in schema["paths"].items() for m in ops]
    routes += [("GET", "/"), ("GET", "/docs"), ("GET", "/openapi.json"), ("GET", "/static/favicon.ico")]
    routes += [("GET", "/favicon.ico"), ("POST", "/reload"), ("GET", "/ohif/")]
    assert ("GET", "/model/{model}") in routes and ("PUT", "/datastore/image") in routes and len(routes) > 40
    for wrong in ({}, {"Authorization": "Bearer wrong-token-0123456789"}, {"Authorization": server["token"]}):
        for method, path in routes:
            filled = path.replace("{model}", CLASSIFIER).replace("{", "").replace("}", "")
            res = requests.request(method, f"{url}{filled}", params={"id": "kv0", "image": "kv0"}, headers=wrong)
            assert res.status_code == 401, f"{method} {filled} without the token: {res.status_code} {res.text[:200]}"
            assert res.headers["www-authenticate"] == "Bearer"
    objects = requests.get(f"{url}/datastore/?output=all", headers=headers, timeout=10).json()["objects"]
    assert "kv0" in objects and "kv0" in objects["kv0"]["image"]["info"]["name"]  # DELETE without token did nothing
    weights = requests.get(f"{url}/model/{CLASSIFIER}", headers=headers, timeout=30)
    assert weights.status_code == 200
    assert weights.content == (server["root"] / "bundles" / CLASSIFIER / "models" / "model.pt").read_bytes()
    assert requests.get(f"{url}/logs/", headers=headers, timeout=10).status_code == 200
    # MONAI Label's login protocol (used by viewers): the password is the token
    assert requests.get(f"{url}/auth/", timeout=10).json()["enabled"] is True
    bad = requests.post(f"{url}/auth/token", data={"username": "u", "password": "nope"}, timeout=10)
    assert bad.status_code == 401
    good = requests.post(f"{url}/auth/token", data={"username": "u", "password": server["token"]}, timeout=10)
    assert good.json() == {"access_token": server["token"], "token_type": "bearer"}


def test_monailabel_client_works_with_the_token(server: dict, tmp_path: Path) -> None:
    from fusion_label.client import FusionLabelClient
    from monailabel.client import MONAILabelClient
    from monailabel.client.client import MONAILabelClientException

    plain = MONAILabelClient(server["url"], tmpdir=str(tmp_path))
    with pytest.raises(MONAILabelClientException, match="Status: 401"):
        plain.info()
    plain.update_auth({"token_type": "Bearer", "access_token": server["token"]})  # MONAI Label's own client
    assert plain.upload_image(str(server["image"]), image_id="plain_img")["image"] == "plain_img"
    assert plain.info()["labels"] == ["polyp"]
    client = FusionLabelClient(server["url"], token=server["token"], tmpdir=str(tmp_path))
    assert set(client.info()["models"]) == {CLASSIFIER, SEGMENTER}
    assert client.upload_image(str(server["image"]), image_id="client_img")["image"] == "client_img"
    assert client.save_label("client_img", str(server["mask"]), tag="final")["label"] == "client_img"
    assert client.datastore()["objects"]["client_img"]["labels"]["final"]["ext"] == ".jpg"
    _, params = client.infer(CLASSIFIER, "client_img", {})
    assert [p["label"] for p in params["prediction"]][:2] == ["dyed-lifted-polyps", "dyed-resection-margins"]
    assert client.info()["labels"] == ["polyp"]
    # the viewer's way: log in with the token as password, then send the returned token
    viewer = FusionLabelClient(server["url"], token="", tmpdir=str(tmp_path))
    assert viewer.auth_enabled()
    viewer.update_auth(viewer.auth_token("slicer", server["token"]))
    assert viewer.info()["labels"] == ["polyp"]


def test_serve_refuses_a_public_address_without_a_token(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "MONAI_FUSION_LABEL_TOKEN"}
    cmd = [sys.executable, str(APP_DIR / "serve.py"), "--studies", str(tmp_path / "s"), "--port", "1"]
    public = subprocess.run([*cmd, "--host", "0.0.0.0"], env=env, capture_output=True, text=True, timeout=120)
    assert public.returncode != 0
    assert "refusing to listen on 0.0.0.0 without an access token" in public.stderr, public.stderr
    assert "MONAI_FUSION_LABEL_TOKEN" in public.stderr
    short = subprocess.run(
        [*cmd, "--host", "0.0.0.0", "--conf", "auth_token", "short"], env=env, capture_output=True, text=True
    )
    assert short.returncode != 0 and "at least 16" in short.stderr, short.stderr
    assert not (tmp_path / "s").exists()  # refused before MONAI Label created anything


def test_launcher_token_and_exposure_rules() -> None:
    from apps.monailabel.fusion_label.launcher import ExposureError, build_start_server_args, check_exposure, take_token

    env: dict[str, str] = {}
    args = take_token(["--studies", "s", "--conf", "auth_token", "x" * 20, "--conf", "models", "a"], env)
    assert args == ["--studies", "s", "--conf", "models", "a"] and env == {"MONAI_FUSION_LABEL_TOKEN": "x" * 20}
    check_exposure(["--host", "0.0.0.0"], env)  # a token: any address
    for host in ("127.0.0.1", "localhost", "::1", "127.0.0.2"):
        check_exposure(["--host", host], {})
    for host in ("0.0.0.0", "192.168.1.10", "::", "example.org"):
        with pytest.raises(ExposureError, match=f"refusing to listen on {host} without an access token"):
            check_exposure(["--host", host], {})
    full = build_start_server_args(["--studies", "s"])
    assert full[full.index("--uvicorn_app") + 1] == "fusion_label.server:app"


def test_bad_inputs_get_a_4xx_with_a_reason(server: dict, tmp_path: Path) -> None:
    raw = server["image"].read_bytes()
    (tmp_path / "corrupt.jpg").write_bytes(bytes(range(256)) * 8)
    (tmp_path / "truncated.jpg").write_bytes(raw[: len(raw) // 3])
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "text.png").write_text("not an image either")
    expected = {"corrupt.jpg": 422, "truncated.jpg": 422, "empty.jpg": 422, "notes.txt": 415, "text.png": 422}
    for name, status in expected.items():
        res = _infer(server, CLASSIFIER, upload=tmp_path / name)
        assert res.status_code == status, f"{name}: {res.status_code} {res.text}"
        assert name in _detail(res)
    for name in ("notes.txt", "truncated.jpg"):
        res = _put_image(server, "bad_" + name.split(".")[0], tmp_path / name)
        assert res.status_code == expected[name], res.text
    unknown = {
        "infer unknown image id": _infer(server, CLASSIFIER, "nosuch"),
        "infer unknown model": _infer(server, "nosuch", "kv0"),
        "label for unknown image": _put_label(server, "nosuch", "final", server["mask"]),
    }
    assert {k: r.status_code for k, r in unknown.items()} == dict.fromkeys(unknown, 404)
    assert "unknown model 'nosuch'" in _detail(unknown["infer unknown model"])
    assert "unknown image id 'nosuch'" in _detail(unknown["infer unknown image id"])


def test_inference_burst_keeps_the_server_responsive(server: dict, tmp_path: Path) -> None:
    """8 concurrent segmentations of a 1500x1500 image; /info/ and /datastore/ are timed while they run."""
    import requests
    from PIL import Image

    big = tmp_path / "big.jpg"
    with Image.open(server["image"]) as im:
        im.resize((1500, 1500)).save(big)
    url, headers, answers = server["url"], server["headers"], []

    def infer() -> None:
        res = requests.post(
            f"{url}/infer/{SEGMENTER}",
            params={"output": "image"},
            files={"file": (big.name, big.read_bytes())},
            headers=headers,
            timeout=300,
        )
        answers.append(res.status_code)

    threads = [threading.Thread(target=infer) for _ in range(8)]
    start = time.monotonic()
    for t in threads:
        t.start()
    latencies: list[tuple[str, int, float]] = []
    time.sleep(0.3)
    while any(t.is_alive() for t in threads):
        for path in ("/info/", "/datastore/"):
            t0 = time.monotonic()
            status = requests.get(f"{url}{path}", headers=headers, timeout=30).status_code
            latencies.append((path, status, time.monotonic() - t0))
        time.sleep(0.2)
    for t in threads:
        t.join(timeout=300)
    total = time.monotonic() - start
    times = sorted(x[2] for x in latencies)
    print(
        f"\nburst of 8 took {total:.1f} s; {len(times)} /info/ and /datastore/ answers during it: median "
        f"{times[len(times) // 2]:.3f} s, max {times[-1]:.3f} s"
    )
    assert answers == [200] * 8
    assert latencies and all(status == 200 for _, status, _ in latencies)
    assert max(x[2] for x in latencies) < 5.0, latencies


def test_every_image_format_is_listed(server: dict) -> None:
    import requests

    objects = requests.get(f"{server['url']}/datastore/?output=all", headers=server["headers"], timeout=10).json()
    assert set(FORMATS.values()) <= set(objects["objects"]), sorted(objects["objects"])
    assert {n: objects["objects"][i]["image"]["ext"] for n, i in FORMATS.items()} == {
        n: n[len(i) :] for n, i in FORMATS.items()
    }
    res = _infer(server, CLASSIFIER, "cx0")  # a .jpeg chest X-ray (grey) is served
    assert res.status_code == 200, res.text


def test_info_labels_are_the_segmentation_labels(server: dict) -> None:
    import requests

    info = requests.get(f"{server['url']}/info/", headers=server["headers"], timeout=10).json()
    assert info["labels"] == ["polyp"]
    classes = info["models"][CLASSIFIER]["labels"]
    assert len(classes) == 8 and not set(classes) & set(info["labels"])
    assert info["models"][SEGMENTER]["labels"] == {"polyp": 1}

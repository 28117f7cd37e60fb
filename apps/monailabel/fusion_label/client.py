# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""MONAI Label's Python client for a server started with an access token.

MONAI Label's own client works with the token once told: ``client.update_auth({"token_type": "Bearer",
"access_token": TOKEN})`` (MONAI Label 0.8.5 then also keeps each upload's ``content-type``/``content-length`` in
that header dict and sends them with later requests; the server ignores them on ``GET``). :class:`FusionLabelClient`
does that from ``$MONAI_FUSION_LABEL_TOKEN``, sends a fresh copy of the headers on every request, and decodes
``infer``'s JSON answer (MONAI Label's client returns the raw bytes when the answer has no image, as for the
classification models)::

    client = FusionLabelClient("http://127.0.0.1:8000")  # token from $MONAI_FUSION_LABEL_TOKEN
    client.info()
"""

from __future__ import annotations

import json
import os
from typing import Any

from monailabel.client import MONAILabelClient

from .security import TOKEN_ENV


class FusionLabelClient(MONAILabelClient):
    """``MONAILabelClient`` that sends ``Authorization: Bearer <token>`` with every request.

    Args:
        server_url: e.g. ``http://127.0.0.1:8000``.
        token: the server's token; default ``$MONAI_FUSION_LABEL_TOKEN`` (no header when neither is set).
        tmpdir: where results are saved (``MONAILabelClient``'s argument).
        client_id: sent with basic requests (``MONAILabelClient``'s argument).
    """

    def __init__(
        self, server_url: str, token: str | None = None, tmpdir: str | None = None, client_id: str | None = None
    ) -> None:
        self._auth_headers: dict[str, str] = {}
        super().__init__(server_url, tmpdir=tmpdir, client_id=client_id)
        token = token if token is not None else os.environ.get(TOKEN_ENV)
        if token:
            self.update_auth({"token_type": "Bearer", "access_token": token})

    @property
    def _headers(self) -> dict[str, str]:
        """A fresh copy per request: MONAI Label's request helpers add per-request headers to the dict they get."""
        return dict(self._auth_headers)

    @_headers.setter
    def _headers(self, value: dict[str, str]) -> None:
        self._auth_headers = dict(value)

    def update_auth(self, token: dict[str, Any]) -> None:
        """Send ``Authorization: <token_type> <access_token>`` from now on (MONAI Label's ``/auth/token`` answer)."""
        if token:
            self._auth_headers["Authorization"] = f"{token['token_type']} {token['access_token']}"

    def infer(self, model: str, image_id: str, params: dict[str, Any], *args: Any, **kwargs: Any) -> tuple[Any, Any]:
        """``MONAILabelClient.infer``, with a JSON-only answer decoded to a dict (``(None, {...})``)."""
        result, answer = super().infer(model, image_id, params, *args, **kwargs)
        if isinstance(answer, (bytes, str)):
            answer = json.loads(answer)
        return result, answer

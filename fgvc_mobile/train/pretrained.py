"""What a run starts from: ``--pretrained imagenet`` (the default), a file, or ``none``.

The loading itself is the backbone's (``models.backbone.load_pretrained``); this module adds
what the checkpoint records about it, so a result can be traced to the exact weights it grew
from: ``{"source": "imagenet" | PATH | "none", "weights": what was loaded, "sha256": of the file}``.
``sha256`` is that of the file read (torch hub's cached copy for ``imagenet``), so a user can
check it with ``sha256sum``. Reading the record back (``describe``, ``loaded_weights``) is the
loader's: ``models/load.py``.
"""

from __future__ import annotations

import os

from fgvc_mobile.errors import FGVCError

IMAGENET = "imagenet"
NONE = "none"


def imagenet_cache_file() -> str:
    """Where torch hub keeps torchvision's MobileNetV2 ImageNet weights (present or not)."""
    import torch.hub
    from torchvision.models import MobileNet_V2_Weights

    url = MobileNet_V2_Weights.IMAGENET1K_V1.url
    return os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(url))


def start_from(backbone, spec: str | None) -> dict:
    """Load ``spec`` into ``backbone`` and return the record the checkpoint keeps."""
    from fgvc_mobile.models.backbone import load_pretrained
    from fgvc_mobile.models.load import file_sha256

    source = NONE if spec in (None, "", NONE) else spec
    if source == NONE:
        return {"source": NONE, "weights": None, "sha256": None}
    weights = load_pretrained(backbone, source)
    path = imagenet_cache_file() if source == IMAGENET else source
    try:
        digest = file_sha256(path)
    except OSError as e:  # loaded a moment ago: only a race can get here
        raise FGVCError(f"--pretrained {spec}: cannot read {path} ({e.strerror or e})") from None
    return {"source": source, "weights": weights, "sha256": digest}

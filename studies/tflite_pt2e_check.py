"""Is litert-torch's PT2E int8 route fixed? Compare it with its own PyTorch simulation on real images.

    python -m fgvc_mobile.studies.tflite_pt2e_check runs/cub100-baseline/best.pt [--val-images 200]

The exporter ships ai_edge_quantizer's int8 instead (export/formats/tflite.py). In litert-torch
0.10 the PT2E route produced wrong logits on MobileNetV2 (bias scale mismatch at the final
FULLY_CONNECTED); this script re-checks that claim whenever litert-torch is upgraded: the PT2E
.tflite should match the PT2E fake-quantized PyTorch model, which shares its quantization params.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import torch


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("checkpoint")
    p.add_argument("--calib-images", type=int, default=64)
    p.add_argument("--val-images", type=int, default=200)
    args = p.parse_args(argv)

    from fgvc_mobile.export.calibration import calibration_set, validation_set
    from fgvc_mobile.export.contract import Contract
    from fgvc_mobile.export.deploy import DeployModel, reference_logits
    from fgvc_mobile.export.formats import FORMATS
    from fgvc_mobile.export.quiet import quiet
    from fgvc_mobile.models.load import load_trained

    loaded = load_trained(args.checkpoint)
    meta, pre = loaded.meta, loaded.preprocess
    deploy = DeployModel(loaded.model, input_size=pre.input_size)
    contract = Contract.reference(pre)  # float NCHW in, logits out
    cal = calibration_set(meta["data"]["spec"], meta["classes"], pre, args.calib_images)
    val = validation_set(meta["data"]["spec"], meta["classes"], pre, args.val_images)
    ref = reference_logits(deploy, val.images, pre)
    with quiet():
        import litert_torch
        from litert_torch.quantize.pt2e_quantizer import PT2EQuantizer, get_symmetric_quantization_config
        from litert_torch.quantize.quant_config import QuantConfig
        from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

        quantizer = PT2EQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True,
                                                                                  is_dynamic=False))
        example = (torch.from_numpy(contract.prepare(cal.images[:1])),)
        graph = prepare_pt2e(torch.export.export(deploy.eval(), example).module(), quantizer)
        with torch.no_grad():
            for x in contract.prepare(cal.images):
                graph(torch.from_numpy(x[None]))
        graph = convert_pt2e(graph, fold_quantize=False)
        with torch.no_grad():
            sim = torch.cat([graph(torch.from_numpy(x[None])) for x in contract.prepare(val.images)]).numpy()
        model_bytes = bytes(litert_torch.convert(graph, example,
                                                 quant_config=QuantConfig(pt2e_quantizer=quantizer)).model_content())
    out = FORMATS["tflite"].open(model_bytes, contract).predict(val.images)

    def acc(s):
        return (s.argmax(1) == val.labels).mean() * 100

    print(f"{val.describe()}: fp32 PyTorch top-1 {acc(ref):.2f}")
    print(f"PT2E fake-quant PyTorch: top-1 {acc(sim):.2f}")
    agree = (out.argmax(1) == sim.argmax(1)).mean() * 100
    print(f"PT2E .tflite:            top-1 {acc(out):.2f}, top-1 agreement with its own simulation {agree:.1f}%, "
          f"max |logit diff| {np.abs(out - sim).max():.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

package dev.fgvcmobile.core;

import java.util.Arrays;

/**
 * What a runtime reports about one of the model's tensors: element type, shape and
 * quantization. The app builds it from LiteRT's {@code Tensor}; tests build it from a manifest.
 */
public final class TensorInfo {
    public final DType dtype;
    /** null when the runtime reported a type the app does not handle (named in {@link #dtypeName}). */
    public final String dtypeName;
    public final int[] shape;
    public final Quant quant;

    public TensorInfo(String dtypeName, int[] shape, Quant quant) {
        this.dtypeName = dtypeName;
        this.dtype = DType.fromName(dtypeName);
        this.shape = shape.clone();
        this.quant = quant;
    }

    /** The input tensor exactly as the manifest describes it (for tests and for runtimes without introspection). */
    public static TensorInfo ofManifestInput(Manifest m) {
        return new TensorInfo(m.input.dtype.jsonName, m.input.shape, m.input.quant);
    }

    public static TensorInfo ofManifestOutput(Manifest m) {
        return new TensorInfo(m.output.dtype.jsonName, m.output.shape, m.output.quant);
    }

    public int elementCount() {
        int n = 1;
        for (int d : shape) {
            n *= d;
        }
        return n;
    }

    @Override
    public String toString() {
        return dtypeName + Arrays.toString(shape) + (quant == null ? "" : " " + quant);
    }
}

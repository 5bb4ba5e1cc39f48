package dev.fgvcmobile.core;

/**
 * The input contract after the manifest and the loaded model have been reconciled
 * ({@link ModelContract}): everything the {@link Preprocessor} needs, nothing hard-coded.
 */
public final class InputFormat {
    public final Layout layout;
    public final DType dtype;
    public final int height;
    public final int width;
    /** true: values are raw 0..255 RGB; false: (x/255 - mean)/std. */
    public final boolean normalizationInGraph;
    /** Applied to the value above for integer inputs; null only for raw uint8. */
    public final Quant quant;
    public final float[] mean;
    public final float[] std;

    public InputFormat(Layout layout, DType dtype, int height, int width, boolean normalizationInGraph,
                       Quant quant, float[] mean, float[] std) {
        if (dtype == DType.FLOAT16) {
            throw new FgvcException("float16 model inputs are not supported by this app; export a float32 or int8 input");
        }
        if (dtype.isInteger() && quant == null && !(dtype == DType.UINT8 && normalizationInGraph)) {
            throw new FgvcException(dtype.jsonName + " input without quantization parameters needs "
                    + "normalization_in_graph=true (raw 0..255 RGB)");
        }
        this.layout = layout;
        this.dtype = dtype;
        this.height = height;
        this.width = width;
        this.normalizationInGraph = normalizationInGraph;
        this.quant = quant;
        this.mean = mean.clone();
        this.std = std.clone();
    }

    public int elementCount() {
        return 3 * height * width;
    }

    public int byteSize() {
        return elementCount() * dtype.bytes;
    }
}

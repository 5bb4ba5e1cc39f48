package dev.fgvcmobile.core;

/** The output contract: how many class scores, their type, and how to dequantize them. */
public final class OutputFormat {
    public final DType dtype;
    public final int numClasses;
    /** null for float outputs (and for integer outputs a converter left unquantized). */
    public final Quant quant;
    /** true: values are logits and the scores are their softmax; false: values are scores. */
    public final boolean logits;

    public OutputFormat(DType dtype, int numClasses, Quant quant, boolean logits) {
        if (dtype == DType.FLOAT16) {
            throw new FgvcException("float16 model outputs are not supported by this app");
        }
        this.dtype = dtype;
        this.numClasses = numClasses;
        this.quant = quant;
        this.logits = logits;
    }

    public int byteSize() {
        return numClasses * dtype.bytes;
    }
}

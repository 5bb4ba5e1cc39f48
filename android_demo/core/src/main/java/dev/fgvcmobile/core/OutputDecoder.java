package dev.fgvcmobile.core;

import java.nio.ByteBuffer;

/**
 * The model's output buffer -> float64 values (dequantized as (q - zero_point) * scale) and
 * scores (softmax of logits, or the values when the model already outputs probabilities).
 * Reading raw int8 bytes as if they were scores is the classic silent bug this class exists
 * to prevent.
 */
public final class OutputDecoder {
    private final OutputFormat fmt;

    public OutputDecoder(OutputFormat fmt) {
        this.fmt = fmt;
    }

    /** Read numClasses values from {@code buf}'s position (in its byte order) and dequantize them. */
    public double[] values(ByteBuffer buf) {
        if (buf.remaining() < fmt.byteSize()) {
            throw new IllegalArgumentException("output has " + buf.remaining() + " bytes, expected " + fmt.byteSize());
        }
        double[] v = new double[fmt.numClasses];
        double scale = fmt.quant == null ? 1.0 : (double) fmt.quant.scale;
        int zp = fmt.quant == null ? 0 : fmt.quant.zeroPoint;
        for (int i = 0; i < v.length; i++) {
            switch (fmt.dtype) {
                case FLOAT32:
                    v[i] = buf.getFloat();
                    break;
                case UINT8:
                    v[i] = ((buf.get() & 0xFF) - zp) * scale;
                    break;
                case INT8:
                    v[i] = (buf.get() - zp) * scale;
                    break;
                default:
                    throw new FgvcException("unsupported output type " + fmt.dtype.jsonName);
            }
        }
        return v;
    }

    /** Scores in 0..1: softmax of logits, or the values themselves for probability outputs. */
    public double[] scores(double[] values) {
        return fmt.logits ? softmax(values) : values.clone();
    }

    /** Numerically stable softmax in float64. */
    public static double[] softmax(double[] x) {
        double max = Double.NEGATIVE_INFINITY;
        for (double v : x) {
            max = Math.max(max, v);
        }
        double[] e = new double[x.length];
        double sum = 0.0;
        for (int i = 0; i < x.length; i++) {
            e[i] = Math.exp(x[i] - max);
            sum += e[i];
        }
        for (int i = 0; i < x.length; i++) {
            e[i] /= sum;
        }
        return e;
    }
}

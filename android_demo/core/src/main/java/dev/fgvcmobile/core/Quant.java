package dev.fgvcmobile.core;

import java.util.Locale;

/**
 * Affine quantization of one tensor: real = (q - zeroPoint) * scale. The scale is a float32
 * because that is what a .tflite file stores and what LiteRT reports.
 */
public final class Quant {
    public final float scale;
    public final int zeroPoint;

    public Quant(float scale, int zeroPoint) {
        if (!(scale > 0f) || Float.isInfinite(scale)) {
            throw new FgvcException("quantization scale must be a positive number, got " + scale);
        }
        this.scale = scale;
        this.zeroPoint = zeroPoint;
    }

    /** A runtime's (scale, zero point); LiteRT reports scale 0 for a tensor that is not quantized. */
    public static Quant ofRuntime(float scale, int zeroPoint) {
        return scale == 0f ? null : new Quant(scale, zeroPoint);
    }

    public boolean isIdentity() {
        return scale == 1f && zeroPoint == 0;
    }

    /** Same zero point and scales equal to float32 precision (a JSON round trip may lose the last bit). */
    public boolean agrees(Quant other) {
        if (other == null || zeroPoint != other.zeroPoint) {
            return false;
        }
        return Math.abs(scale - other.scale) <= 1e-6f * Math.max(Math.abs(scale), Math.abs(other.scale));
    }

    @Override
    public String toString() {
        return String.format(Locale.ROOT, "{scale=%s, zero_point=%d}", Float.toString(scale), zeroPoint);
    }
}

package dev.fgvcmobile.core;

/**
 * Resize an RGB image exactly as Pillow's {@code Image.resize} does (which torchvision's
 * {@code Resize} calls on PIL images), so the app's input tensor is Python's byte for byte.
 *
 * <p>BILINEAR and BICUBIC follow libImaging/Resample.c: a separable convolution whose support
 * grows with the downscale factor (Pillow's antialiasing), coefficients normalised to sum 1 and
 * converted to 22-bit fixed point, two passes (order: {@link #verticalFirst}) of which the first
 * covers only the lines the second reads, and 8-bit clipping after each pass. NEAREST follows
 * libImaging/Geometry.c ImagingScaleAffine (source pixel = floor((i + 0.5) * scale), with the
 * same accumulated double coordinate). The order of floating-point operations mirrors the C
 * code on purpose; do not "simplify" it.
 */
public final class PillowResize {
    /** The filters the manifest's preprocess.interpolation may name. */
    public enum Filter {
        NEAREST(0.0),
        BILINEAR(1.0),
        BICUBIC(2.0);

        final double support;

        Filter(double support) {
            this.support = support;
        }

        double weight(double x) {
            if (this == BILINEAR) {
                if (x < 0.0) {
                    x = -x;
                }
                return x < 1.0 ? 1.0 - x : 0.0;
            }
            // bicubic convolution with a = -0.5, written as in Resample.c
            final double a = -0.5;
            if (x < 0.0) {
                x = -x;
            }
            if (x < 1.0) {
                return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
            }
            if (x < 2.0) {
                return (((x - 5) * x + 8) * x - 4) * a;
            }
            return 0.0;
        }
    }

    private static final int PRECISION_BITS = 32 - 8 - 2;

    private PillowResize() {
    }

    /** The image resized to outW x outH (Pillow's {@code im.resize((outW, outH), filter)}). */
    public static RgbImage resize(RgbImage in, int outW, int outH, Filter filter) {
        if (outW <= 0 || outH <= 0) {
            throw new IllegalArgumentException("resize target must be positive, got " + outW + "x" + outH);
        }
        if (outW == in.width && outH == in.height) {
            return new RgbImage(outW, outH, in.rgb.clone()); // Image.resize returns a copy
        }
        if (filter == Filter.NEAREST) {
            return nearest(in, outW, outH);
        }
        return resample(in, outW, outH, filter);
    }

    /** Per output index: first input index, tap count, and ksize fixed-point weights. */
    private static final class Coeffs {
        final int ksize;
        final int[] bounds;
        final int[] kk;

        Coeffs(int ksize, int[] bounds, int[] kk) {
            this.ksize = ksize;
            this.bounds = bounds;
            this.kk = kk;
        }
    }

    /** precompute_coeffs + normalize_coeffs_8bpc for a box of [0, inSize). */
    private static Coeffs coeffs(int inSize, int outSize, Filter filter) {
        float in0 = 0f;
        float in1 = (float) inSize;
        double scale = (double) (in1 - in0) / outSize;
        double filterscale = scale < 1.0 ? 1.0 : scale;
        double support = filter.support * filterscale;
        int ksize = (int) Math.ceil(support) * 2 + 1;
        int[] bounds = new int[outSize * 2];
        int[] kk = new int[outSize * ksize];
        double[] k = new double[ksize];
        for (int xx = 0; xx < outSize; xx++) {
            double center = in0 + (xx + 0.5) * scale;
            double ww = 0.0;
            double ss = 1.0 / filterscale;
            int xmin = (int) (center - support + 0.5);
            if (xmin < 0) {
                xmin = 0;
            }
            int xmax = (int) (center + support + 0.5);
            if (xmax > inSize) {
                xmax = inSize;
            }
            xmax -= xmin;
            for (int x = 0; x < xmax; x++) {
                double w = filter.weight((x + xmin - center + 0.5) * ss);
                k[x] = w;
                ww += w;
            }
            for (int x = 0; x < ksize; x++) {
                double v = x < xmax ? (ww != 0.0 ? k[x] / ww : k[x]) : 0.0;
                kk[xx * ksize + x] = v < 0 ? (int) (-0.5 + v * (1 << PRECISION_BITS))
                                           : (int) (0.5 + v * (1 << PRECISION_BITS));
            }
            bounds[xx * 2] = xmin;
            bounds[xx * 2 + 1] = xmax;
        }
        return new Coeffs(ksize, bounds, kk);
    }

    private static int clip8(int ss) {
        int v = ss >> PRECISION_BITS;
        return v < 0 ? 0 : (v > 255 ? 255 : v);
    }

    /**
     * Pillow 13's pass order (python-pillow/Pillow#9549): vertical first when the height shrinks
     * by more than twice as many pixels as the width does, horizontal first otherwise.
     * Older Pillow always went horizontal first; the test vectors pin the behaviour.
     */
    static boolean verticalFirst(int inW, int inH, int outW, int outH) {
        return outH < inH && (inH - outH) > 2 * (inW - outW);
    }

    /** ImagingResampleInner: two separable passes, each reading only the lines the other needs. */
    private static RgbImage resample(RgbImage in, int outW, int outH, Filter filter) {
        boolean needHorizontal = outW != in.width;
        boolean needVertical = outH != in.height;
        Coeffs hor = coeffs(in.width, outW, filter);
        Coeffs vert = coeffs(in.height, outH, filter);
        if (needHorizontal && needVertical && verticalFirst(in.width, in.height, outW, outH)) {
            int xFirst = hor.bounds[0];
            int xLast = hor.bounds[outW * 2 - 2] + hor.bounds[outW * 2 - 1];
            byte[] tmp = verticalPass(in.rgb, in.width, xFirst, xLast - xFirst, vert, outH, 0);
            return new RgbImage(outW, outH, horizontalPass(tmp, xLast - xFirst, 0, outH, hor, outW, xFirst));
        }
        byte[] src = in.rgb;
        int w = in.width;
        int yShift = 0;
        if (needHorizontal) {
            int yFirst = needVertical ? vert.bounds[0] : 0;
            int yLast = needVertical ? vert.bounds[outH * 2 - 2] + vert.bounds[outH * 2 - 1] : in.height;
            src = horizontalPass(in.rgb, in.width, yFirst, yLast - yFirst, hor, outW, 0);
            w = outW;
            yShift = yFirst;
            if (!needVertical) {
                return new RgbImage(outW, in.height, src);
            }
        }
        return new RgbImage(w, outH, verticalPass(src, w, 0, w, vert, outH, yShift));
    }

    /**
     * Rows [firstRow, firstRow + rows) of a srcW-wide image, resampled to outW columns; source
     * column indices from the coefficients are shifted left by colShift.
     */
    private static byte[] horizontalPass(byte[] src, int srcW, int firstRow, int rows, Coeffs c, int outW, int colShift) {
        byte[] out = new byte[3 * outW * rows];
        int half = 1 << (PRECISION_BITS - 1);
        for (int yy = 0; yy < rows; yy++) {
            int row = (yy + firstRow) * srcW - colShift;
            for (int xx = 0; xx < outW; xx++) {
                int xmin = c.bounds[xx * 2];
                int xmax = c.bounds[xx * 2 + 1];
                int kOff = xx * c.ksize;
                int ss0 = half;
                int ss1 = half;
                int ss2 = half;
                for (int x = 0; x < xmax; x++) {
                    int p = 3 * (row + x + xmin);
                    int kv = c.kk[kOff + x];
                    ss0 += (src[p] & 0xFF) * kv;
                    ss1 += (src[p + 1] & 0xFF) * kv;
                    ss2 += (src[p + 2] & 0xFF) * kv;
                }
                int o = 3 * (yy * outW + xx);
                out[o] = (byte) clip8(ss0);
                out[o + 1] = (byte) clip8(ss1);
                out[o + 2] = (byte) clip8(ss2);
            }
        }
        return out;
    }

    /**
     * Columns [firstCol, firstCol + cols) of a srcW-wide image, resampled to outH rows; source
     * row indices from the coefficients are shifted up by rowShift.
     */
    private static byte[] verticalPass(byte[] src, int srcW, int firstCol, int cols, Coeffs c, int outH, int rowShift) {
        byte[] out = new byte[3 * cols * outH];
        int half = 1 << (PRECISION_BITS - 1);
        for (int yy = 0; yy < outH; yy++) {
            int kOff = yy * c.ksize;
            int ymin = c.bounds[yy * 2] - rowShift;
            int ymax = c.bounds[yy * 2 + 1];
            for (int xx = 0; xx < cols; xx++) {
                int ss0 = half;
                int ss1 = half;
                int ss2 = half;
                for (int y = 0; y < ymax; y++) {
                    int p = 3 * ((y + ymin) * srcW + firstCol + xx);
                    int kv = c.kk[kOff + y];
                    ss0 += (src[p] & 0xFF) * kv;
                    ss1 += (src[p + 1] & 0xFF) * kv;
                    ss2 += (src[p + 2] & 0xFF) * kv;
                }
                int o = 3 * (yy * cols + xx);
                out[o] = (byte) clip8(ss0);
                out[o + 1] = (byte) clip8(ss1);
                out[o + 2] = (byte) clip8(ss2);
            }
        }
        return out;
    }

    /** Geometry.c ImagingScaleAffine with a = [inW/outW, 0, 0, 0, inH/outH, 0]. */
    private static RgbImage nearest(RgbImage in, int outW, int outH) {
        double a0 = (double) ((float) in.width - 0f) / outW;
        double a4 = (double) ((float) in.height - 0f) / outH;
        int[] xintab = new int[outW];
        boolean[] xvalid = new boolean[outW];
        double xo = 0.0 + a0 * 0.5;
        for (int x = 0; x < outW; x++) {
            int xin = coord(xo);
            if (xin >= 0 && xin < in.width) {
                xintab[x] = xin;
                xvalid[x] = true;
            }
            xo += a0;
        }
        byte[] out = new byte[3 * outW * outH]; // fill=1: pixels outside the source stay 0
        double yo = 0.0 + a4 * 0.5;
        for (int y = 0; y < outH; y++) {
            int yi = coord(yo);
            if (yi >= 0 && yi < in.height) {
                for (int x = 0; x < outW; x++) {
                    if (xvalid[x]) {
                        System.arraycopy(in.rgb, 3 * (yi * in.width + xintab[x]), out, 3 * (y * outW + x), 3);
                    }
                }
            }
            yo += a4;
        }
        return new RgbImage(outW, outH, out);
    }

    private static int coord(double v) {
        return v < 0.0 ? -1 : (int) v;
    }
}

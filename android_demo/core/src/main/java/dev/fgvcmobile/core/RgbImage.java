package dev.fgvcmobile.core;

/**
 * An 8-bit RGB image, row-major, 3 bytes a pixel: what {@code load_rgb} gives Python.
 * The app converts an Android Bitmap with {@link #fromArgb}; the core never sees a Bitmap.
 */
public final class RgbImage {
    public final int width;
    public final int height;
    /** R, G, B bytes of pixel (x, y) at offset 3 * (y * width + x). */
    public final byte[] rgb;

    public RgbImage(int width, int height, byte[] rgb) {
        if (width <= 0 || height <= 0) {
            throw new FgvcException("image size must be positive, got " + width + "x" + height);
        }
        if (rgb.length != 3 * width * height) {
            throw new IllegalArgumentException("rgb has " + rgb.length + " bytes, expected " + 3 * width * height);
        }
        this.width = width;
        this.height = height;
        this.rgb = rgb;
    }

    /**
     * From straight (non-premultiplied) ARGB ints, as {@code Bitmap.getPixels} returns them.
     * Translucent pixels are composited over white with Pillow's integer alpha_composite, as
     * load_rgb does, so RGBA PNGs give Python's bytes.
     */
    public static RgbImage fromArgb(int[] argb, int width, int height) {
        if (argb.length < width * height) {
            throw new IllegalArgumentException("argb has " + argb.length + " pixels, expected " + width * height);
        }
        byte[] out = new byte[3 * width * height];
        for (int i = 0; i < width * height; i++) {
            int p = argb[i];
            composite(p >>> 24, (p >> 16) & 0xFF, (p >> 8) & 0xFF, p & 0xFF, out, 3 * i);
        }
        return new RgbImage(width, height, out);
    }

    /** From R, G, B, A bytes a pixel (straight alpha), composited over white like {@link #fromArgb}. */
    public static RgbImage fromRgba(byte[] rgba, int width, int height) {
        if (rgba.length != 4 * width * height) {
            throw new IllegalArgumentException("rgba has " + rgba.length + " bytes, expected " + 4 * width * height);
        }
        byte[] out = new byte[3 * width * height];
        for (int i = 0; i < width * height; i++) {
            composite(rgba[4 * i + 3] & 0xFF, rgba[4 * i] & 0xFF, rgba[4 * i + 1] & 0xFF, rgba[4 * i + 2] & 0xFF, out, 3 * i);
        }
        return new RgbImage(width, height, out);
    }

    /** Pillow's ImagingAlphaComposite (libImaging/AlphaComposite.c) of one pixel over opaque white. */
    private static void composite(int a, int r, int g, int b, byte[] out, int o) {
        if (a == 255) {
            out[o] = (byte) r;
            out[o + 1] = (byte) g;
            out[o + 2] = (byte) b;
            return;
        }
        if (a == 0) {
            out[o] = out[o + 1] = out[o + 2] = (byte) 255;
            return;
        }
        final int precisionBits = 7;
        final long dstA = 255;
        final long dstC = 255;
        long blend = dstA * (255 - a);
        long outa255 = a * 255L + blend;
        long coef1 = a * 255L * 255L * (1 << precisionBits) / outa255;
        long coef2 = 255L * (1 << precisionBits) - coef1;
        out[o] = (byte) div255(r * coef1 + dstC * coef2);
        out[o + 1] = (byte) div255(g * coef1 + dstC * coef2);
        out[o + 2] = (byte) div255(b * coef1 + dstC * coef2);
    }

    private static long div255(long tmp) {
        long v = tmp + (0x80L << 7);
        return (((v >> 8) + v) >> 8) >> 7;
    }

    /** Red, green or blue (c = 0, 1, 2) of pixel (x, y) as 0..255. */
    public int get(int x, int y, int c) {
        return rgb[3 * (y * width + x) + c] & 0xFF;
    }

    /** The w x h rectangle whose top-left pixel is (left, top); it must lie inside the image. */
    public RgbImage crop(int left, int top, int w, int h) {
        if (left < 0 || top < 0 || left + w > width || top + h > height) {
            throw new IllegalArgumentException("crop " + w + "x" + h + "+" + left + "+" + top
                    + " outside " + width + "x" + height);
        }
        byte[] out = new byte[3 * w * h];
        for (int y = 0; y < h; y++) {
            System.arraycopy(rgb, 3 * ((top + y) * width + left), out, 3 * y * w, 3 * w);
        }
        return new RgbImage(w, h, out);
    }
}

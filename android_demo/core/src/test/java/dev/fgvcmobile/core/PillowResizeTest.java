package dev.fgvcmobile.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNotSame;

import java.util.Random;
import org.junit.Test;

/** Hand-checkable properties of the Pillow resize; the vector tests check it against Pillow itself. */
public class PillowResizeTest {

    private static RgbImage gray(int w, int h, int... values) {
        byte[] b = new byte[3 * w * h];
        for (int i = 0; i < w * h; i++) {
            b[3 * i] = b[3 * i + 1] = b[3 * i + 2] = (byte) values[i];
        }
        return new RgbImage(w, h, b);
    }

    @Test
    public void halvingTwoPixelsRoundsHalfUpInFixedPoint() {
        // weights 0.5/0.5 -> 2^21 each; (10 + 21) * 2^21 + 2^21 (rounding) = 16 * 2^22 -> 16
        RgbImage out = PillowResize.resize(gray(2, 1, 10, 21), 1, 1, PillowResize.Filter.BILINEAR);
        assertEquals(16, out.get(0, 0, 0));
    }

    @Test
    public void downscaleAveragesOverTheWholeSupport() {
        // 4 -> 1 bilinear: support 4, triangle weights 1,3,3,1 (/8): (0*1 + 80*3 + 160*3 + 240*1) / 8 = 120
        RgbImage out = PillowResize.resize(gray(4, 1, 0, 80, 160, 240), 1, 1, PillowResize.Filter.BILINEAR);
        assertEquals(120, out.get(0, 0, 0));
    }

    @Test
    public void sameSizeIsACopy() {
        RgbImage in = gray(3, 2, 1, 2, 3, 4, 5, 6);
        RgbImage out = PillowResize.resize(in, 3, 2, PillowResize.Filter.BICUBIC);
        assertArrayEquals(in.rgb, out.rgb);
        assertNotSame(in.rgb, out.rgb);
    }

    @Test
    public void constantImagesStayConstantUnderEveryFilter() {
        int[] v = new int[7 * 5];
        java.util.Arrays.fill(v, 201);
        for (PillowResize.Filter f : PillowResize.Filter.values()) {
            for (int[] size : new int[][] {{3, 2}, {16, 11}, {7, 9}, {1, 1}}) {
                RgbImage out = PillowResize.resize(gray(7, 5, v), size[0], size[1], f);
                for (byte b : out.rgb) {
                    assertEquals(f + " " + size[0] + "x" + size[1], 201, b & 0xFF);
                }
            }
        }
    }

    @Test
    public void bicubicOvershootIsClipped() {
        // a hard 0 -> 255 edge upscaled with bicubic rings beyond 0..255; the 8-bit clip keeps it in range
        RgbImage out = PillowResize.resize(gray(4, 1, 0, 0, 255, 255), 13, 1, PillowResize.Filter.BICUBIC);
        assertEquals(0, out.get(0, 0, 0));
        assertEquals(255, out.get(12, 0, 0));
    }

    @Test
    public void nearestPicksTheSourcePixelUnderEachCenter() {
        // 4 -> 2: centers at 1.0 and 3.0 -> source pixels 1 and 3
        RgbImage out = PillowResize.resize(gray(4, 1, 10, 20, 30, 40), 2, 1, PillowResize.Filter.NEAREST);
        assertEquals(20, out.get(0, 0, 0));
        assertEquals(40, out.get(1, 0, 0));
    }

    @Test
    public void channelsAreResampledIndependently() {
        Random r = new Random(3);
        byte[] b = new byte[3 * 9 * 6];
        r.nextBytes(b);
        RgbImage in = new RgbImage(9, 6, b);
        RgbImage out = PillowResize.resize(in, 4, 5, PillowResize.Filter.BILINEAR);
        for (int c = 0; c < 3; c++) {
            int[] plane = new int[9 * 6];
            for (int i = 0; i < plane.length; i++) {
                plane[i] = b[3 * i + c] & 0xFF;
            }
            RgbImage single = PillowResize.resize(gray(9, 6, plane), 4, 5, PillowResize.Filter.BILINEAR);
            for (int i = 0; i < 20; i++) {
                assertEquals(single.rgb[3 * i], out.rgb[3 * i + c]);
            }
        }
    }
}

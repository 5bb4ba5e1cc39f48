package dev.fgvcmobile.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;

import org.junit.Test;

public class RgbImageTest {

    @Test
    public void argbAndRgbaAgree() {
        int[] argb = {0xFF102030, 0x80FF0000, 0x00123456, 0x01FFFFFF};
        byte[] rgba = {0x10, 0x20, 0x30, (byte) 0xFF, (byte) 0xFF, 0, 0, (byte) 0x80,
            0x12, 0x34, 0x56, 0, (byte) 0xFF, (byte) 0xFF, (byte) 0xFF, 1};
        RgbImage a = RgbImage.fromArgb(argb, 2, 2);
        assertArrayEquals(RgbImage.fromRgba(rgba, 2, 2).rgb, a.rgb);
        assertEquals(0x10, a.get(0, 0, 0));
        // half-transparent red over white: 255 stays, 0 becomes ~127
        assertEquals(255, a.get(1, 0, 0));
        assertEquals(127, a.get(1, 0, 1));
        // fully transparent pixels become white
        assertEquals(255, a.get(0, 1, 2));
    }

    @Test
    public void cropTakesTheRectangle() {
        byte[] b = new byte[3 * 4 * 3];
        for (int i = 0; i < b.length; i++) {
            b[i] = (byte) i;
        }
        RgbImage c = new RgbImage(4, 3, b).crop(1, 1, 2, 2);
        assertEquals(3 * (4 + 1), c.get(0, 0, 0));
        assertEquals(3 * (2 * 4 + 2) + 2, c.get(1, 1, 2));
    }
}

package dev.fgvcmobile.demo

import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Assert.assertSame
import org.junit.Test
import java.nio.ByteBuffer

class FrameConverterTest {
    /** A width x height RGBA frame whose pixel (x, y) is (x, y, 100 + x + 10 * y), rows padded to [rowStride]. */
    private fun frame(width: Int, height: Int, rowStride: Int = 4 * width): ByteBuffer {
        val b = ByteBuffer.allocateDirect(rowStride * height)
        for (y in 0 until height) for (x in 0 until width) {
            val o = y * rowStride + 4 * x
            b.put(o, x.toByte()); b.put(o + 1, y.toByte()); b.put(o + 2, (100 + x + 10 * y).toByte()); b.put(o + 3, 0xFF.toByte())
        }
        return b
    }

    /** The expected upright image, pixel (x, y) = the source pixel (sx, sy) that lands there. */
    private fun expected(w: Int, h: Int, source: (Int, Int) -> Pair<Int, Int>): ByteArray {
        val out = ByteArray(3 * w * h)
        for (y in 0 until h) for (x in 0 until w) {
            val (sx, sy) = source(x, y)
            out[3 * (y * w + x)] = sx.toByte(); out[3 * (y * w + x) + 1] = sy.toByte(); out[3 * (y * w + x) + 2] = (100 + sx + 10 * sy).toByte()
        }
        return out
    }

    @Test
    fun noRotationCopiesRgbAndSkipsRowPadding() {
        val img = FrameConverter().convert(frame(3, 2, rowStride = 16), 3, 2, 16, 0)
        assertEquals(3, img.width); assertEquals(2, img.height)
        assertArrayEquals(expected(3, 2) { x, y -> x to y }, img.rgb)
    }

    @Test
    fun rotationsAreClockwiseLikeMatrixPostRotate() {
        val w = 3
        val h = 2
        // 90° clockwise: the source's bottom-left pixel becomes the top-left one
        val r90 = FrameConverter().convert(frame(w, h), w, h, 4 * w, 90)
        assertEquals(h, r90.width); assertEquals(w, r90.height)
        assertArrayEquals(expected(h, w) { x, y -> y to (h - 1 - x) }, r90.rgb)
        val r180 = FrameConverter().convert(frame(w, h), w, h, 4 * w, 180)
        assertArrayEquals(expected(w, h) { x, y -> (w - 1 - x) to (h - 1 - y) }, r180.rgb)
        val r270 = FrameConverter().convert(frame(w, h), w, h, 4 * w, 270)
        assertEquals(h, r270.width); assertEquals(w, r270.height)
        assertArrayEquals(expected(h, w) { x, y -> (w - 1 - y) to x }, r270.rgb)
        // -90 is 270
        assertArrayEquals(r270.rgb, FrameConverter().convert(frame(w, h), w, h, 4 * w, -90).rgb)
    }

    @Test
    fun theBufferIsReusedAcrossFramesOfTheSameSize() {
        val converter = FrameConverter()
        val first = converter.convert(frame(4, 4), 4, 4, 16, 90)
        val buffer = first.rgb
        val second = converter.convert(frame(4, 4), 4, 4, 16, 90)
        assertSame(first, second)
        assertSame(buffer, second.rgb)
        val other = converter.convert(frame(2, 4), 2, 4, 8, 0)
        assertEquals(2, other.width)
    }

    @Test(expected = IllegalArgumentException::class)
    fun aShortPlaneIsRefusedNotReadPastItsEnd() {
        FrameConverter().convert(ByteBuffer.allocateDirect(10), 3, 2, 12, 0)
    }

    @Test(expected = IllegalArgumentException::class)
    fun aNonRightAngleIsRefused() {
        FrameConverter().convert(frame(2, 2), 2, 2, 8, 45)
    }
}

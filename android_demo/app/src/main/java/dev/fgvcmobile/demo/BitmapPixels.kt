package dev.fgvcmobile.demo

import android.graphics.Bitmap
import android.graphics.Matrix
import dev.fgvcmobile.core.RgbImage

/** Android Bitmap -> the JVM core's [RgbImage]; the only place that knows about Bitmap pixels. */
object BitmapPixels {

    /**
     * Straight ARGB pixels of [bitmap], upright after rotating by [rotationDegrees] (a multiple
     * of 90, as CameraX reports it; no filtering, so no pixel changes). Translucent pixels are
     * composited over white by the core, as Python's load_rgb does.
     */
    fun toRgbImage(bitmap: Bitmap, rotationDegrees: Int = 0): RgbImage {
        var bmp = if (bitmap.config == Bitmap.Config.ARGB_8888) bitmap else bitmap.copy(Bitmap.Config.ARGB_8888, false)
        if (rotationDegrees % 360 != 0) {
            require(rotationDegrees % 90 == 0) { "rotation must be a multiple of 90, got $rotationDegrees" }
            val m = Matrix().apply { postRotate(rotationDegrees.toFloat()) }
            bmp = Bitmap.createBitmap(bmp, 0, 0, bmp.width, bmp.height, m, false)
        }
        val argb = IntArray(bmp.width * bmp.height)
        bmp.getPixels(argb, 0, bmp.width, 0, 0, bmp.width, bmp.height) // non-premultiplied sRGB
        return RgbImage.fromArgb(argb, bmp.width, bmp.height)
    }

    /** A deterministic test card for benchmarks run before any photo was taken (content does not change latency). */
    fun syntheticImage(width: Int, height: Int): RgbImage {
        val rgb = ByteArray(3 * width * height)
        for (y in 0 until height) {
            for (x in 0 until width) {
                val o = 3 * (y * width + x)
                rgb[o] = (x * 255 / maxOf(1, width - 1)).toByte()
                rgb[o + 1] = (y * 255 / maxOf(1, height - 1)).toByte()
                rgb[o + 2] = ((x xor y) and 0xFF).toByte()
            }
        }
        return RgbImage(width, height, rgb)
    }
}

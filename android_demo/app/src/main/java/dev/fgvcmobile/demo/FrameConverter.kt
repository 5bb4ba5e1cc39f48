package dev.fgvcmobile.demo

import dev.fgvcmobile.core.RgbImage
import java.nio.ByteBuffer

/**
 * CameraX RGBA_8888 frames -> upright [RgbImage], reusing one pixel buffer across frames: the
 * analyzer allocates nothing per frame (no Bitmap, no rotated copy, no new array) as long as
 * the frame size and rotation stay the same. Not thread-safe: use it on the analyzer thread.
 *
 * The image it returns is overwritten by the next [convert]; copy it ([RgbImage.rgb].clone())
 * to keep it. Camera frames are opaque, so alpha is dropped.
 */
class FrameConverter {
    private var image: RgbImage? = null

    /**
     * [plane] holds [width] x [height] RGBA pixels, rows [rowStride] bytes apart, 4 bytes a
     * pixel (CameraX's OUTPUT_IMAGE_FORMAT_RGBA_8888 plane 0). The result is rotated clockwise
     * by [rotationDegrees] (0, 90, 180 or 270, as ImageInfo.getRotationDegrees reports it).
     */
    fun convert(plane: ByteBuffer, width: Int, height: Int, rowStride: Int, rotationDegrees: Int): RgbImage {
        require(width > 0 && height > 0) { "frame size must be positive, got ${width}x$height" }
        require(rowStride >= 4 * width) { "row stride $rowStride is less than 4 x width $width" }
        val rotation = ((rotationDegrees % 360) + 360) % 360
        require(rotation % 90 == 0) { "rotation must be a multiple of 90, got $rotationDegrees" }
        val needed = rowStride.toLong() * (height - 1) + 4L * width
        require(plane.limit() >= needed) { "plane has ${plane.limit()} bytes, a ${width}x$height frame needs $needed" }
        val quarterTurn = rotation == 90 || rotation == 270
        val outW = if (quarterTurn) height else width
        val outH = if (quarterTurn) width else height
        val out = image?.takeIf { it.width == outW && it.height == outH } ?: RgbImage(outW, outH, ByteArray(3 * outW * outH))
        image = out
        val rgb = out.rgb
        for (y in 0 until height) {
            // where source pixel (0, y) lands after rotating the frame clockwise, and how far
            // (in bytes of out) each step to the right in the source moves it
            val start: Int
            val step: Int
            when (rotation) {
                0 -> { start = 3 * (y * outW); step = 3 }
                90 -> { start = 3 * (height - 1 - y); step = 3 * outW }
                180 -> { start = 3 * ((height - 1 - y) * outW + width - 1); step = -3 }
                else -> { start = 3 * ((width - 1) * outW + y); step = -3 * outW }
            }
            var s = y * rowStride
            var o = start
            for (x in 0 until width) {
                rgb[o] = plane.get(s)
                rgb[o + 1] = plane.get(s + 1)
                rgb[o + 2] = plane.get(s + 2)
                s += 4
                o += step
            }
        }
        return out
    }
}
